"""IIIF for a ZoomifyImage, answered from its stored tiles:

    IMAGE/iiif                       -> redirect to IMAGE/iiif/info.json
    IMAGE/iiif/info.json             Image API 3.0, level 2
    IMAGE/iiif/{region}/{size}/{rotation}/{quality}.{format}
    IMAGE/manifest.json              Presentation API 3 manifest
    IMAGE/iiif/probe                 IIIF Auth 2.0 probe (iiif_auth.py)
    IMAGE/iiif-preview/...           the preview service (resolution.py)
    IMAGE/about.json                 schema.org description (seeAlso)

The View permission of the image guards all of it: the published objects
acquire it from the image, and nothing is read or checked before the
publisher has let the request in (a private image answers 401 to
anonymous whatever the rest of the path). Parsing is in iiif_request.py,
pixels in iiif_pixels.py. The image is known only by its face
(interfaces.IDeepZoomImage): its tile_set(), taken once per request.
"""

import functools
import hashlib
import json

from AccessControl.class_init import InitializeClass
from AccessControl.Permissions import view as View
from AccessControl.SecurityInfo import ClassSecurityInfo
from Acquisition import Implicit
from Acquisition import aq_parent
from zope.datetime import rfc1123_date
from zope.interface import implementer
from zope.publisher.interfaces.browser import IBrowserPublisher
from ZPublisher import zpublish

from . import config
from . import iiif_auth
from . import resolution
from .description import Description
from .description import json_ld
from .description import manifest_properties
from .iiif_pixels import render
from .iiif_pixels import spooled
from .iiif_pixels import tier_read
from .iiif_request import FORMATS
from .iiif_request import MAX_SIDE
from .iiif_request import IIIFError
from .iiif_request import max_size
from .iiif_request import parse
from .interfaces import IDescriptiveMetadata
from .serving import allow_other_sites
from .serving import anonymous_may_view
from .serving import cache_control
from .serving import json_media_type
from .serving import not_modified
from .serving import remaining_names
from .serving import send_document
from .serving import take_remaining_names

IMAGE_CONTEXT = "http://iiif.io/api/image/3/context.json"
PRESENTATION_CONTEXT = "http://iiif.io/api/presentation/3/context.json"
PROFILE_URI = "http://iiif.io/api/image/3/level2.json"
# what we do beyond level 2 (info.json's extra* properties)
EXTRA_FORMATS = ["webp"]
EXTRA_QUALITIES = ["color", "gray", "bitonal"]
EXTRA_FEATURES = ["canonicalLinkHeader", "mirroring", "profileLinkHeader",
                  "sizeUpscaling"]
ALLOWED_METHODS = "GET, HEAD, OPTIONS"
# a request decodes at most this many times maxArea pixels (a coarser tier
# where the finer one's window is bigger; iiif_pixels.compose)
DECODE_FACTOR = 2


# the manifest's properties in the order a reader expects them
ORDER = ("@context", "id", "type", "label", "summary", "metadata",
         "requiredStatement", "rights", "navDate", "provider", "homepage",
         "seeAlso", "thumbnail", "items")


def smallest(layout):
    """(width, height) of the smallest tier: one stored tile."""
    return next((w, h) for w, h in layout.tiers if w and h)


def about(image, layout, url):
    """The schema.org description of the image (IMAGE/about.json, a
    dict): the viewer page's JSON-LD, with full URLs."""
    return json_ld(describe(image), url,
                   "%s/iiif/full/%d,%d/0/default.jpg"
                   % ((url,) + smallest(layout)),
                   url + "/manifest.json", layout.width, layout.height)


def describe(image):
    """The image's description.Description: its own (an
    IDescriptiveMetadata), else its label and the site's rights."""
    if IDescriptiveMetadata.providedBy(image):
        return image.descriptive_metadata()
    settings = config.settings()
    return Description(title=image.title_or_id(),
                       rights=settings.iiif_rights,
                       attribution=settings.iiif_required_statement)


def provider():
    """(URL, name) of the site's iiif-provider, or None."""
    setting = config.settings().iiif_provider
    return tuple(setting.split(" ", 1)) if setting else None


def max_area():
    return config.settings().iiif_max_area


# ------------------------------------------------------------ documents

