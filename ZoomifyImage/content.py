"""The ZoomifyImage content class: an original image in a blob, and its
Zoomify tiles in a tile store. It orchestrates; it never touches pixels."""

import os
import re
import time
import unicodedata
import uuid

import transaction
from AccessControl.class_init import InitializeClass
from AccessControl.Permissions import delete_objects
from AccessControl.Permissions import view as View
from AccessControl.SecurityInfo import ClassSecurityInfo
from App.special_dtml import DTMLFile
from OFS.SimpleItem import SimpleItem
from zope.event import notify
from zope.interface import implementer
from zope.lifecycleevent import ObjectModifiedEvent
from ZPublisher import zpublish

from . import access
from . import config
from . import description as descriptions
from . import downloads
from . import events
from . import jobs
from . import originals
from . import reserved_ids
from . import resolution
from . import serving
from . import tiling
from . import viewer as pages
from .conflicts import NEW_LIFE
from .conflicts import merge_states
from .csrf import POST
from .csrf import check_same_origin
from .downloads import DOWNLOAD_ROLES
from .downloads import DownloadOriginals
from .interfaces import IZoomifyImage
from .jobs import records as job_state
from .originals import PendingUpload
from .originals import has_file
from .originals import new_original
from .pyramid import TilingError
from .serving import anonymous_may_view
from .serving import tile_set_of
from .stores import make_store
from .traversal import traverse
from .viewer import ViewerMixin
from .web_errors import AnyBadRequest
from .web_errors import BadRequest
from .zmi import EditTabMixin
from .zmi import check_viewer
from .zmi import rights_options
from .zmi import shown

AddZoomifyImages = "Add Zoomify Images"
MANY_WITHOUT_SCRIPT = ("Without JavaScript the form adds one file at a "
                       "time: choose one file, or turn JavaScript on to "
                       "add several at once.")

# the description an image may be given as it is added (add form, upload
# metadata); the rest on its Edit tab
ADD_DESCRIPTION = ("summary", "creator", "date", "rights")

manage_addZoomifyImageForm = DTMLFile("www/addForm", globals(),
                                      rights_options=rights_options)
# the ZMI's add menu links to the form by this name
manage_addZoomifyImageForm._setName("manage_addZoomifyImageForm")


@zpublish(methods=POST)
def manage_addZoomifyImage(self, id="", file=None, title="", storage="",
                           quality="", REQUEST=None, summary="", creator="",
                           date="", rights=""):
    """Add a ZoomifyImage from an uploaded image file and tile it, with
    the description given (ADD_DESCRIPTION; empty: none, the site's
    rights)."""
    check_same_origin(REQUEST)
    if REQUEST is not None:
        # not into a folder that hides its contents from the user: the
        # same path as the uploader's (access.py)
        access.reach(self.this(), ())
    if isinstance(file, (list, tuple)):
        # the form's file input takes several; its script sends them one
        # by one (static/zoomify-upload.js), the plain form only one
        if len(file) > 1:
            return _add_failed(self.this(), REQUEST, MANY_WITHOUT_SCRIPT)
        file = file[0] if file else None
    try:
        description = added_description(summary=summary, creator=creator,
                                        date=date, rights=rights)
    except ValueError as e:
        return _add_failed(self.this(), REQUEST, str(e))
    return add_image(self.this(), file, id, title, storage, quality,
                     REQUEST=REQUEST, description=description)


def added_description(**values):
    """The checked description of ADD_DESCRIPTION's ``values`` (the empty
    ones left out), or ValueError naming the field."""
    return descriptions.check({name: str(values[name]) for name in
                               ADD_DESCRIPTION if values.get(name)})


