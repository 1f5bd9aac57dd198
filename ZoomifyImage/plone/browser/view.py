"""The Classic UI pages of a Zoomify Image: the default view (the
OpenSeadragon viewer inside Plone's page, with the IIIF links and the
embed snippet of ../../viewer.py) and `embed`, the viewer alone for
other sites' iframes (the Zope class's www/embed.pt)."""

import os

from AccessControl.SecurityManagement import getSecurityManager
from plone.api.portal import get as get_portal
from plone.namedfile.scaling import ImageScaling
from Products.CMFCore.permissions import ModifyPortalContent
from Products.Five.browser import BrowserView
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile
from zope.component import getMultiAdapter

from ... import config
from ... import downloads
from ... import serving
from ... import viewer as pages
from ...listing import read_only
from ...serving import anonymous_may_view
from ...web_errors import NotFound

WWW = os.path.join(os.path.dirname(pages.__file__), "www")


def resource_url(name):
    # from the portal, so that all items share the browser's cache; a
    # path, never a host (pages.site_path)
    return "%s/%s/%s" % (pages.site_path(get_portal()).rstrip("/"),
                         pages.RESOURCE, name)


def viewer_html(item, element_id, css_class="zoomify-page-viewer"):
    """The viewer's div and the scripts that start it (static/
    zoomify-viewer.js reads window.zoomifyImageQueue), or ''."""
    if item.current_status() != "ready":
        return ""
    settings = {
        "id": element_id,
        "width": item.width,
        "height": item.height,
        "tileSize": item.tile_size,
        "tilesUrl": pages.tiles_url(item, path_only=True),
        "version": item.tiles_set(),
        "navigator": True,
        "prefixUrl": resource_url("openseadragon/images/"),
    }
    return (
        '<div id="%s" class="zoomify-viewer %s" style="width:100%%;'
        'height:%s" role="img" aria-label="%s"></div>\n'
        '<script>(window.zoomifyImageQueue=window.zoomifyImageQueue||[])'
        '.push(%s);</script>\n<script src="%s"></script>\n'
        '<script src="%s"></script>\n'
        % (element_id, css_class, "70vh" if css_class ==
           "zoomify-page-viewer" else "100%",
           pages.escape(item.title_or_id()), pages.script_json(settings),
           resource_url("openseadragon/openseadragon.min.js"),
           resource_url("zoomify-viewer.js")))


