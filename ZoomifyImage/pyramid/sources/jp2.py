"""The jp2 engine: JPEG 2000 (.jp2, .j2k, .jpx) read by regions with
glymur over OpenJPEG (the 'jp2' extra; Pillow decodes JPEG 2000 only
whole, and the pyvips binary wheel not at all).

Bands are decoded a band ahead of the pyramid (ahead.py), two regions at
a time on two threads of ours, each by OpenJPEG on one thread (OpenJPEG's
own two threads on one region at a time left a quarter of the two cores
idle: benchmarks/README.txt, note jp2-regions). A tiled file
is read in bands of whole rows of its tiles, each stored tile as a region
of its own: each is decoded once, and OpenJPEG's working memory (4 bytes
a sample) stays one tile's a thread. A file of
one big tile is read in full-width bands of BAND_ROWS: OpenJPEG decodes
only the code-blocks a band touches, but reads the tile's compressed data
again for each band, and holds it (tile such files for speed).
"""

import functools
import threading
import warnings

from ..errors import DamagedImage
from ..errors import TilingError
from .ahead import AheadSource
from .base import UnknownFormat
from .base import flatten
from .base import grey_background

SIGNATURES = (b"\x00\x00\x00\x0cjP  \r\n\x87\n",   # JP2 and JPX boxes
              b"\xff\x4f\xff\x51")                 # a raw codestream
BAND_ROWS = 512           # bands of a file of one tile
MAX_BAND_ROWS = 2048      # taller stored tiles are read in parts

# glymur hands OpenJPEG's warnings (a truncated or corrupt stream, where
# it makes up the pixels) to the warnings module, whose filters are global
# to the process: catch_warnings() can record them for one decode at a
# time only. _on_warning keeps them for the thread that decodes instead.
_decode_lock = threading.Lock()
_said = threading.local()     # .lines: what OpenJPEG said to this thread
_handler = None


def _on_warning(message, _data):
    """OpenJPEG's warning callback: the message goes to the decode of this
    thread, or (outside our decodes) to the warnings module, as glymur's
    own callback does."""
    text = message.decode("utf-8", "replace").strip() if message else ""
    lines = getattr(_said, "lines", None)
    if lines is None:
        warnings.warn("OpenJPEG library warning:  " + text, UserWarning)
    else:
        lines.append(text or "OpenJPEG failed")


def own_warnings():
    """Give every OpenJPEG codec that glymur makes from now on our warning
    callback (glymur looks it up each time); False where this glymur has
    none to replace: decodes then take turns."""
    global _handler
    from glymur.lib import openjp2
    with _decode_lock:
        if _handler is None:
            if not (hasattr(openjp2, "_WARNING_CALLBACK")
                    and hasattr(openjp2, "_CMPFUNC")):
                return False
            _handler = openjp2._CMPFUNC(_on_warning)   # kept alive here
            openjp2._WARNING_CALLBACK = _handler
    return True


def jp2_available():
    try:
        import glymur
    except (ImportError, OSError):
        return False
    try:
        version = tuple(int(part) for part in
                        glymur.version.openjpeg_version.split(".")[:2])
    except (AttributeError, ValueError):
        return False
    return version >= (2, 4)   # glymur reads nothing with older ones


def is_jp2(path):
    with open(path, "rb") as f:
        head = f.read(12)
    return head.startswith(SIGNATURES)


