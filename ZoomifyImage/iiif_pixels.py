"""The pixels of an IIIF image request, from the stored Zoomify pyramid
only (never the original): a request that is exactly one stored tile is
that tile's bytes; any other is composed from the tiles of the nearest
tier at or above the requested scale (decode, crop, resize with Pillow),
then mirrored, rotated, turned gray or bitonal and encoded.

Scale factor k means tier ``num_tiers - 1 - k`` of the layout (2^k times
smaller than the full image; tier 0 of the layout is the smallest)."""

import ctypes
import ctypes.util
import functools
import io
import math
import os
import tempfile
import threading

from PIL import Image

from .cache import BoundedCache
from .iiif_request import IIIFError
from .pyramid.encode import encode_jpeg

PNG_COMPRESS_LEVEL = 3  # big PNGs: zlib's fast levels are much faster
# composed answers (decode, resize, encode: seconds for a big PNG or WebP)
# at once in this process: two of waitress's four threads, so that two
# are always left for tiles and pages (three let a burst of anonymous
# clients hold up the tiles: benchmarks/README.txt, note render-slots).
# One more is
# answered 503 at once: a request waiting for a render holds a thread too
RENDER_SLOTS = 2
RENDERS = threading.BoundedSemaphore(RENDER_SLOTS)
RENDER_WAIT = 0.0
RENDER_RETRY_AFTER = 5
# composed answers at once for one client address: a second gets 429
PER_CLIENT = 1
# a composed answer this small (what it decodes and what it sends, in
# pixels: four tiles' worth) costs about what a stored tile does; viewers
# ask many at once (OpenLayers' IIIF source: the edge cells of every
# tier), so these are never counted in the limits above
SMALL_RENDER_PIXELS = 4 * 256 * 256
# decoded tiles kept for composed answers, in bytes of memory (Pillow
# keeps an RGB pixel in 4 bytes: a tile of 256 x 256 is 256 KB, so about
# 128 tiles)
DECODED_CACHE_BYTES = 32 << 20


class DecodedTiles(BoundedCache):
    """The pixels of recently decoded tiles, up to ``limit`` bytes.
    Decoding was most of a composed answer's time (a 512 x 512 answer
    touches up to 9 tiles), and neighbouring requests share tiles. Keys
    name a tile of a set; sets never change once in place, so an entry is
    never stale. The images are only read (paste), never changed, so
    threads share them."""

    def __init__(self, limit):
        super().__init__(limit, _cost)


def _cost(image):
    # what Pillow holds: "L" 1 byte a pixel, "RGB" 4 (counted as 3, the
    # cache held a third more than its limit)
    return image.size[0] * image.size[1] * (1 if image.mode == "L" else 4)


decoded_tiles = DecodedTiles(DECODED_CACHE_BYTES)


@functools.lru_cache(maxsize=4096)
def stored_tile(layout, region, size):
    """The name of the stored tile that is exactly this request (the
    region of a tile at its tier's scale, at the tile's own size), or
    None."""
    x, y, w, h = region
    n = layout.num_tiers
    for k in range(n):
        span = layout.tile_size << k
        if x % span or y % span:
            continue
        if (w, h) != (min(span, layout.width - x),
                      min(span, layout.height - y)):
            continue
        tier, col, row = n - 1 - k, x // span, y // span
        if not layout.has_tile(tier, col, row):
            continue
        left, top, right, bottom = layout.tile_box(tier, col, row)
        # a floor-halved edge tile a pixel short of the spec's size is
        # not it: the request is then derived from the tier above
        if (right - left, bottom - top) == tuple(size):
            return layout.tile_name(tier, col, row)
    return None


def scale_factor(layout, region, size, budget):
    """k of the tier to read: the coarsest whose pixels are at least as
    fine as the request in both directions; coarser while the window of
    that tier would pass ``budget`` pixels (a distorted request, say a
    long thin image of a big region); finer where floor halving left a
    thin image's tier with a zero side."""
    w, h = region[2:]
    finest = min(w / size[0], h / size[1])
    n = layout.num_tiers
    k = 0
    while k + 1 < n and (1 << (k + 1)) <= finest:
        k += 1

    def empty(k):
        tw, th = layout.tiers[n - 1 - k]
        return tw == 0 or th == 0

    while (k + 1 < n and not empty(k + 1)
           and (w >> k) * (h >> k) > budget):
        k += 1
    while k > 0 and empty(k):
        k -= 1
    return k


def _window(start, length, limit):
    # floor halving leaves a tier up to one pixel short of W / 2^k: at the
    # right and bottom edges the window slides back by that fraction, so
    # the scale stays what was asked
    length = min(length, limit)
    start = min(start, limit - length)
    return start, start + length


