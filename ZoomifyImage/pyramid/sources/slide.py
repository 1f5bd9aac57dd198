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

import functools
import os

from ..errors import DamagedImage
from ..errors import TilingError
from .ahead import AheadSource
from .base import UnknownFormat
from .base import flatten

BAND_ROWS = 256
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
    return is_tiff or os.path.splitext(path)[1].lower() in EXTENSIONS


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
        try:
            self.slide = openslide.OpenSlide(path)
            self.width, self.height = self.slide.level_dimensions[0]
        except Exception as e:
            raise TilingError(path, "cannot read the slide: %s"
                              % (str(e) or type(e).__name__))
        self.channels = 3
        self.band = BAND_ROWS

    def band_jobs(self, index, out):
        # a region a thread, cut on tile columns
        top = index * self.band
        step = -(-self.width // self.threads // 256) * 256
        return [functools.partial(self._read, left, top,
                                  out[:, left:left + step])
                for left in range(0, self.width, step)]

    def _read(self, left, top, out):
        """(A job) level 0 region (left, top, out's size) into ``out``."""
        import numpy as np
        height, width = out.shape[:2]
        try:
            region = self.slide.read_region((left, top), 0, (width, height))
        except Exception as e:
            if not self.lenient:
                raise DamagedImage(self.path, str(e) or type(e).__name__)
            out[:] = 0
            return
        out[:] = flatten(np.asarray(region), self.background)

    def close(self):
        super().close()
        if self.slide is not None:
            self.slide.close()
            self.slide = None
