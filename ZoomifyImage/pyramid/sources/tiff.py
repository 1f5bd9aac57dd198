"""The tiff engine: tiled or compressed TIFF and BigTIFF (JPEG, LZW,
deflate, zstd, ...; strips or tiles) read with tifffile and imagecodecs.

The file's own rows of tiles (or strips) are the unit: each stored tile
is read and decoded once, on two threads (the codecs let go of the GIL).
Where every row of stored tiles lies within one row of our tiles (tiles
or strips whose height divides the tile size: the usual 256 or 512 px
tiles, strips of 1 to 256 rows), the pyramid's own threads decode them
straight into its top buffer (job_rows, read_jobs): no band of our own,
and with the band of the old way (decoded ahead into a buffer of its
own, ahead.py, still used for the other layouts) went a band of peak
memory (benchmarks/README.txt, note tiff-direct). LZW and deflate strips
of 8-bit samples are decoded by libtiff straight into our rows, faster
than the LZW codec tifffile uses (note tiff-libtiff). Memory does not
grow with the image's height.

Only the first page (the full resolution) is read: the pyramid's tiers
are our own box means, not the file's reduced levels.
"""

import functools
import os
import struct
import threading

from ..errors import DamagedImage
from ..errors import TilingError
from .ahead import AheadSource
from .base import UnknownFormat
from .base import flatten
from .base import grey_background
from .identify import tiff_compression_name

# what this engine decodes exactly; anything else goes to another engine
PHOTOMETRICS = {0: "miniswhite", 1: "minisblack", 2: "rgb", 6: "ycbcr"}
# none, LZW, JPEG, deflate (two codes), PackBits, LZMA, zstd, WebP, JPEG
# 2000 (Aperio's and the standard code), LERC, PNG, JPEG XR, JPEG XL (two
# codes), where imagecodecs has the codec; not old-style JPEG (6), whose
# many variants Pillow's libtiff reads
COMPRESSIONS = {1, 5, 7, 8, 32946, 32773, 34925, 50000, 50001, 33003, 33005,
                34712, 34887, 34933, 34934, 50002, 52546}

# compressions whose strips libtiff decodes for us (LZW, deflate)
LIBTIFF = {5, 8, 32946}


def strip_header(width, rows, channels, compression, predictor, size):
    """A little-endian classic TIFF header and directory for one strip of
    ``size`` bytes that follows it: 8-bit unsigned samples, contiguous,
    grey (1 channel) or RGB (3)."""
    # (tag, type, count, value): type 3 SHORT, 4 LONG
    extra = struct.pack("<%dH" % channels, *[8] * channels) \
        if channels > 1 else b""
    entries = 11
    extra_at = 8 + 2 + 12 * entries + 4
    data_at = extra_at + len(extra)
    tags = [(256, 4, 1, width), (257, 4, 1, rows),
            (258, 3, channels, extra_at if channels > 1 else 8),
            (259, 3, 1, compression), (262, 3, 1, 1 if channels == 1 else 2),
            (273, 4, 1, data_at), (277, 3, 1, channels), (278, 4, 1, rows),
            (279, 4, 1, size), (284, 3, 1, 1), (317, 3, 1, predictor)]
    assert len(tags) == entries
    return b"".join([b"II*\x00", struct.pack("<IH", 8, entries)]
                    + [struct.pack("<HHII", *tag) for tag in tags]
                    + [b"\x00" * 4, extra])