def _decoded(get_tile, name, set_key):
    """The tile's pixels (loaded), from the cache when ``set_key`` (the
    set's identity) is given."""
    key = None if set_key is None else (set_key, name)
    check = getattr(get_tile, "check", None)
    if check is not None:  # a guarded reader (resolution.guarded): a
        check(name)        # kept copy is no way around it
    if key is not None:
        tile = decoded_tiles.get(key)
        if tile is not None:
            return tile
    data = get_tile(name)
    if data is None:
        raise IIIFError(500, "a tile of this image is missing")
    tile = Image.open(io.BytesIO(data))
    tile.load()
    if tile.mode not in ("L", "RGB"):
        tile = tile.convert("RGB")
    if key is not None:
        decoded_tiles.put(key, tile)
    return tile


def _plan(layout, region, size, budget):
    """(tier, left, top, right, bottom, decoded): the tier a composed
    answer reads, its window there and the pixels that window holds."""
    x, y, w, h = region
    k = scale_factor(layout, region, size, budget)
    s = float(1 << k)
    tier = layout.num_tiers - 1 - k
    tw, th = layout.tiers[tier]
    left, right = _window(x / s, w / s, tw)
    top, bottom = _window(y / s, h / s, th)
    decoded = (math.ceil(right) - int(left)) * (math.ceil(bottom) - int(top))
    return tier, left, top, right, bottom, decoded


def is_small(layout, region, size, budget):
    """True for a composed answer that decodes and sends at most
    SMALL_RENDER_PIXELS: as cheap as a stored tile, never limited."""
    decoded = _plan(layout, region, size, budget)[5]
    return max(decoded, size[0] * size[1]) <= SMALL_RENDER_PIXELS


