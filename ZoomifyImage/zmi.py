"""The ZMI of a ZoomifyImage: its Edit tab (manage_main, manage_edit,
manage_upload, the facts it shows), its icon in a folder's listing, and
how a change is answered. The changes themselves are the image's
(content.py, edit())."""

import logging
from urllib.parse import quote

import transaction
from AccessControl.class_init import InitializeClass
from AccessControl.Permissions import change_images_and_files
from AccessControl.Permissions import view as View
from AccessControl.Permissions import view_management_screens
from AccessControl.SecurityInfo import ClassSecurityInfo
from App.special_dtml import DTMLFile
from OFS.SimpleItem import SimpleItem
from ZPublisher import zpublish

from . import config
from .csrf import POST
from .csrf import check_same_origin
from .downloads import may_download_original
from .pyramid import TilingError
from .rights import choices
from .rights import name_of as rights_name
from .serving import without_server_paths
from .web_errors import BadRequest

logger = logging.getLogger(__name__)


def shown(error):
    """The text of an error for a page or an answer: no path of the
    server in it (issue 23, L5); the whole text goes to the log."""
    text = str(error)
    text_shown = without_server_paths(text)
    if text_shown != text:
        logger.warning("%s", text)
    return text_shown


def size_text(size):
    """A size in bytes as Zope's folder listing writes it (binary units:
    ObjectManager.compute_size), so that one file has one size on every
    page (the uploader's bar too: zoomify-upload.js)."""
    if size < 1024:
        return "1 KiB"
    if size > 1048576:
        return "%.2f MiB" % (size / 1048576.0)
    return "%.0f KiB" % (size / 1024.0)


def check_viewer(viewer, flash_offered):
    """``viewer`` if the Edit tab may choose it, else ValueError."""
    if viewer not in config.VIEWERS:
        raise ValueError("unknown viewer %r" % (viewer,))
    if viewer == "flash" and not flash_offered:
        raise ValueError(
            "the Zoomify Flash viewer needs flash-viewer-url in "
            "<product-config zoomifyimage> (a ZoomifyViewer.swf that the "
            "site owns)")
    return viewer


def form_pairs(labels, values, languages):
    """The labelled pairs of the Edit tab's rows (lists, or one text
    where a client sent a field once without :list)."""
    def listed(value):
        return [value] if isinstance(value, str) else list(value or ())
    labels, values, languages = map(listed, (labels, values, languages))
    count = max(len(labels), len(values), len(languages))
    labels, values, languages = ((x + [""] * count)[:count] for x in (
        labels, values, languages))
    return list(zip(labels, values, languages))


def rights_options(current=""):
    """The rights a form offers ([{uri, name}]): first "" for the site's
    (iiif-rights), then rights.choices(), and ``current`` where it is
    another valid URI (the Edit tab keeps it)."""
    site = config.settings().iiif_rights
    options = [("", "The site's: %s" % (rights_name(site) or site)
                if site else "None (the site sets none)")]
    options += choices()
    if current and current not in dict(options):
        options.append((current, rights_name(current) or current))
    return [{"uri": uri, "name": name} for uri, name in options]


