"""The tiff engine: tiled or compressed TIFF and BigTIFF (JPEG, LZW,
deflate, zstd, ...; strips or tiles) read with tifffile and imagecodecs.

The file's own rows of tiles (or strips) are the unit: each stored tile
is read and decoded once, by two threads (the codecs let go of the GIL),
into a band of our own a row of stored tiles high, decoded ahead
(ahead.py). Memory is one such row, whatever the image's height.

Only the first page (the full resolution) is read: the pyramid's tiers
are our own box means, not the file's reduced levels.
"""

import functools
import os

from ..errors import DamagedImage
from ..errors import TilingError
from .ahead import AheadSource
from .base import UnknownFormat
from .base import flatten
from .base import grey_background

# what this engine decodes exactly; anything else goes to another engine
PHOTOMETRICS = {0: "miniswhite", 1: "minisblack", 2: "rgb", 6: "ycbcr"}
# none, LZW, JPEG, deflate (two codes), PackBits, LZMA, zstd, WebP, JPEG
# 2000 (Aperio's and the standard code); not old-style JPEG (6)
COMPRESSIONS = {1, 5, 7, 8, 32946, 32773, 34925, 50000, 50001, 33003, 33005,
                34712}


def tiff_available():
    try:
        import imagecodecs  # noqa: F401
        import tifffile  # noqa: F401
    except ImportError:
        return False
    return True


class TiffSource(AheadSource):

    engine = "tiff"

    def __init__(self, path, background, lenient=False, threads=2):
        import tifffile
        self.path = path
        self.lenient = lenient
        self.fd = None
        self.threads = max(1, threads)
        try:
            self.tif = tifffile.TiffFile(path)
        except Exception as e:
            raise UnknownFormat(path, "not a TIFF that tifffile reads (%s)"
                                % e)
        try:
            try:
                page = self.tif.pages[0]
            except Exception as e:   # no first page (a header only)
                raise UnknownFormat(path, "a TIFF without an image that "
                                    "tifffile reads (%s)"
                                    % (str(e) or type(e).__name__))
            self._check(page, background)
            self.fd = os.open(path, os.O_RDONLY)
        except BaseException:
            self.close()
            raise

    def _check(self, page, background):
        """Take the page's layout, or refuse what we would get wrong."""
        problem = None
        tags = page.tags
        orientation = tags.get(274)
        extras = tuple(page.extrasamples or ())
        colours = page.samplesperpixel - len(extras)
        if page.photometric not in PHOTOMETRICS:
            problem = "photometric %s" % page.photometric
        elif page.compression not in COMPRESSIONS:
            problem = "compression %s" % page.compression
        elif page.photometric == 6 and page.compression != 7:
            problem = "YCbCr without JPEG"   # subsampled rows: not here
        elif page.planarconfig != 1:
            problem = "separate colour planes"
        elif page.bitspersample not in (8, 16) or page.sampleformat != 1:
            problem = "%d-bit samples" % page.bitspersample
        elif colours not in (1, 3) or len(extras) > 1:
            problem = "%d samples a pixel" % page.samplesperpixel
        elif orientation is not None and orientation.value != 1:
            problem = "an orientation"
        elif 34675 in tags:
            problem = "a colour profile"   # libvips applies it
        elif page.imagedepth != 1:
            problem = "a depth"
        if problem:
            raise UnknownFormat(self.path, "the tiff engine does not read "
                                "TIFFs with %s" % problem)
        self.page = page
        self.width, self.height = page.imagewidth, page.imagelength
        self.channels = colours
        self.alpha = bool(extras)
        self.background = (grey_background(background) if colours == 1
                           else background)
        if page.is_tiled:
            self.seg_w, self.seg_h = page.tilewidth, page.tilelength
            self.group = 1
        else:
            self.seg_w = self.width
            self.seg_h = min(page.rowsperstrip or self.height, self.height)
            # thin strips are taken a few at a time: fewer, bigger bands
            self.group = max(1, 64 // self.seg_h)
        self.cols = -(-self.width // self.seg_w)
        self.rows = -(-self.height // self.seg_h)
        self.offsets = page.dataoffsets
        self.counts = page.databytecounts
        if len(self.offsets) < self.cols * self.rows:
            raise TilingError(self.path, "the TIFF lists %d of its %d tiles"
                              % (len(self.offsets), self.cols * self.rows))
        self.decode = page.decode
        self.jpegtables = page.jpegtables
        self.band = self.seg_h * self.group   # rows of a band of our own
        if self.group == 1 and self.cols == 1:
            # a band is one strip, one job: decode a band a thread
            self.depth = self.threads

    def band_jobs(self, index, out):
        top = index * self.band
        tiles = []
        for stored in range(index * self.group, (index + 1) * self.group):
            y = stored * self.seg_h - top
            if y >= out.shape[0]:
                break
            height = min(self.seg_h, out.shape[0] - y)
            for col in range(self.cols):
                left = col * self.seg_w
                width = min(self.seg_w, self.width - left)
                tiles.append((stored * self.cols + col,
                              out[y:y + height, left:left + width]))
        # a share of the tiles for each thread: few hand-overs between
        # threads (on a busy machine each wake-up costs)
        size = -(-len(tiles) // self.threads)
        return [functools.partial(self._decode_tiles, tiles[i:i + size])
                for i in range(0, len(tiles), size)]

    def _decode_tiles(self, tiles):
        for number, target in tiles:
            self._decode_tile(number, target)

    def _decode_tile(self, number, target):
        """(A job) one stored tile, read and decoded into ``target``."""
        import numpy as np
        height, width = target.shape[:2]
        count = self.counts[number]
        try:
            data = os.pread(self.fd, count, self.offsets[number])
            if len(data) < count:
                raise ValueError("the file ends inside tile %d" % number)
            tile = self.decode(data, number, jpegtables=self.jpegtables)[0]
            if tile is None:
                raise ValueError("tile %d is missing" % number)
            tile = tile[0, :height, :width]
        except Exception as e:
            if not self.lenient:
                raise DamagedImage(self.path, "tile %d: %s"
                                   % (number, str(e) or type(e).__name__))
            target[:] = 0   # what cannot be decoded: black
            return
        if tile.dtype != np.uint8:
            tile = (tile >> 8).astype(np.uint8)   # keep the top 8 bits
        if self.page.photometric == 0:            # min-is-white grey
            tile = tile.copy()
            tile[..., 0] = 255 - tile[..., 0]
        if self.alpha:
            tile = flatten(tile, self.background)
        target[:] = tile

    def close(self):
        super().close()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if getattr(self, "tif", None) is not None:
            self.tif.close()
            self.tif = None