def compose(layout, get_tile, region, size, budget, set_key=None):
    """An Image of exactly ``size`` showing ``region``, from the fewest
    tiles of one tier (decoded ones kept when ``set_key`` names the
    set). Refused (400) before anything is decoded when the window of
    that tier has more than ``budget`` pixels."""
    tier, left, top, right, bottom, decoded = _plan(layout, region, size,
                                                    budget)
    tw, th = layout.tiers[tier]
    if decoded > budget:
        # a thin image's coarser tiers are empty: nothing smaller to read
        raise IIIFError(400, "this request would decode %d pixels, more "
                        "than the %d one answer may: ask for a smaller "
                        "region or size" % (decoded, budget))
    if (right - left, bottom - top) == tuple(size):
        # the tier's own scale: whole pixels of it (a shift of less than
        # half a pixel), no resampling
        left = min(round(left), tw - size[0])
        top = min(round(top), th - size[1])
        right, bottom = left + size[0], top + size[1]
    x0, y0 = int(left), int(top)
    x1, y1 = min(tw, math.ceil(right)), min(th, math.ceil(bottom))
    t = layout.tile_size
    canvas = None
    for row in range(y0 // t, (y1 - 1) // t + 1):
        for col in range(x0 // t, (x1 - 1) // t + 1):
            tile = _decoded(get_tile, layout.tile_name(tier, col, row),
                            set_key)
            if canvas is None:
                mode = "L" if tile.mode == "L" else "RGB"
                # not filled first: the tiles cover every pixel of it
                # (the window lies within the tier; a missing tile is an
                # error above)
                canvas = Image.new(mode, (x1 - x0, y1 - y0), None)
            if tile.mode != canvas.mode:
                tile = tile.convert(canvas.mode)
            # paste clips the tile to the canvas
            canvas.paste(tile, (col * t - x0, row * t - y0))
    box = (left - x0, top - y0, right - x0, bottom - y0)
    if canvas.size == tuple(size) and box == (0, 0) + canvas.size:
        return canvas
    # bicubic: between bilinear's aliasing and Lanczos' cost (slower in
    # Pillow) for factors of 1 to 2
    return canvas.resize(tuple(size), Image.BICUBIC, box=box)


def transform(image, mirror, angle, quality):
    """Mirror, rotate (clockwise, by 0, 90, 180 or 270), then the
    quality, as the spec orders them."""
    if mirror:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    if angle:
        image = image.transpose({90: Image.ROTATE_270, 180: Image.ROTATE_180,
                                 270: Image.ROTATE_90}[angle])
    if quality == "gray":
        image = image.convert("L")
    elif quality == "bitonal":
        image = image.convert("L").point(lambda v: 255 if v >= 128 else 0,
                                         "1")
    return image


def encode(image, fmt, quality):
    """Bytes of the image in the format; JPEG and WebP at the image's
    tile quality."""
    if fmt == "jpg":
        if image.mode not in ("L", "RGB"):
            image = image.convert("L" if image.mode == "1" else "RGB")
        return encode_jpeg(image, quality)
    out = io.BytesIO()
    if fmt == "png":
        image.save(out, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    else:
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands()
                                  else "RGB")
        image.save(out, "WEBP", quality=quality)
    return out.getvalue()


class ClientRenders:
    """Composed answers under way, by client address: each client may
    have ``limit`` at once, so that one cannot take every render slot."""

    def __init__(self, limit):
        self.limit = limit
        self.lock = threading.Lock()
        self.running = {}

    def enter(self, client):
        with self.lock:
            if self.running.get(client, 0) >= self.limit:
                return False
            self.running[client] = self.running.get(client, 0) + 1
            return True

    def leave(self, client):
        with self.lock:
            left = self.running[client] - 1
            if left:
                self.running[client] = left
            else:
                del self.running[client]
            return not self.running   # the last render of all ended


client_renders = ClientRenders(PER_CLIENT)


def _make(layout, get_tile, request, jpeg_quality, budget, set_key):
    image = compose(layout, get_tile, request.region, request.size, budget,
                    set_key)
    image = transform(image, request.mirror, request.angle, request.quality)
    return encode(image, request.format, jpeg_quality)


# glibc's mallopt parameter, and the size from which blocks are mapped
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 4 << 20


def _glibc():
    """(malloc_trim, mallopt) of glibc, or (None, None) elsewhere."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim, mallopt = libc.malloc_trim, libc.mallopt
    except (OSError, AttributeError):
        return None, None
    trim.argtypes = [ctypes.c_size_t]
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    trim.restype = mallopt.restype = ctypes.c_int
    return trim, mallopt


_malloc_trim, _mallopt = _glibc()


def map_big_blocks():
    """Have glibc map every block of MMAP_THRESHOLD bytes or more of its
    own, so that freeing it gives it back to the system at once. By
    default glibc raises its threshold to the size of each mapped block
    freed (up to 32 MB): after the first composed answer, Pillow's 16 MB
    blocks came from the arenas of waitress's threads and stayed there
    (the bench_memory.py table in benchmarks/README.txt). Process-wide:
    the tiler's row buffers (background jobs) go back as well. It costs a
    composed answer some CPU for fresh pages (benchmarks/README.txt, note
    mmap-threshold)."""
    if _mallopt is not None:
        _mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


map_big_blocks()


def give_back_memory():
    """Hand the arenas' free pages back to the system (after a burst of
    compositions: what was under MMAP_THRESHOLD, spread over threads)."""
    if _malloc_trim is not None:
        _malloc_trim(0)


# answers bigger than this are sent from a temporary file (spooled)
SPOOL_BYTES = 1 << 20


def spooled(data):
    """``data`` to publish, as bytes when small, else as a stream of a
    temporary file (already unlinked): a body held as bytes stayed in
    memory after it was sent, until the thread's next request (each
    waitress thread kept its last big PNG: benchmarks/README.txt, note
    spool), and a file's pages are the system's to drop."""
    if len(data) <= SPOOL_BYTES:
        return data
    from ZPublisher.Iterators import filestream_iterator
    with tempfile.NamedTemporaryFile(prefix="zoomify-iiif-",
                                     delete=False) as f:
        f.write(data)
    try:
        return filestream_iterator(f.name)
    finally:
        os.unlink(f.name)


def tier_read(layout, request, budget):
    """The tier whose tiles render() reads for ``request``: what degraded
    access (resolution.py) judges before any pixel is read."""
    plain = (not request.mirror and not request.angle
             and request.quality in ("default", "color"))
    if plain and request.format == "jpg":
        name = stored_tile(layout, request.region, request.size)
        if name is not None:
            return int(name[name.index("/") + 1:].split("-")[0])
    return _plan(layout, request.region, request.size, budget)[0]


def render(layout, get_tile, request, jpeg_quality, budget, set_key=None,
           client=None):
    """Bytes of an image request (iiif_request.ImageRequest); ``set_key``
    (hashable, naming the tile set: its tiles never change) lets decoded
    tiles be kept for the next requests. A composed answer decodes at
    most ``budget`` pixels; ``client`` (an address) may have PER_CLIENT
    composed answers under way at once (429 for one more)."""
    plain = (not request.mirror and not request.angle
             and request.quality in ("default", "color"))
    if plain and request.format == "jpg":
        name = stored_tile(layout, request.region, request.size)
        if name is not None:
            data = get_tile(name)
            if data is not None:
                return data
    # stored tiles above need no decoding and are never limited, nor are
    # answers as small as a few tiles
    if is_small(layout, request.region, request.size, budget):
        return _make(layout, get_tile, request, jpeg_quality, budget,
                     set_key)
    if not client_renders.enter(client):
        raise IIIFError(429, "you are already being sent a composed "
                        "image; ask for the next when it has come",
                        retry_after=1)
    last = False
    try:
        if not RENDERS.acquire(timeout=RENDER_WAIT):
            raise IIIFError(503, "the server is busy making other images; "
                            "try again", retry_after=RENDER_RETRY_AFTER)
        try:
            # the big buffers are gone when it returns, before the trim
            return _make(layout, get_tile, request, jpeg_quality, budget,
                         set_key)
        finally:
            RENDERS.release()
    finally:
        last = client_renders.leave(client)
        if last:
            give_back_memory()