def add_image(container, file, id="", title="", storage="", quality="",
              background=None, progress=None, REQUEST=None,
              description=None):
    """What the add form does, for Python callers too (zoomify-import):
    ``background`` True or False says where the image is tiled (None:
    by its size), ``progress(done, total)`` follows tiling here;
    ``description``: checked values (description.check) the image has
    from the start."""
    try:
        given = has_file(file)
    except ValueError as e:
        return _add_failed(container, REQUEST, str(e))
    if not given:
        return _add_failed(container, REQUEST,
                           "Choose an image file to upload.")
    id, title = str(id), str(title)
    if not id and getattr(file, "filename", None):
        id, title = default_id(file.filename), title or file.filename
    savepoint = transaction.savepoint()
    try:
        reserved_ids.check(container, id)
        image = ZoomifyImage(id, title, storage=storage or None,
                             quality=quality or None)
        image._set_original(file, container._p_jar)
        for name, value in (description or {}).items():
            setattr(image, name, value)
        # the added event tiles it (events.py), as asked here
        image._v_tiling = (background, progress)
        container._setObject(id, image)
    except (TilingError, config.ConfigError, ValueError) as e:
        savepoint.rollback()
        return _add_failed(container, REQUEST, str(e))
    except AnyBadRequest as e:  # a bad or taken id (Zope's checkValidId)
        savepoint.rollback()
        return _add_failed(container, REQUEST, str(e))
    if REQUEST is not None:
        REQUEST.RESPONSE.redirect(container.absolute_url() + "/manage_main")
    return id


def default_id(filename):
    """The id of an image added without one: its file's name without the
    folders and the extension (the image is a viewer page, an HTML page:
    at /photo.jpg, with the IIIF service at /photo.jpg/iiif, it looked
    like the file), or the whole name where no stem is left; made a
    valid, plain URL name (safe_id)."""
    name = filename[max(filename.rfind("/"), filename.rfind("\\"),
                        filename.rfind(":")) + 1:]
    stem, dot, extension = name.rpartition(".")
    return safe_id(stem if dot and stem else name)


def safe_id(text):
    """``text`` as an id Zope takes and a URL shows as it is: letters with
    accents lose them (Château -> Chateau), every run of other characters
    than ASCII letters, digits and . _ ~ - becomes one "-" (spaces too:
    "my photo" is my-photo, as Plone makes it), no "_" or "." or "-" at
    either end (Zope refuses a leading "_" and a trailing "__"), and
    "image" where nothing is left. Case is kept: photo12000 stays."""
    plain = unicodedata.normalize("NFKD", str(text)).encode(
        "ascii", "ignore").decode("ascii")
    id = re.sub(r"[^A-Za-z0-9._~-]+", "-", plain).strip("-._~")
    if id.startswith("aq_"):  # Zope reserves it for acquisition
        id = "aq-" + id[3:]
    return id or "image"


def _add_failed(container, REQUEST, message):
    message = shown(message)
    if REQUEST is None:
        raise BadRequest(message)
    REQUEST.RESPONSE.setStatus(400)
    form = manage_addZoomifyImageForm.__of__(container)
    return form(container, REQUEST, error_message=message)


def check_title(title):
    """The title, or ValueError: Zope 6.3's manage_page_header.dtml writes
    title_or_id into every ZMI page's <title> unescaped (a Folder's title
    too), so a title with markup would be script in the Edit tab of the
    manager who opens it. Until Zope escapes it (to be reported upstream,
    zopefoundation/Zope), markup is refused here, for every way a title
    comes in: add form, Edit tab, upload metadata, import."""
    title = str(title or "")
    if "<" in title or ">" in title:
        raise ValueError("A title cannot contain < or >.")
    return title


def check_storage(storage):
    """The kind of tile store, or ValueError."""
    if storage not in config.STORAGES:
        raise ValueError("unknown tile storage %r (zodb, filesystem or s3)"
                         % (storage,))
    if storage == "s3" and not config.settings().s3_bucket:
        raise ValueError("the S3 tile storage is not set up on this site "
                         "(s3-bucket)")
    return storage