def image_info(image, layout, base, area, preview=False):
    """The info.json document (a dict); ``preview``: of the preview
    service, no larger than its layout (resolution.py)."""
    # the tiers as they are stored, within the limits
    sizes = [{"width": w, "height": h} for w, h in layout.tiers
             if w and h and max_size(w, h, area) == (w, h)]
    info = {
        "@context": IMAGE_CONTEXT,
        "id": base,
        "type": "ImageService3",
        "protocol": "http://iiif.io/api/image",
        "profile": "level2",
        "width": layout.width,
        "height": layout.height,
        "maxArea": area,
        "maxWidth": MAX_SIDE,
        "maxHeight": MAX_SIDE,
        "sizes": sizes,
        "tiles": [{"width": layout.tile_size, "height": layout.tile_size,
                   "scaleFactors": [1 << k for k in range(layout.num_tiers)]}],
        "extraFormats": EXTRA_FORMATS,
        "extraQualities": EXTRA_QUALITIES,
        "extraFeatures": EXTRA_FEATURES,
    }
    if preview:
        # the preview's pixels are all there is: nothing above them
        info["maxWidth"], info["maxHeight"] = layout.width, layout.height
        info["extraFeatures"] = [f for f in EXTRA_FEATURES
                                 if f != "sizeUpscaling"]
    rights = describe(image).rights
    if rights:
        info["rights"] = rights
    return info


def manifest(image, layout, url, area):
    """A Presentation 3 manifest with one canvas painted by the image
    service (a dict, built by hand: see docs/iiif.txt)."""
    service = url + "/iiif"
    canvas = url + "/canvas/1"
    props = manifest_properties(describe(image), url, provider())
    label = props["label"]
    width, height = max_size(layout.width, layout.height, area)
    small = smallest(layout)

    def picture(w, h, size):
        return {"id": "%s/full/%s/0/default.jpg" % (service, size),
                "type": "Image", "format": "image/jpeg",
                "width": w, "height": h,
                "service": [{"id": service, "type": "ImageService3",
                             "profile": "level2"}]}

    doc = {
        "@context": PRESENTATION_CONTEXT,
        "id": url + "/manifest.json",
        "type": "Manifest",
        "label": label,
        "thumbnail": [picture(small[0], small[1], "%d,%d" % small)],
        "items": [{
            "id": canvas,
            "type": "Canvas",
            "label": label,
            "width": layout.width,
            "height": layout.height,
            "items": [{
                "id": canvas + "/page",
                "type": "AnnotationPage",
                "items": [{
                    "id": canvas + "/page/image",
                    "type": "Annotation",
                    "motivation": "painting",
                    "body": picture(width, height, "max"),
                    "target": canvas,
                }],
            }],
        }],
    }
    doc.update(props)
    doc["seeAlso"] = [{"id": url + "/about.json", "type": "Dataset",
                       "label": {"en": ["schema.org description"]},
                       "format": "application/ld+json",
                       "profile": "https://schema.org/"}]
    # the order of IIIF's examples: descriptive properties first (any
    # other property after them, never dropped)
    ordered = {name: doc[name] for name in ORDER if name in doc}
    ordered.update(doc)
    return ordered


# ------------------------------------------------------------------ HTTP

# the one rule for every answer of an image (serving.py): tiles too
_cors = allow_other_sites


def _tiles(image):
    """The image's tile set, when it has one to describe."""
    tiles = image.tile_set()
    if tiles.layout is None:
        if image.current_status() in ("queued", "tiling"):
            raise IIIFError(503, "this image is being cut into tiles")
        raise IIIFError(404, "this image has no tiles")
    return tiles


def _error(image, error, RESPONSE):
    _cors(image, RESPONSE)
    RESPONSE.setStatus(error.status)
    if error.status == 401:
        RESPONSE.setHeader("WWW-Authenticate", 'Bearer realm="zoomify"')
    if error.status in (429, 503):
        RESPONSE.setHeader("Retry-After", str(error.retry_after))
    if error.status == 405:
        RESPONSE.setHeader("Allow", ALLOWED_METHODS)
    RESPONSE.setHeader("Content-Type", "text/plain; charset=utf-8")
    RESPONSE.setHeader("Cache-Control", "no-store")
    return error.message + "\n"


