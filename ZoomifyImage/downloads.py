"""What a visitor may download of an image, and the reduced download.

The original file (IMAGE/download) takes a permission of its own,
``Download Zoomify originals`` (Manager and Owner by default, not given
with View): who may zoom into a master need not be able to take it away.
Who may view but not download the original gets the site's
``public-download`` (config.py) at IMAGE/download.jpg: the largest stored
tier up to a size, or a IIIF size, made from the tiles by the IIIF
renderer (never the original's bytes), or nothing. Where the image has
a preview size (resolution.py), who may not see full resolution gets it
from the pyramid cut at his preview: the public download never shows
more than the viewer does.
"""

import hashlib
import os

from AccessControl import Unauthorized
from AccessControl.class_init import InitializeClass
from AccessControl.PermissionRole import rolesForPermissionOn
from AccessControl.Permissions import view as View
from AccessControl.SecurityInfo import ClassSecurityInfo
from AccessControl.SecurityManagement import getSecurityManager
from Acquisition import Implicit
from Acquisition import aq_parent
from zope.datetime import rfc1123_date
from ZPublisher import zpublish
from ZPublisher.HTTPResponse import make_content_disposition

from . import config
from . import resolution
from .iiif_pixels import render
from .iiif_pixels import spooled
from .iiif_request import IIIFError
from .iiif_request import max_size
from .iiif_request import parse
from .serving import allow_other_sites
from .serving import anonymous_may_view
from .serving import cache_control
from .serving import not_modified
from .web_errors import MethodNotAllowed
from .web_errors import NotFound

DownloadOriginals = "Download Zoomify originals"
DOWNLOAD_ROLES = ("Manager", "Owner")
REDUCED_NAME = "download.jpg"
# the renderer's budget, as for a IIIF request (iiif.DECODE_FACTOR)
DECODE_FACTOR = 2

# what a download link calls a file, by its media type
_KINDS = {"image/jpeg": "JPEG", "image/tiff": "TIFF", "image/png": "PNG",
          "image/webp": "WebP", "image/avif": "AVIF", "image/heic": "HEIC",
          "image/heif": "HEIF", "image/jp2": "JPEG 2000",
          "image/vnd.adobe.photoshop": "PSD", "image/gif": "GIF",
          "image/bmp": "BMP"}


def may_download_original(image):
    """True if the current user may download the original of ``image``."""
    return bool(getSecurityManager().checkPermission(DownloadOriginals,
                                                     image))


def anonymous_may_download_original(image):
    """True if a visitor who is not logged in may download it (then it
    may be cached publicly)."""
    return anonymous_may_view(image) and "Anonymous" in \
        rolesForPermissionOn(DownloadOriginals, image)


def check_view(image):
    """Unauthorized unless the current user may view ``image``."""
    if not getSecurityManager().checkPermission(View, image):
        raise Unauthorized("You may not view this image.")


def reduced_size(layout, setting=None, area=None):
    """(width, height) of the reduced download of a set with ``layout``
    under the ``public-download`` setting, or None (no reduced download)."""
    setting = setting or config.settings().public_download
    area = area or config.settings().iiif_max_area
    kind, value = setting
    if kind == "none" or layout is None:
        return None
    if kind == "tier":
        return largest_tier(layout, value, area)
    return _iiif_request(layout, value, area).size


def largest_tier(layout, limit, area):
    """(width, height) of the largest stored tier whose long side is at
    most ``limit`` pixels (the tiers of resolution.cut_layout, as a
    preview size counts them) and whose area is within ``area``
    (maxArea): its pixels are the tiles' own, nothing is resampled. A
    limit below the smallest tier gives the smallest tier."""
    cut = resolution.cut_layout(layout, limit)
    below = layout.tiers[:cut.num_tiers] if cut is not None else []
    fitting = [(w, h) for w, h in below
               if w and h and max_size(w, h, area) == (w, h)]
    return fitting[-1] if fitting else \
        next((w, h) for w, h in layout.tiers if w and h)


def _iiif_request(layout, size, area):
    try:
        return parse(("full", size, "0", "default.jpg"), layout.width,
                     layout.height, area)
    except IIIFError:
        # a size above maxArea for this image: the largest within it
        return parse(("full", "max", "0", "default.jpg"), layout.width,
                     layout.height, area)


def file_kind(image):
    """The original's kind for a link ("TIFF"), from its media type or
    its file name's extension."""
    kind = _KINDS.get((image.content_type or "").split(";")[0].strip())
    if kind:
        return kind
    extension = os.path.splitext(image.filename or "")[1][1:]
    return extension.upper()[:8] if extension.isalnum() else "file"


def size_words(size):
    """Bytes as a person reads them on a link: 2.1 GB, 350 KB (SI units,
    as browsers' download lists show them)."""
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= factor:
            value = size / factor
            return ("%.1f %s" % (value, unit)) if value < 100 else \
                "%d %s" % (value, unit)
    return "%d bytes" % size


