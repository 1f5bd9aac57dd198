"""HTTP serving of an image's tiles and original: the published tile
objects, conditional requests (304) and byte ranges.

It knows an image only by its face (interfaces.IDeepZoomImage): the
image's tile_set() once per request; which names are tiles of a set, its
ETag and its layout are decided here, for any image with a pyramid."""

import email.utils
import functools
import hashlib
import os
import re

from AccessControl.class_init import InitializeClass
from AccessControl.PermissionRole import rolesForPermissionOn
from AccessControl.Permissions import view as View
from AccessControl.SecurityInfo import ClassSecurityInfo
from Acquisition import Implicit
from zope.datetime import rfc1123_date
from zope.interface import implementer
from ZPublisher import zpublish
from ZPublisher.BaseRequest import quote
from ZPublisher.HTTPRangeSupport import expandRanges
from ZPublisher.HTTPRangeSupport import parseRange
from ZPublisher.HTTPResponse import make_content_disposition
from ZPublisher.Iterators import IStreamIterator

from . import config
from . import resolution
from .interfaces import IDeepZoomImage
from .pyramid import Layout
from .pyramid.layout import parse_tile_name
from .tileset import TileSet
from .web_errors import NotFound

CHUNK = 1 << 18
_PLAIN = re.compile(r"[A-Za-z0-9._-]+")
# a URL that names the tile set's version (?v=) never changes its bytes
IMMUTABLE_MAX_AGE = 365 * 86400


@implementer(IStreamIterator)
class FileRange:
    """Bytes [start, end) of a file as a response body (Zope's own
    filestream_iterator always sends a file whole, from its start).

    It has read(), seek() and tell(), so the publisher hands it to the
    WSGI server's file wrapper: waitress then sends it from its own loop,
    as fast as the client reads, and Zope's worker thread is free at once
    (a slow reader holds nothing). Other servers iterate it in chunks.
    """

    def __init__(self, path, start=0, end=None):
        self.file = open(path, "rb")
        if end is None:
            end = os.fstat(self.file.fileno()).st_size
        self.file.seek(start)
        self.end = end
        self.length = end - start

    # the file protocol, for wsgi.file_wrapper (it sends Content-Length
    # bytes from the current position, and peeks: read, then seek back)
    def read(self, size=-1):
        left = max(0, self.end - self.file.tell())
        if size is None or size < 0 or size > left:
            size = left
        return self.file.read(size)

    def seek(self, offset, whence=0):
        return self.file.seek(offset, whence)

    def tell(self):
        return self.file.tell()

    def seekable(self):
        return True

    # the iterator protocol, for everyone else
    def __iter__(self):
        return self

    def __next__(self):
        data = self.read(CHUNK)
        if not data:
            self.file.close()
            raise StopIteration
        return data

    def __len__(self):
        return self.length

    def close(self):
        self.file.close()


class _TileBase(Implicit):
    """Published sub-objects of an image: the View permission of the image
    (acquired through the wrapper) guards them; each subclass declares
    it for itself, as InitializeClass reads a class's own security."""

    def __init__(self, name, version=None):
        self.name = name  # a tile name, relative to the image
        self.version = version  # the set its URL names (IMAGE/v/SET/...)

    def _image(self):
        parent = self.aq_parent
        return parent if IDeepZoomImage.providedBy(parent) else \
            parent.aq_parent

    def _not_allowed(self, REQUEST=None, RESPONSE=None):
        """Tiles are read only: GET and HEAD."""
        RESPONSE.setStatus(405)
        RESPONSE.setHeader("Allow", "GET, HEAD")
        return b""


# the methods a WebDAV client may try: the publisher would otherwise find
# the image's own (by acquisition) and fail
for _verb in ("OPTIONS", "PUT", "DELETE", "PATCH", "TRACE", "PROPFIND",
              "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK"):
    setattr(_TileBase, _verb, zpublish(_TileBase._not_allowed))
    setattr(_TileBase, _verb + "__roles__", None)  # public: says 405 only


@zpublish
class TileGroup(_TileBase):
    """A TileGroupN folder of an image."""

    security = ClassSecurityInfo()
    security.declareObjectProtected(View)

    def __bobo_traverse__(self, REQUEST, name):
        return TileFile(self.name + "/" + name).__of__(self)

    @security.protected(View)
    @zpublish
    def index_html(self, REQUEST=None, RESPONSE=None):
        """No listing of tile groups."""
        raise NotFound(self.name)