def _preflight(image, RESPONSE):
    """The answer to a CORS preflight (OPTIONS)."""
    _cors(image, RESPONSE)
    if anonymous_may_view(image):
        RESPONSE.setHeader("Access-Control-Allow-Methods", ALLOWED_METHODS)
        # Authorization: an Auth 2.0 client on another site sends its
        # token (a bearer, bound to its origin: no cookie or Basic
        # credentials go with "*", so nothing else is opened)
        RESPONSE.setHeader("Access-Control-Allow-Headers",
                           "Accept, Authorization, If-None-Match, "
                           "If-Modified-Since")
        RESPONSE.setHeader("Access-Control-Max-Age", "86400")
    RESPONSE.setHeader("Allow", ALLOWED_METHODS)
    RESPONSE.setStatus(204)
    return b""


def _method(image, REQUEST, RESPONSE):
    """OPTIONS and methods other than GET and HEAD are answered here (the
    answer), GET and HEAD by the caller (None)."""
    method = REQUEST.get("REQUEST_METHOD", "GET")
    if method == "OPTIONS":
        return _preflight(image, RESPONSE)
    if method not in ("GET", "HEAD"):
        return _error(image, IIIFError(405, "%s is not allowed here (%s)"
                                       % (method, ALLOWED_METHODS)),
                      RESPONSE)
    return None


def _send_json(image, tiles, doc, context, REQUEST, RESPONSE,
               extra_headers=()):
    """A JSON-LD document with the tiles' caching rules, except that it is
    never immutable (it also changes with the title, the settings and the
    URL it is asked by): its ETag names its bytes and media type."""
    body = json.dumps(doc, indent=2).encode("utf-8")
    content_type = json_media_type(REQUEST, context) if context \
        else "application/ld+json"
    digest = hashlib.sha1(content_type.encode() + body).hexdigest()[:12]
    etag = tiles.etag[:-1] + "-" + digest + '"'
    modified = max(tiles.tiled_at, getattr(image, "_p_mtime", 0) or 0)
    _cors(image, RESPONSE, tiles.public)
    for name, value in extra_headers:
        RESPONSE.setHeader(name, value)
    RESPONSE.setHeader("Vary", "Accept")
    RESPONSE.setHeader("ETag", etag)
    RESPONSE.setHeader("Last-Modified", rfc1123_date(modified or 0))
    RESPONSE.setHeader("Cache-Control",
                       cache_control(image, public=tiles.public))
    return send_document(REQUEST, RESPONSE, body, content_type, etag,
                         modified)


# a viewer asks the same tile URLs of every image of the same size: the
# parsed request (immutable) is kept; a bad one raises again each time
_parsed = functools.lru_cache(maxsize=4096)(parse)
_http_date = functools.lru_cache(maxsize=64)(rfc1123_date)


def _take_image_request(REQUEST):
    """The four segments of an image request when they are all that is
    left of the URL, taken off the publisher's stack and added to its URL
    as its own loop does; otherwise (). See IIIFService's
    __before_publishing_traverse__."""
    names = remaining_names(REQUEST)
    if len(names) != 4 or "index_html" in names:
        return ()
    return take_remaining_names(REQUEST)


class _Published(Implicit):
    """Guarded by the View permission of the image, acquired through the
    wrapper (each subclass declares it, as InitializeClass reads a
    class's own security). Every HTTP method is published as index_html,
    which answers those it does not serve (Zope's own traversal would
    look for an attribute named after the method, and fail with a 500)."""

    def _image(self):
        return aq_parent(self)

    def browserDefault(self, request):
        return self, ("index_html",)


