"""The tiff engine: tiled or compressed TIFF and BigTIFF (JPEG, LZW,
deflate, zstd, ...; strips or tiles) read with tifffile and imagecodecs.

The file's own rows of tiles (or strips) are the unit: each stored tile
is read and decoded once, by a small pool of threads (the codecs let go
of the GIL), into one row of stored tiles kept for the bands that fall
in it. Memory is one such row, whatever the image's height.

Only the first page (the full resolution) is read: the pyramid's tiers
are our own box means, not the file's reduced levels.
"""

import os
from concurrent.futures import ThreadPoolExecutor

from ..errors import DamagedImage, TilingError
from .base import BandSource, UnknownFormat, flatten, grey_background

# what this engine decodes exactly; anything else goes to another engine
PHOTOMETRICS = {0: "miniswhite", 1: "minisblack", 2: "rgb", 6: "ycbcr"}


def tiff_available():
    try:
        import imagecodecs  # noqa: F401
        import tifffile  # noqa: F401
    except ImportError:
        return False
    return True


class TiffSource(BandSource):

    engine = "tiff"
    MODES = {1: "L", 3: "RGB"}   # packed rows, as numpy makes them

    def __init__(self, path, background, lenient=False, threads=2):
        import tifffile
        self.path = path
        self.lenient = lenient
        self.pool = None
        self.fd = None
        self.buffer = None       # one band of our own rows
        self.ahead = None        # (index, rows, jobs) of the band decoding
        self.row = None          # the rows of the band in hand
        self.row_index = -1
        try:
            self.tif = tifffile.TiffFile(path)
        except Exception as e:
            raise UnknownFormat(path, "not a TIFF that tifffile reads (%s)"
                                % e)
        try:
            self._check(self.tif.pages[0], background)
            self.fd = os.open(path, os.O_RDONLY)
            self.threads = max(1, threads)
            self.pool = ThreadPoolExecutor(self.threads,
                                           thread_name_prefix="zoomify-tiff")
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

    def band_rows(self, tile_size):
        return min(tile_size, self.band)

    def read_into(self, memory, top, rows):
        # each band of stored tiles is decoded ahead, into a buffer of our
        # own, while the pyramid encodes the band before: the pyramid's
        # buffer is only free once its tiles are encoded, and decoding
        # into it would wait for that (measured: decode and encode then
        # take turns, and each turn waits for its slowest thread)
        import numpy as np
        out = np.frombuffer(memory, np.uint8).reshape(
            rows, self.width, self.channels)
        y = top
        while y < top + rows:
            index, offset = divmod(y, self.band)
            if index != self.row_index:
                self._take(index)
            n = min(top + rows - y, self.row.shape[0] - offset)
            out[y - top:y - top + n] = self.row[offset:offset + n]
            y += n
            if offset + n == self.row.shape[0]:
                self._start(index + 1)   # this band is used up

    def _start(self, index):
        """Start decoding our band ``index`` into the buffer."""
        import numpy as np
        top = index * self.band
        if top >= self.height:
            return
        if self.buffer is None:
            self.buffer = np.empty((self.band, self.width, self.channels),
                                   np.uint8)
        out = self.buffer[:min(self.band, self.height - top)]
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
        self.ahead = (index, out, [
            self.pool.submit(self._decode_tiles, tiles[i:i + size])
            for i in range(0, len(tiles), size)])

    def _take(self, index):
        """Wait for our band ``index`` (started now if it was not)."""
        if self.ahead is None or self.ahead[0] != index:
            self._finish()
            self._start(index)
        index, out, jobs = self.ahead
        self.ahead = None
        for job in jobs:
            job.result()
        self.row, self.row_index = out, index

    def _finish(self):
        """Let a decode started ahead run out (it writes into the
        buffer)."""
        if self.ahead is not None:
            for job in self.ahead[2]:
                job.cancel()
            for job in self.ahead[2]:
                if not job.cancelled():
                    job.exception()
            self.ahead = None

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
        self._finish()
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.row = self.buffer = None
        if getattr(self, "tif", None) is not None:
            self.tif.close()
            self.tif = None