def first_line(warning):
    """What OpenJPEG said, in one line."""
    text = str(getattr(warning, "message", warning))
    for prefix in ("OpenJPEG library warning:", "OpenJPEG library error:"):
        text = text.replace(prefix, "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "OpenJPEG failed"


class Jp2Source(AheadSource):

    engine = "jp2"

    def __init__(self, path, background, lenient=False, threads=2):
        import glymur
        self.path = path
        self.lenient = lenient
        if not is_jp2(path):
            raise UnknownFormat(path, "not a JPEG 2000 file")
        self.side_by_side = own_warnings()
        if self.side_by_side:
            self.threads = threads   # the regions of a band side by side
            glymur.set_option("lib.num_threads", 1)
        else:
            glymur.set_option("lib.num_threads", threads)
        self.local = threading.local()   # .jp2: each thread's own reader
        try:
            with _decode_lock, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.jp2 = glymur.Jp2k(path)
                siz = self.jp2.codestream.segment[1]
                shape = self.jp2.shape
        except Exception as e:
            raise TilingError(path, "cannot read the JPEG 2000 header: %s"
                              % (str(e) or type(e).__name__))
        # the image is the area from (XOsiz, YOsiz) to (Xsiz, Ysiz) of the
        # reference grid, and OpenJPEG's regions are in grid coordinates
        # (glymur's shape is (Ysiz, Xsiz): too big by the offset)
        self.x0, self.y0 = siz.xosiz, siz.yosiz
        self.width, self.height = siz.xsiz - siz.xosiz, siz.ysiz - siz.yosiz
        components = shape[2] if len(shape) > 2 else 1
        if components not in (1, 2, 3, 4):
            raise TilingError(path, "a JPEG 2000 image of %d components "
                              "(1 to 4 are read)" % components)
        if set(siz.xrsiz[:components]) != {1} or set(
                siz.yrsiz[:components]) != {1}:
            # OpenJPEG hands out each component at its own sampling (all
            # subsampled alike: smaller than the reference grid), where
            # Pillow fills the grid: auto gives the file to Pillow
            raise UnknownFormat(path, "a JPEG 2000 image with subsampled "
                                "components, which the jp2 engine does not "
                                "read")
        self.channels = 1 if components <= 2 else 3
        self.alpha = components in (2, 4)
        self.bits = max(siz.bitdepth[:components])
        self.background = (grey_background(background) if self.channels == 1
                           else background)
        # the tile grid starts at (XTOsiz, YTOsiz), at or above and left
        # of the image: its first column and row may be cut short
        first_col = min(siz.xtosiz + siz.xtsiz - self.x0, self.width)
        first_row = min(siz.ytosiz + siz.ytsiz - self.y0, self.height)
        tiled = first_col < self.width or first_row < self.height
        # whole rows of stored tiles (bands of the tile height: where the
        # grid does not start at the image's top, a band reads parts of two
        # rows of tiles, which costs only speed)
        self.band = (siz.ytsiz if tiled and siz.ytsiz <= MAX_BAND_ROWS
                     else BAND_ROWS)
        # (left, width) of the regions of a band: a column of stored tiles
        # each
        if tiled:
            edges = list(range(first_col, self.width, siz.xtsiz))
            edges = [0] + edges + [self.width]
        else:
            edges = [0, self.width]
        self.columns = [(a, b - a) for a, b in zip(edges, edges[1:])]
        self.step = max(width for _, width in self.columns)

    def buffer_bytes(self, tile_size):
        # and OpenJPEG's regions being decoded, 32 bits a sample
        regions = self.threads if self.side_by_side else 1
        return super().buffer_bytes(tile_size) + (
            regions * min(self.band, self.height) * min(self.step, self.width)
            * (self.channels + self.alpha) * 4)

    def band_jobs(self, index, out):
        return [functools.partial(self._decode, index * self.band, left,
                                  out[:, left:left + width])
                for left, width in self.columns]

    def _decode(self, top, left, out):
        """(A job) the region at (left, top) of out's size into ``out``."""
        import numpy as np
        height, width = out.shape[:2]
        if self.side_by_side:
            said, region = self._read(top, left, height, width)
        else:
            with _decode_lock, warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always")
                try:
                    region = self._region(self.jp2, top, left, height,
                                          width)
                except Exception as e:
                    said.append(e)
                    region = None
        if said and not self.lenient:
            raise DamagedImage(self.path, first_line(said[0]))
        if region is None:
            out[:] = 0   # lenient: what cannot be decoded is black
            return
        if region.ndim == 2:
            region = region[..., None]
        if region.dtype != np.uint8 or self.bits != 8:
            # keep the top 8 of the image's bits
            shift = max(0, self.bits - 8)
            region = (region.astype(np.uint32) >> shift).clip(
                0, 255).astype(np.uint8)
        if self.alpha:
            region = flatten(region, self.background)
        out[:] = region

    def _region(self, jp2, top, left, height, width):
        """The image's region at (left, top), read from the grid."""
        top, left = top + self.y0, left + self.x0
        return jp2[top:top + height, left:left + width]

    def _read(self, top, left, height, width):
        """(what OpenJPEG said, the region or None) with this thread's own
        reader: a glymur.Jp2k keeps the state of its last read."""
        import glymur
        jp2 = getattr(self.local, "jp2", None)
        if jp2 is None:
            with _decode_lock, warnings.catch_warnings():
                warnings.simplefilter("ignore")   # said when first opened
                jp2 = self.local.jp2 = glymur.Jp2k(self.path)
        _said.lines = said = []
        try:
            return said, self._region(jp2, top, left, height, width)
        except Exception as e:
            said.append(str(e) or type(e).__name__)
            return said, None
        finally:
            _said.lines = None