@zpublish
@implementer(IBrowserPublisher)
class IIIFService(_Published):
    """IMAGE/iiif and every path below it: the path's segments are
    collected here and read only when the request is published (so that
    security comes first). It traverses by itself: IIIF segments are
    never attributes, and may start with characters Zope's default
    traversal refuses."""

    security = ClassSecurityInfo()
    security.declareObjectProtected(View)

    base = None  # this service's URL, when known from the request
    preview = False  # IMAGE/iiif-preview: the pyramid cut at its size
    name = "iiif"

    def __init__(self, segments=()):
        self.segments = segments

    def __before_publishing_traverse__(self, object, request):
        # the publisher calls this on IMAGE/iiif (a new object for each
        # request) before it traverses further: an image request's four
        # segments become this object's at once, one traversal step
        # instead of four: traversal was most of what a stored tile cost
        # more through IIIF than as a Zoomify tile (benchmarks/README.txt,
        # note iiif-traversal)
        if not self.segments:
            base = request.get("URL")  # IMAGE/iiif as the client asked it
            self.segments = _take_image_request(request)
            if self.segments:
                self.base = base

    def publishTraverse(self, request, name):
        if name == "index_html":
            return self.index_html
        if len(self.segments) >= 4:
            # a path no IIIF request has: 404, but after the permission
            # check, so that a private image says nothing (401)
            return _NoSuchName().__of__(self._image())
        if name == "probe" and not self.segments and not self.preview:
            return iiif_auth.Probe().__of__(self._image())
        return self.__class__(self.segments + (name,)).__of__(
            self._image())

    @security.protected(View)
    @zpublish
    def index_html(self, REQUEST=None, RESPONSE=None):
        """The IIIF image service (every HTTP method)."""
        image = self._image()
        answer = _method(image, REQUEST, RESPONSE)
        if answer is not None:
            return answer
        try:
            return self._answer(image, REQUEST, RESPONSE)
        except IIIFError as error:
            return _error(image, error, RESPONSE)

    def _layout(self, tiles):
        """The layout this service answers from: the image's, or for the
        preview its cut (404 when there is none to show)."""
        if not self.preview:
            return tiles.layout
        cut = resolution.cut_layout(tiles.layout, tiles.limit) \
            if tiles.limit else None
        if cut is None or cut is tiles.layout:
            raise IIIFError(404, "this image has no preview")
        return cut

    def _answer(self, image, REQUEST, RESPONSE):
        base = self.base or image.absolute_url() + "/" + self.name
        segments = self.segments
        if not segments:
            _cors(image, RESPONSE)
            RESPONSE.redirect(base + "/info.json")
            return b""
        tiles = _tiles(image)
        seen = _sight(image, tiles, REQUEST)
        layout = self._layout(tiles)
        if segments == ("info.json",):
            info = image_info(image, layout, base, max_area(), self.preview)
            if not self.preview:
                info = iiif_auth.with_auth(info, IMAGE_CONTEXT, image,
                                           tiles, base)
            return _send_json(
                image, tiles, info, IMAGE_CONTEXT, REQUEST, RESPONSE,
                [("Link", '<%s>;rel="profile"' % PROFILE_URI)])
        if segments[0] == "info.json":
            raise IIIFError(404, "not found")
        if len(segments) != 4:
            raise IIIFError(400, "an image request is {region}/{size}/"
                            "{rotation}/{quality}.{format}")
        return self._image_response(image, tiles, layout, seen, base,
                                    REQUEST, RESPONSE)

    def _image_response(self, image, tiles, layout, seen, base, REQUEST,
                        RESPONSE):
        settings = config.settings()
        area = settings.iiif_max_area
        request = _parsed(self.segments, layout.width, layout.height, area)
        etag, public = tiles.etag, tiles.public
        get_tile = tiles.store.get
        if self.preview:
            if request.size[0] > layout.width or \
                    request.size[1] > layout.height:
                raise IIIFError(400, "the preview is at most %dx%d"
                                % (layout.width, layout.height))
        else:
            if seen.limited:
                # judged before anything is read, and nothing above the
                # sight can be read: the one way to pixels is guarded
                tier = tier_read(layout, request, DECODE_FACTOR * area)
                try:
                    resolution.check_tier(seen, tier)
                except resolution.Refused as error:
                    raise IIIFError(401, str(error)) from None
                get_tile = resolution.guarded(seen, get_tile)
                public = public and _anonymous_sees_tier(image, tiles, tier)
        # a token that was honoured (sight refuses any other) is shown by
        # a page of its own origin: that page may read the answer, which
        # stays private in caches
        _cors(image, RESPONSE,
              public or resolution.bearer_token(REQUEST) is not None)
        RESPONSE.setHeader("Link", '<%s>;rel="profile", <%s/%s>;rel='
                           '"canonical"' % (PROFILE_URI, base,
                                            request.canonical))
        RESPONSE.setHeader("ETag", etag)
        RESPONSE.setHeader("Last-Modified", _http_date(tiles.tiled_at or 0))
        RESPONSE.setHeader("Cache-Control", cache_control(
            image, REQUEST, tiles.set_id, public=public))
        if not_modified(REQUEST, etag, tiles.tiled_at):
            RESPONSE.setStatus(304)
            return b""
        # the decoded tiles are kept by the ETag: it names image and set
        data = render(layout, get_tile, request,
                      image.effective_quality(), DECODE_FACTOR * area,
                      etag, client=REQUEST.getClientAddr())
        RESPONSE.setHeader("Content-Type", FORMATS[request.format])
        RESPONSE.setHeader("Content-Length", str(len(data)))
        return b"" if REQUEST.get("REQUEST_METHOD") == "HEAD" else \
            spooled(data)