class EditTabMixin:
    """The Edit tab of ZoomifyImage (content.py)."""

    security = ClassSecurityInfo()

    manage_options = (
        {"label": "Edit", "action": "manage_main"},
        # in a window of its own: in the ZMI's frame the tabs were gone
        {"label": "View", "action": "view", "target": "_blank"},
    ) + SimpleItem.manage_options

    @property
    def zmi_icon(self):
        # the folder listing marks an image whose first tiling failed
        # (nothing of it is shown to visitors: check_visible)
        # and one still waiting for, or being cut into, tiles
        status = self.current_status()
        if status == "failed":
            return "fas fa-exclamation-triangle text-danger"
        if status in ("queued", "tiling"):
            return "fas fa-hourglass-half text-warning"
        return "fas fa-search-plus"

    manage_main = DTMLFile("www/editForm", globals())
    manage_main._setName("manage_main")
    security.declareProtected(view_management_screens, "manage_main")
    security.declareProtected(view_management_screens, "manage")
    manage = manage_main

    @security.protected(view_management_screens)
    @zpublish(False)
    def flash_offered(self):
        """The Edit tab offers the Flash viewer only where the site has
        one (flash-viewer-url)."""
        return bool(config.settings().flash_viewer_url)

    @security.protected(change_images_and_files)
    @zpublish(methods=POST)
    def manage_edit(self, title=None, storage=None, quality=None,
                    viewer=None, file=None, REQUEST=None,
                    preview_size=False):
        """Change title and settings; a new image file is tiled anew."""
        check_same_origin(REQUEST)
        savepoint = transaction.savepoint()
        try:
            changed = self.edit(title, storage, quality, viewer, file,
                                preview_size)
        except (TilingError, config.ConfigError, ValueError) as e:
            savepoint.rollback()
            return self._edit_tab_refuses(REQUEST, e)
        if REQUEST is not None:
            message = "Saved changes." if changed else "Nothing changed."
            return self._edit_tab_says(REQUEST, message)

    @security.protected(change_images_and_files)
    @zpublish(methods=POST)
    def manage_describe(self, summary="", creator="", date="", source="",
                        identifier="", attribution_label="", attribution="",
                        rights="", language="", metadata_label=(),
                        metadata_value=(), metadata_language=(),
                        REQUEST=None):
        """Change the description of the image (the Edit tab's
        "Description"): every field at once, nothing if one is bad."""
        check_same_origin(REQUEST)
        try:
            changed = self.describe(
                summary=summary, creator=creator, date=date, source=source,
                identifier=identifier, attribution_label=attribution_label,
                attribution=attribution, rights=rights, language=language,
                metadata=form_pairs(metadata_label, metadata_value,
                                    metadata_language))
        except ValueError as e:
            return self._edit_tab_refuses(REQUEST, e)
        if REQUEST is not None:
            message = "Saved the description." if changed else \
                "Nothing changed."
            return self._edit_tab_says(REQUEST, message)

    @security.protected(view_management_screens)
    @zpublish(False)
    def description_form(self):
        """What the Edit tab's "Description" shows: the values, the
        labelled pairs with empty rows to add more, the rights to choose
        from."""
        rows = [{"label": p.label, "value": p.value,
                 "language": p.language} for p in self.metadata]
        rows += [{"label": "", "value": "", "language": ""}] * 3
        statement = config.settings().iiif_required_statement
        return {"rights": rights_options(self.rights), "pairs": rows,
                "site_attribution": "the site's: " + statement
                if statement else ""}

    @security.protected(change_images_and_files)
    @zpublish(methods=POST)
    def manage_upload(self, file=None, REQUEST=None):
        """Replace the image with a new file and tile it."""
        return self.manage_edit(file=file, REQUEST=REQUEST)

    @security.protected(change_images_and_files)
    @zpublish(methods=POST)
    def manage_retile(self, REQUEST=None):
        """Cut the tiles again from the original (in the background for
        big images)."""
        check_same_origin(REQUEST)
        if not self.has_original():
            raise BadRequest("This image has no original file to tile.")
        try:
            self.retile()
        except TilingError as e:
            if REQUEST is not None:
                transaction.doom()
            return self._edit_tab_refuses(REQUEST, e)
        if REQUEST is not None:
            job = self.tiling_job()
            message = ("Retiling in the background." if job is not None
                       and job.status == "queued" else "Tiles cut again.")
            return self._edit_tab_says(REQUEST, message)

    @security.protected(View)
    @zpublish(False)
    def facts(self):
        """What the Edit tab shows."""
        job = self.tiling_job()
        return {
            "size": "%d x %d pixels" % (self.width, self.height)
            if self.width else "-",
            "megapixels": "%.1f" % (self.width * self.height / 1e6),
            "tiers": self.tiers,
            "tiles": self.num_tiles,
            "tiles_size": size_text(self.tiles_bytes),
            "storage": self.storage,
            "quality": self.effective_quality(),
            "status": self.current_status(),
            "progress": self.progress_text(),
            "job_error": without_server_paths(
                job.error if job is not None and job.status == "failed"
                else ""),
            "job_warning": without_server_paths(
                job.warning if job is not None else ""),
            "error": without_server_paths(self.error),
            "filename": self.filename,
            # the Edit tab links the original for those who may have it
            "may_download": self.has_original() and
            may_download_original(self),
            "original_size": size_text(self.original_size),
            "seconds": "%.1f" % self.tiling_seconds,
            "engine": self.engine_used,
        }

    def _edit_tab_says(self, REQUEST, message):
        """Answer a change with a redirect to the Edit tab (303: the
        browser GETs it), never with a page at the POST's URL: the tab
        reloads itself while a job runs, and a reload of a POST-only URL
        is a 404 (or a form sent again)."""
        REQUEST.RESPONSE.redirect(
            "%s/manage_main?manage_tabs_message=%s"
            % (self.absolute_url(), quote(message)), status=303)
        return ""

    def _edit_tab_refuses(self, REQUEST, error):
        """Answer a refused change: the Edit tab with the error (400), or
        BadRequest to a Python caller."""
        if REQUEST is None:
            raise BadRequest(shown(error))
        REQUEST.RESPONSE.setStatus(400)
        return self.manage_main(self, REQUEST, error_message=shown(error))


InitializeClass(EditTabMixin)
