"""Viewer pages of a ZoomifyImage: the OpenSeadragon deep-zoom page
(IMAGE and IMAGE/view), the viewer alone for other sites' iframes
(IMAGE/embed), the IIIF URLs and embed snippet to copy (share_html),
embed snippets for templates (tag), the legacy Zoomify Flash
markup (flash_tag) and the status the pages follow (status_json).

OpenSeadragon and our start-up script are browser resources
(++resource++zoomifyimage/..., see configure.zcml): a page never loads
anything from another site.

Phantom edge tiles: OpenSeadragon 6.x halves Zoomify tiers with floor but
counts a level's tiles with ceil(W / 2^k / 256), so for sizes like 513x513
or 2049x1025 it asks for tiles that a correct Zoomify set does not have.
Our script (static/zoomify-viewer.js) gives the tile source the floor grid,
so our pages ask only for tiles that exist. The server still answers 404
to such a request from a stock OpenSeadragon elsewhere: see the comment in
serving.py (is_tile).

The pages use only the image's declared face (interfaces.IZoomifyImage).
"""

import json
import re
import uuid
from html import escape
from urllib.parse import quote
from urllib.parse import urlsplit

from AccessControl.class_init import InitializeClass
from AccessControl.Permissions import change_images_and_files
from AccessControl.Permissions import view as View
from AccessControl.SecurityInfo import ClassSecurityInfo
from AccessControl.SecurityManagement import getSecurityManager
from Products.PageTemplates.PageTemplateFile import PageTemplateFile
from ZPublisher import zpublish

from . import config
from . import downloads
from . import resolution
from .description import DEFAULT_ATTRIBUTION_LABEL
from .description import json_ld
from .jobs.records import active_job
from .serving import anonymous_may_view
from .serving import page_cache_control
from .serving import without_server_paths
from .web_errors import NotFound

RESOURCE = "++resource++zoomifyimage"
FLASH_CLASSID = "clsid:D27CDB6E-AE6D-11cf-96B8-444553540000"

# CSS lengths we put into a style attribute: a number (pixels) or a number
# with a unit; nothing else, so that an argument cannot add CSS
_CSS_LENGTH = re.compile(r"^\d+(\.\d+)?(px|%|em|rem|vh|vw|dvh|svh)?$")
# width/height attributes of <object>: pixels or a percentage
_HTML_LENGTH = re.compile(r"^\d+%?$")
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")

# The snippet's script: queue this viewer's settings and load OpenSeadragon
# and our start-up script once per page, however many viewers it has.
_LOADER = (
    "(function(c){var q=window.zoomifyImageQueue=window.zoomifyImageQueue"
    "||[];q.push(c);if(!q.loading){q.loading=true;c.scripts.forEach("
    "function(u){var s=document.createElement('script');s.src=u;"
    "s.async=false;document.head.appendChild(s);});}})(%s);")

STATUS_TEXT = {
    "empty": "This image has no tiles yet.",
    "queued": "This image is waiting to be cut into tiles.",
    "tiling": "This image is being cut into tiles.",
    "failed": "This image could not be cut into tiles.",
}


NO_PREVIEW = "Only those who may see this image at full resolution see it."


def script_json(value):
    """JSON that is safe inside an HTML <script> element (and attribute):
    no character of it can end the script or start markup."""
    text = json.dumps(value, ensure_ascii=False)
    for char, code in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                       ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, code)
    return text


def css_length(value, default):
    if value in (None, ""):
        return default
    text = str(value).strip()
    if not _CSS_LENGTH.match(text):
        raise ValueError("not a CSS length: %r" % (value,))
    return text + "px" if text[-1].isdigit() else text


def html_length(value, default):
    if value in (None, ""):
        return default
    text = str(value).strip()
    if text.endswith("px"):
        text = text[:-2]
    if not _HTML_LENGTH.match(text):
        raise ValueError("not a width or height: %r" % (value,))
    return text


def _element_id(id):
    if id in (None, ""):
        return "zoomify-" + uuid.uuid4().hex[:12]
    if not _ID.match(str(id)):
        raise ValueError("not an HTML id: %r" % (id,))
    return str(id)


def site_path(obj):
    """The path of ``obj`` as the browser sees it, for URLs in our pages.

    Never a host: a client may send /VirtualHostBase/http/evil.example:80/
    and Zope's absolute_url() then names that host, which would load our
    scripts from it (issue 23, H1). A path with a leading '//' (made by
    _vh_ segments) would be a host too: it gets one slash."""
    return "/" + obj.absolute_url_path().lstrip("/")