def check_quality(quality):
    """A JPEG quality 1-100 (None: the site's), or ValueError."""
    if quality in (None, ""):
        return None
    try:
        value = int(quality)
    except (TypeError, ValueError):
        raise ValueError("JPEG quality must be a number from 1 to 100, "
                         "not %r" % (quality,))
    if not 1 <= value <= 100:
        raise ValueError("JPEG quality must be from 1 to 100, not %d"
                         % value)
    return value


@zpublish
@implementer(IZoomifyImage)
class ZoomifyImage(ViewerMixin, EditTabMixin, SimpleItem):
    """A high-resolution image served as Zoomify deep-zoom tiles."""

    meta_type = "Zoomify Image"

    security = ClassSecurityInfo()
    security.declareObjectProtected(View)
    # who sees every tier of an image with a preview size (resolution.py)
    security.setPermissionDefault(resolution.FULL_RESOLUTION,
                                  resolution.FULL_RESOLUTION_ROLES)
    # registered with Zope here (InitializeClass): not given with View
    security.setPermissionDefault(DownloadOriginals, DOWNLOAD_ROLES)

    # facts of the image and its tiles
    width = height = 0
    tiers = num_tiles = 0
    tile_size = 256
    tiles_bytes = 0
    filename = ""
    content_type = ""
    original_size = 0
    original_id = ""
    status = "empty"       # empty, ready, failed
    error = ""
    tiled_at = 0.0
    tiles_version = 0
    tiling_seconds = 0.0
    engine_used = ""
    viewer = "openseadragon"
    # the description (IDescriptiveMetadata): '' where not given
    summary = creator = date = source = identifier = ""
    attribution_label = attribution = rights = language = ""
    metadata = ()
    preview_size = None    # None: the site's preview-size (resolution.py)

    _original = None
    _pending_upload = None   # a complete upload's id: its job takes it
    _store = None
    _tiling_needed = False
    _job = None
    _next_store = None

    def __init__(self, id, title="", storage=None, quality=None):
        self.id = id
        self.title = check_title(title)
        self.uid = uuid.uuid4().hex
        self.storage = check_storage(storage or config.settings().storage)
        self.quality = check_quality(quality)

    # ------------------------------------------------------------ settings

    @zpublish(False)
    def title_or_id(self):
        """The title, or the id; never markup, even for a title stored
        before titles were checked (see check_title)."""
        return _no_markup(self.title or self.getId())

    @zpublish(False)
    def title_and_id(self):
        """The title and the id, never markup (see check_title)."""
        return _no_markup(SimpleItem.title_and_id(self))

    @security.protected(View)
    @zpublish(False)
    def effective_quality(self):
        return self.quality or config.settings().quality

    # ------------------------------------------------------------ original

    def _set_original(self, file, jar=None):
        """A new original file (an upload, an open file or bytes): ask for
        new tiles. ``jar``: the connection that will store it (of the
        folder, for a new image). A PendingUpload stays where it is until
        the background job takes it (take_pending_original)."""
        if self._pending_upload is not None:
            # a file before this one that its job has not taken yet
            transaction.get().addAfterCommitHook(
                originals.remove_taken,
                args=(originals.pending_path(self._pending_upload),))
        if isinstance(file, PendingUpload):
            original = originals.Original(
                None, file.filename, os.fstat(file.fileno()).st_size,
                originals.content_type_of(file.filename))
            self._pending_upload = file.upload_id
        else:
            original = new_original(file, jar or self._p_jar)
            self._pending_upload = None
        self._original = original.blob
        self.filename = original.filename
        self.original_size = original.size
        self.content_type = original.content_type
        self.original_id = uuid.uuid4().hex[:16]  # the download's ETag
        self._tiling_needed = True

    def _original_path(self):
        if self._pending_upload is not None:
            return originals.pending_path(self._pending_upload)
        return originals.open_path(self._original)

    @security.private
    def take_pending_original(self):
        """(ITileable) The upload's file becomes the original, in the
        job's transaction (a link where the blob directory allows, else a
        copy, in the background); its file goes once that commits."""
        upload_id = self._pending_upload
        if upload_id is None:
            return False
        path = originals.pending_path(upload_id)
        try:
            file = originals.UploadOnDisc(path, self.filename)
        except OSError:
            raise TilingError(self.filename or self.getId(), "the uploaded "
                              "file is gone from the upload directory "
                              "before it was stored; add it again")
        with file:
            original = new_original(file, self._p_jar)
        self._original = original.blob
        self._pending_upload = None
        transaction.get().addAfterCommitHook(originals.remove_taken,
                                             args=(path,))
        return True

    # -------------------------------------------------------------- tiling

    @security.private
    def tile_if_needed(self, background=None, progress=None):
        """Tile now (in this transaction) or queue a background job for
        after the commit: images over `background-megapixels` go to a
        worker so that a request never waits minutes (``background``
        True or False decides instead)."""
        if not self._tiling_needed:
            return
        if self._pending_upload is not None:
            # its file is stored by the job: refused now if its header
            # says so, tiled in the background in any case
            self._is_big()
            background = True
        elif background is None:
            background = self._is_big()
        if background:
            self._tiling_needed = False
            jobs.new_job(self)
        else:
            self._make_tiles(progress)

    def _is_big(self):
        """Whether to tile in a worker (tiling.is_big). Raises the
        TilingError of an image over the limits, so that it is refused
        at once rather than queued to fail."""
        return tiling.is_big(tiling.plan(
            self._original_path(), self.filename or self.id, self.tile_size))

    def _original_size_pixels(self):
        """Pixels of the original, read from its header only."""
        return tiling.pixels(self._original_path(), self.filename or self.id)

    def _make_tiles(self, progress=None):
        """Cut the original into a new tile set and swap it in, in the
        transaction of the request.

        Raises TilingError; the caller's transaction then aborts, so the
        previous tiles and original stay as they were.
        """
        store = self._target_store()
        writer = store.writer()
        try:
            result = self.cut_tiles(writer, progress)
        except BaseException:
            writer.abort()  # whatever failed, no partial set is left
            raise
        self._install(store, result)

    # -------- the tiling API of jobs/ (interfaces.ITileable says each)

    @security.private
    def tiling_job(self):
        return self._job

    @security.private
    def queue_tiling(self, job):
        self._job = job

    @security.private
    def forget_tiling_job(self):
        self._job = None
        self._tiling_needed = self._original is not None

    @security.private
    def cancel_tiling(self):
        self._job_deleted = True  # in the record: an Undo takes it back

    @security.private
    def tiling_cancelled(self):
        return getattr(self, "_job_deleted", False)

    @security.private
    def start_tiling(self):
        return self._target_store().writer()

    @security.private
    def cut_tiles(self, sink, progress=None):
        return tiling.cut_original(self, sink, progress)

    @security.private
    def install_tiles(self, writer, result):
        writer.finish()
        self._install(writer.store, result)

    @security.private
    def tiling_failed(self, message):
        if self.status != "ready":  # no previous set to keep serving
            self.status = "failed"
        self.error = message

    def _target_store(self):
        store = self._store
        if store is None or store.kind != self.storage:
            store = make_store(self.storage, self.uid)
            # reachable from the start, so that savepoints and commits
            # write the new tiles out while the current set is served
            self._next_store = store
        return store

    def _install(self, store, result):
        tiling.note_result(self, result)
        self._serve(store)
        self._tiling_needed = False
        events.tiles_installed(self)  # IIIF Change Discovery

    def _serve(self, store):
        # the set of ``store`` is served from now on; the old one goes
        old = self._store
        if old is not None and old is not store:
            old.clear()
        self._store, self._next_store = store, None
        self._tiles_changed()

    @security.private
    def tiling_error(self):
        return job_state.last_error(self)

    @security.private
    def has_original(self):
        return self._original is not None

    # the status pages show (IZoomifyImage): jobs/records.py, viewer.py

    @security.protected(View)
    @zpublish(False)
    def current_status(self):
        """empty, queued, tiling, ready or failed, as a visitor sees it."""
        return job_state.seen_status(self)

    @security.protected(View)
    @zpublish(False)
    def progress(self):
        """(done, total) of the running job, or None."""
        return job_state.job_progress(self)

    @security.private
    def check_visible(self):
        pages.check_visible(self)

    @security.private
    def progress_text(self):
        return pages.progress_text(self)

    @security.private
    def retile(self):
        """Cut the tiles again (zmi.py: manage_retile)."""
        self._tiling_needed = True
        self.tile_if_needed()

    def _p_resolveConflict(self, old, committed, new):
        return merge_states(old, committed, new, generation=NEW_LIFE)

    def _tiles_changed(self):
        self.status = "ready"
        self.error = ""
        self.tiled_at = time.time()
        self.tiles_version += 1

    def _move_tiles(self, storage):
        """Move the served set (edit() says it is ready) to another kind
        of store, without decoding it again."""
        old = self._store
        new = self._next_store = make_store(storage, self.uid)
        if old is not None:
            new.copy_from(old)
        self.storage = storage
        self._serve(new)

    @security.private
    def copied(self):
        """This object is a fresh copy: give it its own id and tile set."""
        self._v_own_uid = True  # for added(), later in this request
        if self._pending_upload is not None:
            # the original's file is the other image's to take
            self._pending_upload = None
            self.status = "failed"
            self.error = ("copied before its uploaded file was stored: "
                          "copy the image again once it is ready")
        self._take_own_tiles()

    @security.private
    def added(self):
        """Added to a container: tile a new image. An object that already
        has a database record and was not just copied comes from a .zexp
        import: it still carries the stable id of the image it was
        exported from, whose tile directory it must not share."""
        if self._p_jar is not None and not getattr(self, "_v_own_uid",
                                                   False):
            self._take_own_tiles()
        background, progress = getattr(self, "_v_tiling", (None, None))
        self._v_tiling = (None, None)
        self.tile_if_needed(background, progress)

    def _take_own_tiles(self):
        old = self._store
        self.uid = uuid.uuid4().hex
        if old is None:
            return
        new = old.for_copy(self.uid)
        if new is None:
            # the set stayed behind (another site's tile root): cut the
            # tiles anew from the original that came along
            self._store = None
            self.status = "empty"
            self._tiling_needed = self._original is not None
            return
        self._store = new
        self._tiles_changed()

    @security.private
    def removed(self):
        if self._store is not None:
            self._store.release()
        if self._pending_upload is not None:
            # nothing will take its uploaded file now
            transaction.get().addAfterCommitHook(
                originals.remove_taken,
                args=(originals.pending_path(self._pending_upload),))

    # ------------------------------------- editing (the Edit tab: zmi.py)

    @security.private
    def edit(self, title=None, storage=None, quality=None, viewer=None,
             file=None, preview_size=False):
        """Change title and settings (a new file is tiled anew): True if
        anything changed."""
        changed = False
        if title is not None and title != self.title:
            self.title = check_title(title)
            changed = True
        if quality is not None:
            quality = check_quality(quality)
            if quality != self.quality:
                self.quality = quality
                # new JPEGs at the new quality
                self._tiling_needed = self._original is not None
                changed = True
        if viewer and check_viewer(viewer, self.flash_offered()) \
                != self.viewer:
            self.viewer = viewer
            changed = True
        if preview_size is not False:  # "": the site's preview size
            preview_size = config.check_preview_size(preview_size)
            if preview_size != self.preview_size:
                self.preview_size = preview_size
                changed = True
        if has_file(file):
            self._set_original(file)
            changed = True
        if storage and storage != self.storage:
            check_storage(storage)
            if job_state.active_job(self) is not None:
                # the running job writes into the other kind of store: a
                # new job tiles into this one (and the old one's set is
                # not installed, as after a new file)
                self.storage = storage
                self._tiling_needed = self._original is not None
            elif self._tiling_needed or self.status != "ready":
                self.storage = storage  # the new tiles go there directly
            else:
                self._move_tiles(storage)
            changed = True
        if changed:
            # events.py retiles when a new file (or quality) asks for it
            notify(ObjectModifiedEvent(self))
        return changed

    # ------------------------------ the description (IDescriptiveMetadata)

    @security.protected(View)
    @zpublish(False)
    def descriptive_metadata(self):
        """The image's descriptive metadata, with the site's rights and
        attribution where it sets none."""
        settings = config.settings()
        values = {name: getattr(self, name) for name in descriptions.FIELDS}
        values["rights"] = self.rights or settings.iiif_rights
        values["attribution"] = self.attribution or \
            settings.iiif_required_statement
        return descriptions.Description(title=self.title_or_id(), **values)

    @security.private
    def describe(self, **values):
        """Check every value given, then set them (IDescriptiveMetadata);
        a title among them goes through check_title."""
        title = values.pop("title", None)
        checked = descriptions.check(values)
        if title is not None:
            checked["title"] = check_title(title)
        changed = {name: value for name, value in checked.items()
                   if getattr(self, name) != value}
        for name, value in changed.items():
            setattr(self, name, value)
        if changed:
            notify(ObjectModifiedEvent(self))
        return bool(changed)

    @security.protected(delete_objects)
    @zpublish(methods="DELETE")
    def DELETE(self, REQUEST, RESPONSE):
        """Delete the image (WebDAV): by the DELETE method only, and not
        from another site's page (an image tag must not delete it)."""
        check_same_origin(REQUEST)
        return SimpleItem.DELETE(self, REQUEST, RESPONSE)

    # ------------------------------------------------------------ viewing
    # the viewer pages (index_html, view, tag, flash_tag) are in viewer.py

    @security.protected(View)
    @zpublish(False)
    def tiles_url(self, path_only=False):
        """The URL of the tile set's folder (viewer.tiles_url)."""
        return pages.tiles_url(self, path_only)

    @security.protected(View)
    @zpublish(False)
    def tiles_set(self):
        """The id of the tile set being served: the ETag and the viewer's
        ?v= change with it (and only with it)."""
        store = self._store
        set_id = getattr(store, "set_id", None)
        return set_id or "v%d" % self.tiles_version

    @security.protected(View)
    @zpublish(False)
    def get_size(self):
        return self.original_size

    @security.protected(View)
    @zpublish(False)
    def getContentType(self):
        return self.content_type

    @security.protected(DownloadOriginals)
    @zpublish(methods=("GET", "HEAD"))
    def download(self, REQUEST=None, RESPONSE=None):
        """The original image file (with HTTP Range support)."""
        # the publisher checks this method's permission only: the image's
        # own View must hold too (a site may give Download to all)
        downloads.check_view(self)
        return serving.download(
            self, REQUEST, RESPONSE,
            public=downloads.anonymous_may_download_original(self))

    @security.private
    def original_file(self):
        return originals.committed_path(self._original)

    # -------------------------------------------------------- tile serving

    def __bobo_traverse__(self, REQUEST, name):
        return traverse(self, REQUEST, name)

    @security.private
    def tile_set(self):
        """The set served now (interfaces.IDeepZoomImage)."""
        ready = self.status == "ready" and self.width
        return tile_set_of(
            serving.image_key(self.uid), self.tiles_set(), self._store,
            self.tiled_at, anonymous_may_view(self),
            (self.width, self.height, self.tile_size) if ready else None,
            resolution.limit_of(self))


InitializeClass(ZoomifyImage)


def _no_markup(text):
    # look-alike angle quotes: readable, never a tag
    return str(text).replace("<", "\u2039").replace(">", "\u203a")