def offer(image, path):
    """The download link of the viewer page for the current user: (URL,
    text), or None. ``path``: the image's path (viewer.site_path)."""
    if image.has_original() and may_download_original(image):
        return (path + "/download", "Download original (%s %s)"
                % (size_words(image.get_size()), file_kind(image)))
    size = reduced_size(seen_layout(image, image.tile_set()))
    if size is None:
        return None
    return (path + "/" + REDUCED_NAME, "Download %d x %d JPEG" % size)


def seen_layout(image, tiles, seen=None):
    """The layout of the pyramid the current user sees: the whole, or
    cut at his preview size (resolution.py), or None."""
    if seen is None:
        seen = resolution.sight(image, tiles)
    return tiles.layout if seen.full else seen.cut


def differs_for_anonymous(image):
    """True when the current user's download link is not anonymous's:
    the page must then stay out of shared caches."""
    return image.has_original() and may_download_original(image) and \
        not anonymous_may_download_original(image)


def _file_name(image, size):
    stem = os.path.splitext(image.filename or "")[0] or image.getId()
    stem = "".join(c for c in stem if c not in '"\\' and c.isprintable())
    return "%s-%dx%d.jpg" % (stem or "image", size[0], size[1])


@zpublish
class ReducedDownload(Implicit):
    """IMAGE/download.jpg: the public download (the View permission of
    the image, acquired through the wrapper)."""

    security = ClassSecurityInfo()
    security.declareObjectProtected(View)

    index_html = None  # not the image's, by acquisition

    def _image(self):
        return aq_parent(self)

    @security.protected(View)
    @zpublish(methods=("GET", "HEAD"))
    def __call__(self, REQUEST=None, RESPONSE=None):
        """The reduced download, a JPEG made from the tiles."""
        if RESPONSE is None:
            return self
        return send_reduced(self._image(), REQUEST, RESPONSE)

    @security.protected(View)
    @zpublish
    def HEAD(self, REQUEST=None, RESPONSE=None):
        """Headers only."""
        return send_reduced(self._image(), REQUEST, RESPONSE)

    def _not_allowed(self, REQUEST=None, RESPONSE=None):
        """Read only: GET and HEAD."""
        refused = MethodNotAllowed("GET or HEAD only.")
        refused.setHeader("Allow", "GET, HEAD")
        raise refused


for _verb in ("POST", "OPTIONS", "PUT", "DELETE", "PATCH", "TRACE",
              "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK",
              "UNLOCK"):
    setattr(ReducedDownload, _verb, zpublish(ReducedDownload._not_allowed))
    setattr(ReducedDownload, _verb + "__roles__", None)

InitializeClass(ReducedDownload)


def send_reduced(image, REQUEST, RESPONSE):
    """The reduced download of ``image``: 404 when the site offers none,
    or the image has no tiles."""
    image.check_visible()
    tiles = image.tile_set()
    try:
        seen = resolution.sight(image, tiles, REQUEST)
    except resolution.Refused as error:  # a token not honoured
        return resolution.refuse(RESPONSE, error)
    layout = seen_layout(image, tiles, seen)
    size = reduced_size(layout)
    if size is None or tiles.store is None:
        raise NotFound("There is no download of this image.")
    area = config.settings().iiif_max_area
    request = parse(("full", "%d,%d" % size, "0", "default.jpg"),
                    layout.width, layout.height, area)
    digest = hashlib.sha1(("%d,%d" % size).encode()).hexdigest()[:8]
    etag = tiles.etag[:-1] + "-d" + digest + '"'
    RESPONSE.setHeader("ETag", etag)
    RESPONSE.setHeader("Last-Modified", rfc1123_date(tiles.tiled_at or 0))
    # with a preview size, what it holds depends on the user
    public = tiles.public and not seen.limited
    RESPONSE.setHeader("Cache-Control", cache_control(image, public=public))
    if seen.limited:
        RESPONSE.setHeader("Vary", "Authorization, Cookie")
    allow_other_sites(image, RESPONSE, public)
    RESPONSE.setHeader("Content-Disposition", make_content_disposition(
        "attachment", _file_name(image, size)))
    if not_modified(REQUEST, etag, tiles.tiled_at):
        RESPONSE.setStatus(304)
        return b""
    try:
        # nothing above the sight can be read (resolution.guarded)
        data = render(layout, resolution.guarded(seen, tiles.store.get),
                      request,
                      image.effective_quality(), DECODE_FACTOR * area,
                      tiles.etag, client=REQUEST.getClientAddr())
    except IIIFError as error:  # 429: too many at once from one client
        RESPONSE.setStatus(error.status)
        if error.status in (429, 503):
            RESPONSE.setHeader("Retry-After", str(error.retry_after))
        RESPONSE.setHeader("Content-Type", "text/plain; charset=utf-8")
        RESPONSE.setHeader("Cache-Control", "no-store")
        return error.message + "\n"
    RESPONSE.setHeader("Content-Type", "image/jpeg")
    RESPONSE.setHeader("Content-Length", str(len(data)))
    return b"" if REQUEST.get("REQUEST_METHOD") == "HEAD" else spooled(data)
