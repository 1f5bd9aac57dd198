"""The slide engine: whole-slide images (Aperio .svs, Hamamatsu .ndpi,
Leica .scn, MIRAX .mrxs, Philips TIFF, Ventana .bif, generic tiled TIFF
and the other formats OpenSlide reads) through openslide-python, with the
OpenSlide library of the openslide-bin wheel (the 'slide' extra).

Level 0 (the full resolution) is read in bands a band ahead (ahead.py),
each band as a few regions side by side read on two threads (OpenSlide
lets go of the GIL). The pyramid's tiers are our own box means, not the
slide's levels. Where the slide has no data (between scanned regions)
OpenSlide gives transparent pixels: they get the background colour.
"""

import ctypes
import functools
import os
import sys

from ..errors import DamagedImage
from ..errors import TilingError
from .ahead import AheadSource
from .base import UnknownFormat

BAND_ROWS = 256
REGION = 2048             # columns of one read_region
# files OpenSlide may read besides TIFFs (whose vendor it finds inside)
EXTENSIONS = {".svs", ".ndpi", ".vms", ".vmu", ".scn", ".mrxs", ".svslide",
              ".bif", ".dcm", ".tif", ".tiff"}


def slide_available():
    try:
        import openslide  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def slide_vendor(path):
    """OpenSlide's name of the file's format (None if it reads none)."""
    import openslide
    try:
        return openslide.OpenSlide.detect_format(path)
    except Exception:
        return None


def might_be_slide(path, is_tiff):
    """Whether OpenSlide should be asked about the file. A TIFF only
    where its first directory has a mark of a vendor's slide (a plain
    TIFF is generic-tiff to OpenSlide, the tiff engine's): loading
    OpenSlide costs peak memory (benchmarks/README.txt, note
    slide-load)."""
    if is_tiff:
        return vendor_marks(path)
    return os.path.splitext(path)[1].lower() in EXTENSIONS


def vendor_marks(path):
    """Whether a TIFF's first directory has what OpenSlide looks for in
    the TIFF-based slides: Aperio's and the XML image descriptions
    (Leica, Philips), Hamamatsu's NDPI tag, Trestle's software name,
    XMP (Ventana). True where the tags cannot be read: OpenSlide
    decides."""
    from .pillow import pillow_open
    try:
        with pillow_open(path) as im:
            tags = im.tag_v2
            description = str(tags.get(270) or "").lstrip()
            software = str(tags.get(305) or "")
            return (65420 in tags or 700 in tags
                    or description.startswith(("Aperio", "<"))
                    or software.startswith("MedScan"))
    except Exception:
        return True


class SlideSource(AheadSource):

    engine = "slide"

    def __init__(self, path, background, lenient=False, threads=2):
        import openslide
        self.path = path
        self.lenient = lenient
        self.threads = max(1, threads)
        self.background = background
        self.slide = None
        if slide_vendor(path) is None:
            raise UnknownFormat(path, "not a slide that OpenSlide reads")
        if sys.byteorder != "little":
            raise UnknownFormat(path, "the slide engine reads OpenSlide's "
                                "pixels as a little-endian machine has them")
        try:
            self.slide = openslide.OpenSlide(path)
            # bands follow rows of tiles top to bottom: nothing is read
            # twice, and OpenSlide's tile cache would only hold memory
            self.slide.set_cache(openslide.OpenSlideCache(0))
            self.width, self.height = self.slide.level_dimensions[0]
        except Exception as e:
            raise TilingError(path, "cannot read the slide: %s"
                              % (str(e) or type(e).__name__))
        self.channels = 3
        self.band = BAND_ROWS

    def buffer_bytes(self, tile_size):
        # and each thread's region, copied three times on its way out
        return super().buffer_bytes(tile_size) + (
            self.threads * min(self.band, self.height)
            * min(REGION, self.width) * 4 * 3)

    def band_jobs(self, index, out):
        # regions of REGION columns: each is copied three times on its
        # way out of OpenSlide (ARGB, RGBA, numpy), so they stay small
        top = index * self.band
        step = REGION
        return [functools.partial(self._read, left, top,
                                  out[:, left:left + step])
                for left in range(0, self.width, step)]

    def _read(self, left, top, out):
        """(A job) level 0 region (left, top, out's size) into ``out``."""
        import numpy as np
        height, width = out.shape[:2]
        try:
            argb = self._read_argb(left, top, width, height)
        except Exception as e:
            if not self.lenient:
                raise DamagedImage(self.path, str(e) or type(e).__name__)
            out[:] = 0
            return
        # OpenSlide's pixels: premultiplied ARGB words, in memory B G R A
        # on a little-endian machine. One channel at a time: numpy copies
        # the three reversed at once byte by byte, several times slower
        # (benchmarks/README.txt, note slide-channels)
        pixels = argb.view(np.uint8).reshape(height, width, 4)
        if argb.min() >= 0xFF000000:   # every alpha (the top byte) 255
            for c in range(3):
                out[..., c] = pixels[..., 2 - c]
            return
        # premultiplied: the colour is already scaled by alpha
        clear = 255 - pixels[..., 3].astype(np.uint16)
        for c in range(3):
            out[..., c] = pixels[..., 2 - c] + (
                clear * self.background[c] + 127) // 255

    def _read_argb(self, left, top, width, height):
        """A region as OpenSlide makes it, straight into a numpy array
        (openslide-python's read_region makes a Pillow image of it,
        un-premultiplies and copies it twice, holding the GIL)."""
        import numpy as np
        from openslide import lowlevel
        argb = np.empty((height, width), np.uint32)
        lowlevel._read_region(self.slide._osr,
                              argb.ctypes.data_as(
                                  ctypes.POINTER(ctypes.c_uint32)),
                              left, top, 0, width, height)
        return argb

    def close(self):
        super().close()
        if self.slide is not None:
            self.slide.close()
            self.slide = None