def progress_text(item):
    """The background job's progress, for the page the add and edit
    forms lead to (it refreshes itself until the viewer is there), or
    ''."""
    if item.current_status() not in ("queued", "tiling"):
        return ""
    done, total = item.progress() or (0, 0)
    if not total:
        return "Tiling in the background: waiting for a worker."
    return "Tiling in the background: %d %% (%d of %d tiles)" % (
        100 * done // total, done, total)


def page_headers(item, response):
    # the status changes while tiling; a page anonymous may not see
    # stays out of shared caches
    response.setHeader("Cache-Control",
                       serving.page_cache_control(anonymous_may_view(item)))


class ZoomifyImageView(BrowserView):
    """The default view."""

    def __call__(self):
        self.context.check_visible()
        page_headers(self.context, self.request.response)
        return self.index()

    def status(self):
        return self.context.current_status()

    def message(self):
        return pages.STATUS_TEXT.get(self.status(), "")

    def progress(self):
        return progress_text(self.context)

    def error(self):
        """The last tiling's reason, for those who may edit the item
        (never anonymous: it is the server's business), or ''."""
        error = self.context.tiling_error()
        if not error or not getSecurityManager().checkPermission(
                ModifyPortalContent, self.context):
            return ""
        return pages.without_server_paths(error)

    def viewer(self):
        return viewer_html(self.context, "zoomify-viewer")

    def share(self):
        if self.status() != "ready":
            return ""
        return pages.share_html(pages.site_path(self.context), resource_url)

    def size(self):
        item = self.context
        if self.status() == "ready" and item.width:
            return "%d x %d pixels" % (item.width, item.height)
        return ""

    def fullscreen_url(self):
        if self.status() != "ready":
            return ""
        return pages.site_path(self.context) + "/@@zoomify-fullscreen"

    def css_url(self):
        return resource_url("zoomify-viewer.css")

    def manifest_url(self):
        if self.status() != "ready":
            return ""
        return pages.site_path(self.context) + "/manifest.json"

    def download_url(self):
        if not getSecurityManager().checkPermission(
                downloads.DownloadOriginals, self.context):
            return ""
        return pages.site_path(self.context) + "/download"

    def rights(self):
        return getattr(self.context, "rights", "") or ""


class EmbedView(BrowserView):
    """The viewer alone, for another site's <iframe>."""

    template = ViewPageTemplateFile(os.path.join(WWW, "embed.pt"))

    def __call__(self):
        item = self.context
        item.check_visible()
        status = item.current_status()
        page_headers(item, self.request.response)
        # any site may frame it: plone.protect sends X-Frame-Options
        # SAMEORIGIN with every page, which frame-ancestors overrides in
        # browsers (CSP Level 2)
        self.request.response.setHeader(
            "Content-Security-Policy", "frame-ancestors *")
        return self.template(
            title=item.title_or_id(),
            status=status,
            message=pages.STATUS_TEXT.get(status, ""),
            viewer_html=viewer_html(item, "zoomify-embed", "zoomify-embed"),
            attribution=config.settings().iiif_required_statement,
            css_url=resource_url("zoomify-viewer.css"),
            manifest_url=(pages.site_path(item) + "/manifest.json"
                          if status == "ready" else ""),
            refresh=status in ("queued", "tiling"),
        )


class FullscreenView(BrowserView):
    """@@zoomify-fullscreen: the viewer filling the window, without
    Plone's chrome, under the title and a link back to the item."""

    template = ViewPageTemplateFile("fullscreen.pt")

    def __call__(self):
        read_only(self.request)
        item = self.context
        item.check_visible()
        status = item.current_status()
        page_headers(item, self.request.response)
        waiting = status in ("queued", "tiling")
        body = self.template(
            title=item.title_or_id(),
            back_url=pages.site_path(item),
            status=status,
            message=pages.STATUS_TEXT.get(status, ""),
            progress=progress_text(item),
            # (the class of the whole window's height)
            viewer_html=viewer_html(item, "zoomify-viewer",
                                    "zoomify-page-viewer zoomify-fill"),
            css_url=resource_url("zoomify-viewer.css"),
            refresh=waiting,
        )
        if self.request.get("REQUEST_METHOD") == "HEAD":
            response = self.request.response
            response.setHeader("Content-Type", "text/html; charset=utf-8")
            response.setHeader("Content-Length",
                               str(len(body.encode("utf-8"))))
            return b""
        return body


class Download(BrowserView):
    """ITEM/download: the original file, with Range (serving.py), as the
    Zope class's: "Download Zoomify originals" (the page's permission)
    and the item's View (its workflow) both."""

    def __call__(self):
        item = self.context
        downloads.check_view(item)
        item.check_visible()
        path = item.original_file()
        if path is None:
            raise NotFound("This image has no original file.")
        etag = '"zo-%s-%s"' % (serving.image_key(item.uid),
                               item.original_id or int(item.tiled_at))
        return serving.send_original(
            item, path, item.filename or item.getId(),
            item.original_content_type(), etag, item.tiled_at,
            self.request, self.request.response,
            public=downloads.anonymous_may_download_original(item))


class Images(ImageScaling):
    """ITEM/@@images: Plone's scales, made from the tiles (../scales.py),
    for whoever may view the item. The field itself (@@images/image,
    @@images/image.jpg) is the original's bytes: it is the download
    view, with its permission ("Download Zoomify originals")."""

    def publishTraverse(self, request, name):
        stack = request.get("TraversalRequestNameStack")
        scale_named = stack and stack[-1] not in self._ignored_stacks
        if not scale_named and "-" not in name:  # not a scale's uid
            return getMultiAdapter((self.context, request), name="download")
        return super().publishTraverse(request, name)