def decodes(compression):
    """Whether tifffile has a decoder for the compression here (some of
    imagecodecs' codecs are optional)."""
    from tifffile import TIFF
    try:
        TIFF.DECOMPRESSORS[compression]
    except KeyError:
        return False
    return True


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
        elif page.compression not in COMPRESSIONS or not decodes(
                page.compression):
            raise UnknownFormat(self.path, "unsupported TIFF compression "
                                "(%s) for the tiff engine"
                                % tiff_compression_name(
                                    int(page.compression)))
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
        self.scratch = threading.local()
        # LZW and deflate strips of 8-bit samples: libtiff decodes each
        # straight into our rows (faster than the codecs tifffile uses for
        # LZW, benchmarks/README.txt note tiff-libtiff; no array of its
        # own)
        self.libtiff = (not page.is_tiled and page.compression in LIBTIFF
                        and page.predictor in (1, 2)
                        and page.bitspersample == 8 and not self.alpha
                        and page.photometric in (1, 2)
                        and page.fillorder == 1)
        self.jpegtables = page.jpegtables
        self.band = self.seg_h * self.group   # rows of a band of our own
        if self.group == 1 and self.cols == 1:
            # a band is one strip, one job: decode a band a thread
            self.depth = self.threads

    def job_rows(self, tile_size):
        # where every row of stored tiles (or strip) lies in one row of
        # our tiles, the rows are decoded straight into the pyramid's top
        # buffer by the encoder's threads: no band of our own
        if tile_size % self.seg_h == 0:
            return tile_size
        return None

    def buffer_bytes(self, tile_size):
        if self.job_rows(tile_size) is None:
            return super().buffer_bytes(tile_size)
        # no band of our own: each thread's strip of file bytes
        return (self.threads * min(self.seg_h, self.height) * self.width
                * self.channels)

    def read_jobs(self, memory, top, rows):
        import numpy as np
        out = np.frombuffer(memory, np.uint8).reshape(
            rows, self.width, self.channels)
        # small jobs (a few stored tiles each, or a strip): they share the
        # encoder's queue with the jobs that shrink and encode, and a
        # thread that runs late (a busy machine) leaves the other less
        # to wait for
        tiles = self._segments(top, out)
        size = max(1, min(8, len(tiles) // (4 * self.threads)))
        return [functools.partial(self._decode_tiles, tiles[i:i + size])
                for i in range(0, len(tiles), size)]

    def band_jobs(self, index, out):
        return self._jobs(self._segments(index * self.band, out))

    def _segments(self, top, out):
        """(number, target) of the stored tiles (or strips) that make rows
        [top, top + len(out)) of ``out`` (top: where a row of them
        starts)."""
        tiles = []
        first = top // self.seg_h
        for stored in range(first, first + -(-out.shape[0] // self.seg_h)):
            y = stored * self.seg_h - top
            height = min(self.seg_h, out.shape[0] - y)
            for col in range(self.cols):
                left = col * self.seg_w
                width = min(self.seg_w, self.width - left)
                tiles.append((stored * self.cols + col,
                              out[y:y + height, left:left + width]))
        return tiles

    def _jobs(self, tiles):
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
            if self.libtiff and target.flags.c_contiguous:
                self._libtiff_strip(number, target)
                return
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

    def _libtiff_strip(self, number, target):
        """Decode strip ``number`` with libtiff into ``target`` (its rows
        x width x channels, contiguous): the strip's bytes are read in
        behind a TIFF header of their own that says what the file's first
        page says."""
        import imagecodecs
        rows, width, channels = target.shape
        page = self.page
        count = self.counts[number]
        header = strip_header(width, rows, channels, page.compression,
                              page.predictor, count)
        # each thread reads into a buffer of its own that it keeps: a
        # new one for every strip left megabytes behind in the
        # allocator's arena of each thread
        data = getattr(self.scratch, "data", None)
        if data is None or len(data) < len(header) + count:
            # the old one goes first (both at once were a peak of their
            # own), and the new one has room for somewhat bigger strips
            data = self.scratch.data = None
            data = self.scratch.data = bytearray(
                (len(header) + count) * 9 // 8)
        view = memoryview(data)[:len(header) + count]
        view[:len(header)] = header
        if os.preadv(self.fd, [view[len(header):]],
                     self.offsets[number]) < count:
            raise ValueError("the file ends inside strip %d" % number)
        imagecodecs.tiff_decode(view, out=target.reshape(
            (rows, width, channels) if channels > 1 else (rows, width)))

    def close(self):
        super().close()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if getattr(self, "tif", None) is not None:
            self.tif.close()
            self.tif = None