def tiles_url(image, path_only=False):
    """The URL of the tile set's folder (IZoomifyImage.tiles_url), ending
    with a slash; it names the set, so that no cache mixes two sets:
    IMAGE/v/SET/ from Zope, or tile-url of the product config where a
    front-end serves the filesystem store's tile root, with the store's
    layout (stores/filesystem.py: uid[:2]/uid/SET/), or s3-tile-url
    where the bucket (or a CDN) serves the S3 store's sets, likewise."""
    tiles = image.tile_set()
    store = tiles.store
    front = None
    # the front-end checks no permission: private tiles come from Zope
    if store is not None and tiles.public:
        if store.kind == "s3":
            base = config.settings().s3_tile_url
            front = store.public_path() if base else None
        else:
            base = config.settings().tile_url
            front = store.front_end_path() if base else None
    # the front-end checks no permission, nor a preview size
    if front is not None and tiles.public and (
            not tiles.limit or resolution.anonymous_full(image)):
        return "%s/%s/" % (base.rstrip("/"), front)
    # our own pages take the path only (site_path: issue 23, H1)
    here = site_path(image) if path_only else image.absolute_url()
    return "%s/v/%s/" % (here, tiles.set_id)


def check_visible(image):
    """An image whose first tiling failed has nothing to show: to anyone
    who may not change it, it is not there (404: no page, no download of
    the broken file); the manager sees why on the Edit tab and the viewer
    page. (Tiles, IIIF and the manifest answer 404 to all while there is
    no tile set; status_json says "failed" and nothing more, for a page
    that waited for the job.)"""
    if image.current_status() == "failed" and not getSecurityManager() \
            .checkPermission(change_images_and_files, image):
        raise NotFound("There is no image here.")


def progress_text(image):
    """The running job's progress for a page (IZoomifyImage), or ''."""
    job = active_job(image)
    if job is None:
        return ""
    text = job.progress_text()
    return ("%s: %s" % (job.status, text)) if text else job.status