InitializeClass(TileGroup)


@zpublish
class TileFile(_TileBase):
    """One tile, or ImageProperties.xml. The publisher calls it as it is
    (one traversal step less than an index_html: a tile is the request
    Zope answers most)."""

    security = ClassSecurityInfo()
    security.declareObjectProtected(View)

    # not the image's, by acquisition: the publisher would traverse to it
    index_html = None

    @security.protected(View)
    @zpublish(methods=("GET", "HEAD"))
    def __call__(self, REQUEST=None, RESPONSE=None):
        """The tile's bytes."""
        if RESPONSE is None:  # a path expression's call: the object
            return self
        return serve_tile(self._image(), self.name, REQUEST, RESPONSE,
                          self.version)

    @security.protected(View)
    @zpublish
    def HEAD(self, REQUEST=None, RESPONSE=None):
        """Headers only."""
        return serve_tile(self._image(), self.name, REQUEST, RESPONSE,
                          self.version)


InitializeClass(TileFile)


def _name_stack(REQUEST):
    # the publisher's stack of names still to traverse, or that of
    # restrictedTraverse and path expressions (a dict), or None
    stack = getattr(REQUEST, "path", None)
    if not isinstance(stack, list) and isinstance(REQUEST, dict):
        stack = REQUEST.get("TraversalRequestNameStack")
    return stack if isinstance(stack, list) else None


def remaining_names(REQUEST):
    """The names of the path still to traverse, in URL order ([] when
    there are none or the caller does not tell)."""
    stack = _name_stack(REQUEST)
    return list(reversed(stack)) if stack else []


def take_remaining_names(REQUEST, names=None):
    """Takes the rest of the path (``names``, if the caller has them) off
    the stack in one step, adding each name to the publisher's URL and
    steps as its own loop does; the names, in URL order."""
    if names is None:
        names = remaining_names(REQUEST)
    del _name_stack(REQUEST)[:]
    url = REQUEST.get("URL")
    steps = getattr(REQUEST, "_steps", None)
    for name in names:
        # a tile's names need no quoting (and quote costs more)
        step = name if _PLAIN.fullmatch(name) else quote(name)
        if url:
            url = "%s/%s" % (url, step)
        if isinstance(steps, list):
            steps.append(step)
    if url:
        REQUEST["URL"] = url
    return tuple(names)


def take_tile_name(REQUEST, group):
    """Traversing TileGroupN of an image: when the next and last name of
    the URL is a file of it (T-C-R.jpg), both names in one step, so that
    a tile is one traversal step and one security check from its image,
    not two. None to traverse TileGroupN alone."""
    names = remaining_names(REQUEST)
    if len(names) != 1 or not names[0].endswith(".jpg") or \
            "/" in names[0]:
        return None
    (name,) = take_remaining_names(REQUEST, names)
    return group + "/" + name


def take_versioned_name(REQUEST):
    """Traversing v of an image, the viewer's URL of a tile that names its
    set (IMAGE/v/SET/TileGroupN/T-C-R.jpg, IMAGE/v/SET/ImageProperties.xml):
    (set, tile name), the rest of the URL taken in one step; None when the
    rest is not of that shape. The set is in the path, not in ?v=, so that
    Zope has no query to parse and a front-end caches by the path alone."""
    names = remaining_names(REQUEST)
    if not names or len(names[0]) > 64:
        return None
    if names[1:] == ["ImageProperties.xml"] or (
            len(names) == 3 and names[1].startswith("TileGroup") and
            names[2].endswith(".jpg")):
        take_remaining_names(REQUEST, names)
        return names[0], "/".join(names[1:])
    return None


def not_modified(REQUEST, etag, modified):
    match = REQUEST.get_header("If-None-Match", "")
    if match:
        tags = [t.strip() for t in match.split(",")]
        tags = [t[2:] if t.startswith("W/") else t for t in tags]
        return "*" in tags or etag in tags
    since = REQUEST.get_header("If-Modified-Since", "")
    if since:
        try:
            when = email.utils.parsedate_to_datetime(since.split(";")[0])
        except (TypeError, ValueError, IndexError):
            return False
        return int(modified) <= when.timestamp()
    return False