InitializeClass(IIIFService)


def _sight(image, tiles, REQUEST):
    """What the request may see (resolution.py): its token, if it carries
    one, is judged here for every IIIF request (401 when refused)."""
    try:
        return resolution.sight(image, tiles, REQUEST)
    except resolution.Refused as error:
        raise IIIFError(401, str(error)) from None


def _anonymous_sees_tier(image, tiles, tier):
    cut = resolution.cut_layout(tiles.layout, tiles.limit)
    return (cut is not None and tier < cut.num_tiers) or \
        resolution.anonymous_full(image)


@zpublish
@implementer(IBrowserPublisher)
class PreviewService(IIIFService):
    """IMAGE/iiif-preview: the image service of the pyramid cut at the
    image's preview size, for everyone who may view the image: the
    substitute the probe names (iiif_auth.py)."""

    security = ClassSecurityInfo()
    security.declareObjectProtected(View)

    preview = True
    name = "iiif-preview"

    @security.protected(View)
    @zpublish
    def index_html(self, REQUEST=None, RESPONSE=None):
        """The IIIF preview service (every HTTP method)."""
        return IIIFService.index_html(self, REQUEST, RESPONSE)


InitializeClass(PreviewService)


@zpublish
@implementer(IBrowserPublisher)
class Manifest(_Published):
    """IMAGE/manifest.json."""

    security = ClassSecurityInfo()
    security.declareObjectProtected(View)

    def publishTraverse(self, request, name):
        if name == "index_html":
            return self.index_html
        return _NoSuchName().__of__(self._image())

    @security.protected(View)
    @zpublish
    def index_html(self, REQUEST=None, RESPONSE=None):
        """The IIIF Presentation 3 manifest of the image (every HTTP
        method)."""
        image = self._image()
        answer = _method(image, REQUEST, RESPONSE)
        if answer is not None:
            return answer
        try:
            tiles = _tiles(image)
            _sight(image, tiles, REQUEST)  # a token is judged here too
        except IIIFError as error:
            return _error(image, error, RESPONSE)
        doc = self._document(image, tiles, image.absolute_url())
        return _send_json(image, tiles, doc, self.context, REQUEST,
                          RESPONSE)

    context = PRESENTATION_CONTEXT

    def _document(self, image, tiles, url):
        doc = manifest(image, tiles.layout, url, max_area())
        body = doc["items"][0]["items"][0]["items"][0]["body"]
        return iiif_auth.with_auth(doc, PRESENTATION_CONTEXT, image, tiles,
                                   url + "/iiif", body["service"][0])


InitializeClass(Manifest)


@zpublish
@implementer(IBrowserPublisher)
class About(Manifest):
    """IMAGE/about.json: the schema.org description of the image, as the
    viewer page holds it, for the manifest's seeAlso (with the same
    rules: View, GET and HEAD, ETag, 503 while tiled, 404 without
    tiles)."""

    security = ClassSecurityInfo()
    security.declareObjectProtected(View)

    context = None  # plain application/ld+json

    @security.protected(View)
    @zpublish
    def index_html(self, REQUEST=None, RESPONSE=None):
        """The schema.org description of the image (every HTTP method)."""
        return Manifest.index_html(self, REQUEST, RESPONSE)

    def _document(self, image, tiles, url):
        return about(image, tiles.layout, url)


InitializeClass(About)


@zpublish
@implementer(IBrowserPublisher)
class _NoSuchName(_Published):
    """A path below IMAGE/iiif/A/B/C/D or IMAGE/manifest.json: 404 for
    those who may view the image, 401 for the others (the View check of
    any published object comes first). Never the name itself in the
    answer (issue 23, C1)."""

    security = ClassSecurityInfo()
    security.declareObjectProtected(View)

    def publishTraverse(self, request, name):
        if name == "index_html":
            return self.index_html
        return self

    @security.protected(View)
    @zpublish
    def index_html(self, REQUEST=None, RESPONSE=None):
        """Not found (every HTTP method)."""
        return _error(self._image(), IIIFError(404, "not found"), RESPONSE)


InitializeClass(_NoSuchName)