def _safe_swf_url(url):
    """Only http(s) or site-relative URLs: never javascript: and friends."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("", "http", "https"):
        raise ValueError("the Flash viewer URL must be http(s) or relative, "
                         "not %r" % (url,))
    return url


def about_of(description):
    """What the viewer page's "About this image" shows (viewer.pt): the
    summary, the labelled pairs, the rights by name and the required
    statement; None when the image has nothing but its title."""
    d = description
    pairs = [{"label": pair.label, "value": pair.value,
              "lang": pair.language or None} for pair in d.listed()]
    if not (d.summary or pairs or d.rights or d.attribution):
        return None
    return {
        "lang": d.language or None,
        "summary": d.summary,
        "pairs": pairs,
        "rights": d.rights,
        "rights_name": d.rights_name,
        "attribution_label": d.attribution_label or
        DEFAULT_ATTRIBUTION_LABEL,
        "attribution": d.attribution,
    }


def share_html(path, resource_url):
    """The markup of ViewerMixin.share_html for the image at ``path``."""
    manifest = path + "/manifest.json"
    fields = (
        ("manifest", "IIIF manifest", "input", manifest),
        ("info", "IIIF image (info.json)", "input", path + "/iiif/info.json"),
        ("embed", "Embed in a page", "textarea",
         '<iframe src="%s/embed" width="800" height="600" '
         'style="max-width:100%%;border:0" allowfullscreen></iframe>' % path),
    )
    rows = []
    for name, label, tag, value in fields:
        id = "zoomify-share-" + name
        if tag == "input":
            field = ('<input type="text" id="%s" readonly="readonly" '
                     'value="%s" data-zoomify-path="%s" />'
                     % (id, escape(value), escape(path)))
        else:
            field = ('<textarea id="%s" readonly="readonly" rows="3" '
                     'data-zoomify-path="%s">%s</textarea>'
                     % (id, escape(path), escape(value)))
        rows.append(
            '<div class="zoomify-share-row"><label for="%s">%s</label>%s'
            '<button type="button" data-zoomify-copy="%s">Copy'
            '<span class="zoomify-hidden"> %s</span></button></div>'
            % (id, label, field, id, label))
    drag = "%s?manifest=%s" % (manifest, quote(manifest, safe="/"))
    return (
        '<div class="zoomify-share" id="zoomify-share">\n%s\n'
        '<p><a id="zoomify-iiif-drag" href="%s" data-zoomify-path="%s">'
        '<img src="%s" width="30" height="26" alt="IIIF" /> Drag this '
        'link into a IIIF viewer (Mirador, Universal Viewer)</a></p>\n'
        '<p class="zoomify-copied" role="status" aria-live="polite"></p>\n'
        '</div>\n<script src="%s" defer></script>\n'
        % ("\n".join(rows), escape(drag), escape(path),
           escape(resource_url("iiif-logo.svg")),
           escape(resource_url("zoomify-links.js"))))


class ViewerMixin:
    """Viewer pages and embed markup for ZoomifyImage (content.py)."""

    security = ClassSecurityInfo()

    _viewer_page = PageTemplateFile("www/viewer.pt", globals())
    _embed_page = PageTemplateFile("www/embed.pt", globals())

    @security.protected(View)
    @zpublish
    def index_html(self, REQUEST=None, RESPONSE=None):
        """The viewer page."""
        return self._render_viewer_page(REQUEST, RESPONSE)

    @security.protected(View)
    @zpublish(methods=("GET", "HEAD", "POST"))
    def view(self, REQUEST=None, RESPONSE=None):
        """The viewer page."""
        return self._render_viewer_page(REQUEST, RESPONSE)

    @security.protected(View)
    @zpublish(methods=("GET", "HEAD"))
    def embed(self, REQUEST=None, RESPONSE=None):
        """The viewer alone, for another site's <iframe>: no title bar,
        no download link; the attribution when the site sets one. It
        sends no X-Frame-Options: it is meant to be framed."""
        self.check_visible()
        status = self.current_status()
        self._page_headers(RESPONSE)
        body = self._embed_page(
            title=self.title_or_id(),
            status=status,
            message=STATUS_TEXT.get(status, ""),
            viewer_html=self._viewer_html(status),
            attribution=self.descriptive_metadata().attribution,
            css_url=self._resource_url("zoomify-viewer.css"),
            manifest_url=(site_path(self) + "/manifest.json"
                          if status == "ready" else ""),
            refresh=status in ("queued", "tiling"),
        )
        if REQUEST is not None and REQUEST.get("REQUEST_METHOD") == "HEAD":
            return self._head_of(body, RESPONSE)
        return body

    @security.protected(View)
    @zpublish(False)
    def share_html(self):
        """The IIIF URLs and the embed snippet, each with a copy button,
        and the IIIF drag-and-drop link: for the viewer page and the Edit
        tab. Paths only (site_path: issue 23, H1): our script
        (static/zoomify-links.js) makes them absolute with the address
        the browser shows, never with a host the request claims."""
        if self.current_status() != "ready":
            return ""
        return share_html(site_path(self), self._resource_url)

    @security.protected(View)
    @zpublish(methods="HEAD")
    def HEAD(self, REQUEST, RESPONSE):
        """The viewer page's headers (not WebDAV's, of the original)."""
        return self._head_of(self._render_viewer_page(REQUEST, RESPONSE),
                             RESPONSE)

    def _head_of(self, body, RESPONSE):
        RESPONSE.setHeader("Content-Type", "text/html; charset=utf-8")
        RESPONSE.setHeader("Content-Length",
                           str(len(body.encode("utf-8"))))
        return b""

    @security.protected(View)
    @zpublish(methods=("GET", "HEAD"))
    def status_json(self, REQUEST=None, RESPONSE=None):
        """{"status", "done", "total"} for pages that follow a job."""
        progress = self.progress() or (0, 0)
        if RESPONSE is not None:
            RESPONSE.setHeader("Content-Type", "application/json")
            RESPONSE.setHeader("Cache-Control", "no-store")
        return json.dumps({"status": self.current_status(),
                           "done": progress[0], "total": progress[1],
                           "tiles_version": self.tiles_version})

    def _render_viewer_page(self, REQUEST, RESPONSE):
        self.check_visible()  # a failed first tiling: 404 to visitors
        status = self.current_status()
        # what this visitor may download: the original, a JPEG, nothing
        offered = downloads.offer(self, site_path(self)) or ("", "")
        self._page_headers(RESPONSE, downloads.differs_for_anonymous(self))
        # the viewer (role img, the title its name) is described by the
        # summary under it, for screen readers
        viewer_html = self._viewer_html(
            status, "zoomify-summary" if self.descriptive_metadata().summary
            else None)
        seen = resolution.may_see(self)
        size = ""
        if status == "ready" and self.width:
            size = "%d x %d pixels" % (self.width, self.height)
            if not seen.full and seen.cut is not None:
                size = "preview %d x %d of %s" % (seen.cut.width,
                                                  seen.cut.height, size)
        progress = self.progress_text() if status in (
            "queued", "tiling") else ""
        return self._viewer_page(
            title=self.title_or_id(),
            status=status,
            message=STATUS_TEXT.get(status, ""),
            progress=progress,
            error=self._error_for_manager(),
            viewer_html=viewer_html,
            size=size,
            login_url=self._login_url(seen),
            download_url=offered[0],
            download_text=offered[1],
            css_url=self._resource_url("zoomify-viewer.css"),
            refresh=status in ("queued", "tiling"),
            manifest_url=(site_path(self) + "/manifest.json"
                          if status == "ready" else ""),
            share_html=self.share_html(),
            about=about_of(self.descriptive_metadata()),
            json_ld=self._json_ld(status),
        )

    def _json_ld(self, status):
        """schema.org JSON-LD of the image, for its <script> element."""
        ready = status == "ready" and self.width
        here = site_path(self)
        return script_json(json_ld(
            self.descriptive_metadata(), here,
            self.tiles_url(path_only=True) + "TileGroup0/0-0-0.jpg"
            if ready else None,
            here + "/manifest.json" if ready else None,
            self.width if ready else None, self.height if ready else None))
    def _login_url(self, seen):
        """Where one who sees a preview logs in for full resolution (the
        IIIF access service, back to this page), or ''."""
        if seen.full or self.current_status() != "ready":
            return ""
        user = getSecurityManager().getUser()
        if user is not None and user.getUserName() != "Anonymous User":
            return ""  # logged in already: a login would not change it
        root = site_path(self.getPhysicalRoot()).rstrip("/")
        return "%s/@@zoomify-iiif-login?came_from=%s" % (
            root, quote(site_path(self), safe="/"))

    def _page_headers(self, RESPONSE, personal=False):
        if RESPONSE is None:
            return
        # the publisher would put <base href="URL/"> into the page
        # (IMAGE without a slash), with the host of a client's
        # VirtualHostBase; our URLs are paths of their own (H1)
        RESPONSE.setBase(None)
        # the status changes while tiling: always ask again; a page
        # that anonymous may not see stays out of shared caches
        # (``personal``: the page offers this user more than anonymous)
        RESPONSE.setHeader("Cache-Control", page_cache_control(
            anonymous_may_view(self) and not resolution.limit_of(self) and
            not personal))

    def _viewer_html(self, status, described_by=None):
        if status != "ready":
            return ""
        if self.viewer == "flash" and config.settings().flash_viewer_url:
            return self.flash_tag(css_class="zoomify-page-viewer",
                                  width="100%", height="100%")
        return self.tag(css_class="zoomify-page-viewer",
                        width="100%", height="100%",
                        described_by=described_by)

    def _error_for_manager(self):
        """The last tiling error, for those who may retile; '' otherwise."""
        error = self.tiling_error()
        if not error:
            return ""
        if not getSecurityManager().checkPermission(
                change_images_and_files, self):
            return ""
        return without_server_paths(error)  # the log has the whole text

    def _resource_url(self, name):
        # from the site root, so that all images share the browser's cache
        return "%s/%s/%s" % (site_path(self.getPhysicalRoot()).rstrip("/"),
                             RESOURCE, name)

    # --------------------------------------------------------- embedding

    @security.protected(View)
    @zpublish(False)
    def tag(self, width=None, height=None, css_class=None, id=None,
            navigator=True, described_by=None):
        """HTML for an OpenSeadragon viewer of this image to put into any
        page: a container div and a script. Several on one page work.

        width, height: CSS lengths (a number means pixels; default 100%
        by 500px); css_class: more classes for the div; id: the div's id
        (default: a new unique one); described_by: the id of an element
        of the page that describes the image (aria-describedby).
        """
        style = "width:%s;height:%s" % (css_length(width, "100%"),
                                        css_length(height, "500px"))
        classes = "zoomify-viewer" + (" " + str(css_class)
                                      if css_class else "")
        if self.current_status() != "ready":
            return ('<div class="%s zoomify-not-ready" style="%s">'
                    '<p>%s</p></div>'
                    % (escape(classes), style, escape(
                        STATUS_TEXT.get(self.current_status(), ""))))
        seen = resolution.may_see(self)
        width, height = self.width, self.height
        if not seen.full:
            # the pyramid cut at the preview size: the same tile names
            if seen.cut is None:
                return ('<div class="%s zoomify-not-ready" style="%s">'
                        '<p>%s</p></div>' % (escape(classes), style,
                                             escape(NO_PREVIEW)))
            width, height = seen.cut.width, seen.cut.height
        element_id = _element_id(id)
        settings = {
            "id": element_id,
            "width": width,
            "height": height,
            "tileSize": self.tile_size,
            "tilesUrl": self.tiles_url(path_only=True),  # names the set
            # for a zoomify-viewer.js from before tilesUrl named the set,
            # still in browsers' caches: it adds ?v=version (the same set)
            "version": self.tiles_set(),
            "navigator": bool(navigator),
            "prefixUrl": self._resource_url("openseadragon/images/"),
            "scripts": [
                self._resource_url("openseadragon/openseadragon.min.js"),
                self._resource_url("zoomify-viewer.js")],
        }
        if self.viewer == "iiif":
            # OpenSeadragon reads the IIIF service's info.json instead
            settings["iiif"] = "%s/%s/info.json?v=%s" % (
                site_path(self), "iiif" if seen.full else "iiif-preview",
                self.tiles_set())
        described = (' aria-describedby="%s"' % _element_id(described_by)
                     if described_by else "")
        return ('<div id="%s" class="%s" style="%s" role="img" '
                'aria-label="%s"%s></div>\n<script>%s</script>\n'
                % (element_id, escape(classes), style,
                   escape(self.title_or_id()), described,
                   _LOADER % script_json(settings)))

    @security.protected(View)
    @zpublish(False)
    def flash_tag(self, swf_url=None, width=None, height=None,
                  css_class=None, id=None, **flashvars):
        """The classic Zoomify Flash viewer markup (<object> with an inner
        <embed>) for sites that still own a ZoomifyViewer.swf.

        swf_url: the viewer's URL (default: flash-viewer-url of
        <product-config zoomifyimage>); width, height: pixels or a
        percentage; more FlashVars by keyword (zoomifyX=0.5, zoomifyZoom=50,
        zoomifyToolbar=1, zoomifyNavWindow=0, ...). Without a viewer URL
        it gives the OpenSeadragon viewer of tag().
        """
        swf_url = swf_url or config.settings().flash_viewer_url
        if not swf_url:
            # visitors get a viewer, never an instruction for the admin
            return self.tag(width=width, height=height or "600",
                            css_class=css_class, id=id)
        swf_url = _safe_swf_url(str(swf_url))
        width = html_length(width, "100%")
        height = html_length(height, "600")
        element_id = _element_id(id)
        pairs = [("zoomifyImagePath", self.tiles_url(path_only=True))]
        for name in sorted(flashvars):
            if not name.startswith("zoomify"):
                raise TypeError("unknown argument %r" % (name,))
            pairs.append((name, quote(str(flashvars[name]), safe="")))
        vars = escape("&".join("%s=%s" % pair for pair in pairs))
        swf = escape(swf_url)
        css = (' class="%s"' % escape(str(css_class))) if css_class else ""
        return (
            '<object classid="%(classid)s" width="%(w)s" height="%(h)s" '
            'id="%(id)s"%(css)s>\n'
            '  <param name="FlashVars" value="%(vars)s" />\n'
            '  <param name="SRC" value="%(swf)s" />\n'
            '  <param name="movie" value="%(swf)s" />\n'
            '  <param name="MENU" value="FALSE" />\n'
            '  <embed flashvars="%(vars)s" src="%(swf)s" menu="false" '
            'type="application/x-shockwave-flash" width="%(w)s" '
            'height="%(h)s" name="%(id)s"></embed>\n'
            '</object>\n'
            % {"classid": FLASH_CLASSID, "w": width, "h": height,
               "id": element_id, "css": css, "vars": vars, "swf": swf})


InitializeClass(ViewerMixin)