def json_media_type(REQUEST, context):
    """JSON-LD with the profile of ``context`` where the client takes it
    or says nothing, plain JSON for one that asks for JSON only (as the
    IIIF specs ask)."""
    accept = REQUEST.get_header("Accept", "") or ""
    if not accept or "application/ld+json" in accept:
        return 'application/ld+json;profile="%s"' % context
    return "application/json"


def send_document(REQUEST, RESPONSE, body, content_type, etag,
                  modified=None):
    """The end of the answer of a document whose ETag and caching are
    set: 304 when the client has it, else its type, length and bytes
    (none for HEAD). Without ``modified`` (a document with no date of
    its own) only If-None-Match tells."""
    if modified is not None or REQUEST.get_header("If-None-Match", ""):
        if not_modified(REQUEST, etag, modified or 0):
            RESPONSE.setStatus(304)
            return b""
    RESPONSE.setHeader("Content-Type", content_type)
    RESPONSE.setHeader("Content-Length", str(len(body)))
    return b"" if REQUEST.get("REQUEST_METHOD") == "HEAD" else body


def anonymous_may_view(obj):
    """True if a visitor who is not logged in may view ``obj``."""
    return "Anonymous" in rolesForPermissionOn(View, obj)


# an absolute path in a message: "/" not inside a word, a URL or a path
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/[^\s:;,'\"()<>]+")


def without_server_paths(text):
    """An error's text for a page: no absolute path of the server (issue
    23, L5). A path under the tile root is named from there (the setting's
    name for the root itself: "tile-root: cannot write tiles ..."), any
    other path by its last name; the caller logs the whole text."""
    if not text:
        return text
    root = config.settings().tile_root.rstrip(os.sep)
    if root:
        text = text.replace(root + os.sep, "").replace(root, "tile-root")
    return _ABSOLUTE_PATH.sub(
        lambda m: os.path.basename(m.group(0).rstrip("/")) or "/", text)


def allow_other_sites(obj, RESPONSE, public=None):
    """CORS for what ``obj`` serves (tiles, ImageProperties.xml, IIIF): any
    site's script may read what anonymous may see anyway (OpenLayers'
    crossOrigin, WebGL, a canvas export), and nothing else: a logged-in
    user's private image is never offered to another site's page."""
    if public is None:
        public = anonymous_may_view(obj)
    if public:
        RESPONSE.setHeader("Access-Control-Allow-Origin", "*")
        RESPONSE.setHeader("Access-Control-Expose-Headers", "ETag, Link")


def cache_control(obj, REQUEST=None, version=None, public=None,
                  settings=None, asked=None):
    """Cache-Control for what ``obj`` serves: ``private`` when anonymous
    may not view it (a shared cache must never hand it to others);
    ``public`` otherwise, and ``immutable`` for a year when the URL names
    the current ``version`` of the tile set (``asked``: the set the URL
    names, by default its ?v=)."""
    max_age = (settings or config.settings()).cache_max_age
    if public is None:  # the caller may know it already
        public = anonymous_may_view(obj)
    if not public:
        return "private, max-age=%d" % max_age
    if asked is None and REQUEST is not None:
        asked = REQUEST.form.get("v")
    if version is not None and asked == str(version):
        return "public, max-age=%d, immutable" % IMMUTABLE_MAX_AGE
    return "public, max-age=%d" % max_age


def page_cache_control(shared):
    """Cache-Control of a page that changes (a status, a listing): asked
    again each time, and out of shared caches unless ``shared`` (anonymous
    gets the same page)."""
    return "no-cache" if shared else "private, no-cache"


def _file_name(name):
    # a header value: no quotes, backslashes or control characters
    return "".join(c for c in name if c not in '"\\' and c.isprintable()) \
        or "download"


def download(image, REQUEST, RESPONSE, public=False):
    """The original file of ``image`` (IZoomifyImage.download): 404 when
    the image is not visible or has no original. ``public``: anonymous
    may download it too (else it stays out of shared caches)."""
    image.check_visible()
    path = image.original_file()
    if path is None:
        raise NotFound("This image has no original file.")
    etag = '"zo-%s-%s"' % (image_key(image.uid), image.original_id or
                           int(image.tiled_at))
    return send_original(
        image, path, image.filename or image.getId(), image.content_type,
        etag, image.tiled_at, REQUEST, RESPONSE, public)


def send_original(obj, path, filename, content_type, etag, modified,
                  REQUEST, RESPONSE, public=False):
    """The original file with Range and If-Range (one range; several are
    answered with the whole file, as HTTP allows)."""
    size = os.path.getsize(path)
    RESPONSE.setHeader("Content-Type",
                       content_type or "application/octet-stream")
    RESPONSE.setHeader("Accept-Ranges", "bytes")
    RESPONSE.setHeader("ETag", etag)
    RESPONSE.setHeader("Last-Modified", rfc1123_date(modified or 0))
    RESPONSE.setHeader("Cache-Control", cache_control(obj, public=public))
    RESPONSE.setHeader("Content-Disposition", make_content_disposition(
        "attachment", _file_name(filename)))
    if not_modified(REQUEST, etag, modified):
        RESPONSE.setStatus(304)
        return b""
    start, end = 0, size
    ranges = parseRange(REQUEST.get_header("Range", "") or "")
    if ranges and _if_range(REQUEST, etag, modified):
        spans = expandRanges(ranges, size)
        if not spans:
            RESPONSE.setStatus(416)
            RESPONSE.setHeader("Content-Range", "bytes */%d" % size)
            return b""
        if len(spans) == 1:
            start, end = spans[0]
            RESPONSE.setStatus(206)
            RESPONSE.setHeader("Content-Range", "bytes %d-%d/%d"
                               % (start, end - 1, size))
    RESPONSE.setHeader("Content-Length", str(end - start))
    if REQUEST.get("REQUEST_METHOD") == "HEAD":
        return b""
    return FileRange(path, start, end)


def _if_range(REQUEST, etag, modified):
    """True when a Range may be served: no If-Range, or it names the
    current file (its strong ETag, or exactly its date)."""
    condition = REQUEST.get_header("If-Range", "").strip()
    if not condition:
        return True
    if condition.startswith(('"', "W/")):
        return condition == etag
    try:
        when = email.utils.parsedate_to_datetime(condition)
    except (TypeError, ValueError, IndexError):
        return False
    return int(when.timestamp()) == int(modified)


@functools.lru_cache(maxsize=64)
def _http_date(seconds):
    # the same few dates (when each image was tiled), for every tile
    return rfc1123_date(seconds)


# ------------------------------------------------------- the tile set

def image_key(uid):
    """The image in ETags, never its uid: the uid names the sets' place
    under tile-root, which a front-end may serve unchecked (tile-url),
    and a viewer of a private image must not learn it (issue 23, L1)."""
    return hashlib.sha256(uid.encode()).hexdigest()[:16]


def tile_etag(key, set_id):
    """The strong ETag of a tile set: ``key`` names the image (never its
    uid: image_key), ``set_id`` the set."""
    return '"zi-%s-%s"' % (key, set_id)


@functools.lru_cache(maxsize=256)
def tile_layout(width, height, tile_size):
    """The Layout of an image's set (cached: a Layout never changes, and
    building one per tile request was a tenth of the request's time)."""
    return Layout(width, height, tile_size)


def tile_set_of(key, set_id, store, tiled_at, public, size=None, limit=0):
    """The TileSet value an image's tile_set() gives: ``size`` (width,
    height, tile size) when the set is ready, else None (no tiles);
    ``limit`` its preview size (resolution.py)."""
    layout = tile_layout(*size) if size and size[0] else None
    return TileSet(set_id, layout, store, tile_etag(key, set_id),
                   tiled_at, public, key, limit or 0)


def is_tile(layout, name):
    """True if ``name`` is a tile (or ImageProperties.xml) of a set with
    ``layout``.

    A stock OpenSeadragon asks for "phantom" edge tiles outside the
    floor grid (docs/zoomify-format.txt; ours does not): they get a 404.
    They would cover less than a pixel of their tier, so the image is
    drawn whole without them, and OpenSeadragon does not retry; a made
    up tile would contradict NUMTILES and differ from what a front-end
    serving the filesystem store answers (404).
    """
    if layout is None or len(name) > 64:  # longer: never a tile's
        return False
    return _is_tile_name(layout, name)


@functools.lru_cache(maxsize=8192)
def _is_tile_name(layout, name):
    # the names a viewer asks are few and asked again and again
    if name == "ImageProperties.xml":
        return True
    parsed = parse_tile_name(name)
    if parsed is None:
        return False
    group, tier, col, row = parsed
    # the right tile in the wrong TileGroup is not it
    return layout.has_tile(tier, col, row) and \
        layout.tile_name(tier, col, row) == name


def _within_sight(seen, name, older):
    """None when the user may have ``name`` as stored; the bytes of the
    cut pyramid's ImageProperties.xml for one who sees a preview;
    Refused above it (and for older sets: their tiers are not this
    set's)."""
    if seen.full:
        return None
    if older or seen.cut is None:
        raise resolution.Refused("Only a preview of this image is shown "
                                 "to you; log in for full resolution.")
    if name == "ImageProperties.xml":
        return seen.cut.properties_xml()
    resolution.check_tile(seen, name)
    return None


def _below_any_cut(tiles, name):
    """True if anonymous sees ``name`` whatever his permissions: a tile
    of the preview (shared caches may keep it)."""
    cut = resolution.cut_layout(tiles.layout, tiles.limit)
    if cut is None:
        return False
    parsed = parse_tile_name(name)
    return parsed is not None and parsed[1] < cut.num_tiers


def serve_tile(image, name, REQUEST, RESPONSE, asked=None):
    """A tile (or ImageProperties.xml) of ``image``: the set it points at,
    or, for a page built before a retile (the URL names an older set of
    the filesystem store, still on disc), that page's own set, so that a
    viewer never mixes two sets. ``asked``: the set the URL's path names
    (IMAGE/v/SET/...), else its ?v= (the viewer's URLs before the path)."""
    tiles = image.tile_set()
    store, set_id = tiles.store, tiles.set_id
    if asked is None:
        asked = REQUEST.form.get("v") or ""  # "": the URL names no set
    older = None
    if store is not None and asked and asked != set_id:
        older = store.older_set(asked)
    etag = tiles.etag
    if older:
        # not this image's current layout: the file must exist in the set
        valid = name == "ImageProperties.xml" or \
            parse_tile_name(name) is not None
        set_id = older
        etag = tile_etag(tiles.key, older)
        version = None  # a set on its way out: never "immutable"
    else:
        version = set_id
        valid = is_tile(tiles.layout, name)
    if not valid or store is None:
        raise NotFound(name if valid else "not a tile of this image")
    try:
        seen = resolution.sight(image, tiles, REQUEST)
        own = _within_sight(seen, name, older)
    except resolution.Refused as error:
        return resolution.refuse(RESPONSE, error)
    path = data = None
    settings = config.settings()
    sendfile = settings.x_sendfile_header
    # what the store has first: a 404 must not carry a tile's caching
    front = store.front_end_path(older) if sendfile and own is None \
        else None
    if own is not None:  # the cut pyramid's ImageProperties.xml
        data, etag = own, etag[:-1] + "-cut%d" % seen.cut.width + '"'
    elif front is not None:
        path = store.file_path(name, older)
        if path is None:
            raise NotFound(name)
    else:
        # a tile's bytes (a few kilobytes), which waitress buffers at
        # once; the filesystem store keeps recent ones in memory
        data = store.get(name, older) if older else store.get(name)
        if data is None:
            raise NotFound(name)
    modified = tiles.tiled_at
    # the values below are made here of hex ids, dates and fixed words:
    # no line breaks for setHeader to scrub
    header = functools.partial(RESPONSE.setHeader, scrubbed=True)
    header("ETag", etag)
    header("Last-Modified", _http_date(int(modified or 0)))
    public = tiles.public
    if seen.limited and name == "ImageProperties.xml":
        # the size it declares is the user's: ask again each time
        header("Cache-Control", "private, no-cache")
        header("Vary", "Authorization, Cookie")
    else:
        if seen.limited and public and not _below_any_cut(tiles, name):
            public = resolution.anonymous_full(image)
        header("Cache-Control", cache_control(
            image, REQUEST, version, public=public, settings=settings,
            asked=asked))
    allow_other_sites(image, RESPONSE, public)
    content_type = "text/xml" if name.endswith(".xml") else "image/jpeg"
    if not_modified(REQUEST, etag, modified):
        RESPONSE.setStatus(304)
        return b""
    head = REQUEST.get("REQUEST_METHOD") == "HEAD"
    if path is not None:  # the front-end sends the file (and its length)
        header("Content-Type", content_type)
        prefix = settings.x_sendfile_prefix
        relative = "%s/%s" % (front, name)
        RESPONSE.setHeader(sendfile, prefix.rstrip("/") + "/" + relative
                           if prefix else path)
        return b""
    header("Content-Type", content_type)
    header("Content-Length", str(len(data)))
    return b"" if head else data
