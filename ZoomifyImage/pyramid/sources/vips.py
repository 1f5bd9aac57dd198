"""The vips engine: libvips (pyvips) decodes any format it reads,
sequentially, and each band is a crop of the decoded image written
straight into the pyramid's memory."""

import fcntl
import os
import re
import select
import threading
import time

from ..errors import DamagedImage
from ..errors import TilingError
from .base import BandSource
from .base import UnknownFormat
from .base import Unsupported
from .base import grey_background
from .heif import way_out
from .identify import tiff_compression
from .identify import tiff_compression_name
from .identify import tiff_first_segment_bytes

# TIFF compressions that every libtiff decodes (none, CCITT, LZW, JPEG,
# deflate, PackBits) or that libvips' own builds carry (LZMA, zstd, WebP);
# for any other the first pixel is decoded when the file is opened (where
# its strip or tile is under PROBE_BYTES decoded), so that a codec libtiff
# was built without is found while another engine can still read the file
COMMON_TIFF = {1, 2, 3, 4, 5, 7, 8, 32946, 32773, 34925, 50000, 50001}
PROBE_BYTES = 64 << 20
# Bytes a pixel that a loader keeps of a file it decodes whole before
# libvips hands out its first row, rounded up from the peaks measured
# (benchmarks/README.txt, note whole-decode): libheif's HEIF,
HEIF_PIXEL_BYTES = 15
# a GIF (libnsgif's RGBA frame) and a WebP (libwebp's RGBA and a copy);
# and a progressive JPEG (libjpeg keeps every DCT coefficient, 2 bytes a
# sample) and an interlaced PNG (a byte a sample), by their sampling
GIF_PIXEL_BYTES = 5
WEBP_PIXEL_BYTES = 9
CHROMA_SHARE = {"4:2:0": 0.25, "4:1:1": 0.25, "4:2:2": 0.5}


def _field(image, name):
    return image.get(name) if image.get_typeof(name) else None


def whole_decode_bytes(image):
    """The bytes the loader of ``image`` keeps because it decodes the whole
    image before the first row; 0 for a loader that streams."""
    loader = image.get("vips-loader")
    pixels = image.width * image.height
    for prefix, per_pixel in (("heifload", HEIF_PIXEL_BYTES),
                              ("gifload", GIF_PIXEL_BYTES),
                              ("webpload", WEBP_PIXEL_BYTES)):
        if loader.startswith(prefix):
            return per_pixel * pixels
    if not _field(image, "interlaced"):
        return 0
    if loader.startswith("jpegload"):
        share = CHROMA_SHARE.get(_field(image, "jpeg-chroma-subsample"), 1)
        return int(2 * pixels * (1 + (image.bands - 1) * share))
    if loader.startswith("pngload"):
        sample = 2 if image.format in ("ushort", "short") else 1
        return pixels * image.bands * sample
    return 0


def vips_available():
    try:
        import pyvips  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


class VipsSource(BandSource):
    """libvips decodes the file sequentially; each band is a crop of it.

    The file is read through a custom source (our own reads), not mapped
    whole into memory, which keeps the peak memory flat for big files.
    Colour rows come as libvips makes them, 3 bytes a pixel ("RGB"
    packed): a quarter less memory than Pillow's RGBX, and less work for
    libvips than adding a fourth band.
    """

    engine = "vips"
    # rows: a multiple of the strips libvips' sequential loaders read in
    STRIP = 64
    # the tiles are encoded from numpy views of the tiers where
    # imagecodecs is installed: no unpacking into a Pillow image per tile
    # and little Python holding the GIL (benchmarks/README.txt, note
    # vips-arrays)
    arrays = True
    # libvips decodes on its own thread: while the tiles of one row are
    # cut from the first buffer it goes on into the second, instead of
    # waiting for them (benchmarks/README.txt, note vips-two-buffers)
    top_buffers = 2
    MODES = {1: "L", 3: "RGB"}

    def __init__(self, path, background, lenient=False):
        import pyvips
        # libvips' operation cache would keep every band we fetched
        pyvips.cache_set_max(0)
        self.pyvips = pyvips
        self.path = path
        self.lenient = lenient
        # "warning": libjpeg only warns about corrupt data and makes up
        # the pixels; "none" tiles whatever the decoders make of a file
        self.fail_on = "none" if lenient else "warning"
        self.one_worker = False
        self.whole_tile_rows = False
        self.pipe = None
        self.file = open(path, "rb")
        try:
            # one libvips worker: the JPEG decoder runs on one thread
            # anyway, and libvips sizes its strip caches by the number of
            # workers when the image is opened: less memory, no slower
            # (benchmarks/README.txt, note vips-one-worker)
            one_worker(pyvips, True)
            self.one_worker = True
            image = self._load("sequential")
            orientation = self._orientation(image)
            if image.get("vips-loader").startswith("tiffload"):
                # TIFF strips are read on demand in random mode, without
                # decoding the rest; sequential mode fails on our bands
                # ("out of order read") when strips and bands disagree
                image = self._load("random")
                self.whole_tile_rows = True
                if orientation not in (0, 1):
                    image = image.autorot()
            elif orientation not in (0, 1):
                # rotating needs random access: libvips decodes to a
                # temporary buffer (memory or disc) before it can turn it
                image = self._load("random").autorot()
            self.image = self._to_output(image, background)
            if self._codec_in_doubt(image):
                # libtiff decodes with codecs that a build may lack, which
                # shows only at the first pixel: ask for it now, while
                # another engine can still take the file
                self.pyvips.Operation.call("crop", self.image, 0, 0, 1,
                                           1).avg()
        except BaseException as e:
            self.close()
            if not isinstance(e, pyvips.Error):
                raise
            message = vips_message(e)
            if "not a known" in message or "not in a known" in message:
                raise UnknownFormat(path, "not an image file, or a format "
                                    "that libvips cannot read")
            problem = unsupported_problem(path, e)
            if problem:
                raise Unsupported(path, problem)
            if not lenient and self._opens_leniently():
                raise DamagedImage(path, message)
            raise TilingError(path, "cannot read the image: %s" % message)
        self.width = self.image.width
        self.height = self.image.height
        self.channels = self.image.bands
        # what the loader keeps of a file it decodes whole (issue 23: the
        # budget counted a HEIF's only; benchmarks/README.txt, note
        # whole-decode)
        self.whole_bytes = whole_decode_bytes(image)
        self.streaming = not self.whole_bytes
        self.line = self.width * self.channels   # bytes a row
        self.carry = None      # rows decoded beyond the last read's end

    def band_rows(self, tile_size):
        if self.whole_tile_rows:
            # each band is a new pipeline, and libvips keeps no TIFF tile
            # from one to the next: bands of a quarter tile decoded each
            # stored tile 4 times (benchmarks/README.txt, note
            # vips-tile-rows)
            return tile_size
        return super().band_rows(tile_size)

    def buffer_bytes(self, tile_size):
        # a band: the region libvips crops it into, the rows carried
        # over, and the sequential loaders' cache of lines
        band = 3 * min(self.band_rows(tile_size), self.height) * self.line
        if not self.streaming:
            band += self.whole_bytes
        return band

    def _load(self, access):
        pyvips = self.pyvips
        try:
            if access == "sequential" and self._is_jpeg():
                return self._load_from_pipe()
            return self._load_from_source(access)
        except pyvips.Error:
            # some loaders (PPM, for one) only read from a named file
            return pyvips.Image.new_from_file(self.path, access=access,
                                              fail_on=self.fail_on)

    def _codec_in_doubt(self, image):
        # a TIFF of an uncommon compression. Not a HEIF: libheif would
        # decode it whole here, before the size and memory checks (a HEIF
        # of a codec libheif lacks is named when its first band is read)
        if not image.get("vips-loader").startswith("tiffload") or (
                tiff_compression(self.path) in COMMON_TIFF):
            return False
        size = tiff_first_segment_bytes(self.path)
        return size is not None and size <= PROBE_BYTES

    def _opens_leniently(self):
        """Whether libvips reads the header when warnings are let pass:
        then what failed was damaged data."""
        try:
            self.pyvips.Image.new_from_file(self.path, fail_on="none")
        except self.pyvips.Error:
            return False
        return True

    def _is_jpeg(self):
        self.file.seek(0)
        return self.file.read(3) == b"\xff\xd8\xff"

    def _load_from_pipe(self):
        # A JPEG is read front to back: libvips reads it from a pipe that
        # a thread of ours fills. Through a custom source libvips would
        # call back into Python (and wait for the GIL) for every 4 KB,
        # which stalls the decoder while the encoder threads run
        # (benchmarks/README.txt, note vips-pipe); a file source would map
        # the whole file.
        self.pipe = FilePipe(self.path)
        source = self.pyvips.Source.new_from_descriptor(self.pipe.read_fd)
        self._source = source
        return self.pyvips.Image.new_from_source(
            source, "", access="sequential", fail_on=self.fail_on)

    def _load_from_source(self, access):
        pyvips = self.pyvips
        self.file.seek(0)
        source = pyvips.SourceCustom()
        source.on_read(self._read)
        source.on_seek(self._seek)
        self._source = source  # keep the callbacks alive
        return pyvips.Image.new_from_source(source, "", access=access,
                                            fail_on=self.fail_on)

    # The callbacks of the custom source must not raise: cffi would print
    # the traceback on stderr and hand libvips a 0. A damaged file can ask
    # for any offset; libvips takes -1 (and no data) as the error.
    def _read(self, size):
        try:
            return self.file.read(size)
        except (OSError, ValueError):
            return None

    def _seek(self, offset, whence):
        try:
            return self.file.seek(offset, whence)
        except (OSError, ValueError, OverflowError):
            return -1

    @staticmethod
    def _orientation(image):
        if "orientation" in image.get_fields():
            return image.get("orientation")
        return 1

    def _to_output(self, image, background):
        fields = image.get_fields()
        if "icc-profile-data" in fields:
            try:
                image = image.icc_transform("srgb", embedded=True,
                                            intent="relative")
            except self.pyvips.Error:
                pass  # a broken profile: keep the pixels as they are
        elif image.interpretation == "cmyk":
            image = image.colourspace("srgb")
        grey = image.interpretation in ("b-w", "grey16") or (
            image.bands - int(image.hasalpha()) == 1)
        if grey:
            if image.interpretation != "b-w" or image.format != "uchar":
                image = image.colourspace("b-w")
        elif image.interpretation != "srgb" or image.format != "uchar":
            image = image.colourspace("srgb")
        if image.hasalpha():
            bg = grey_background(background) if grey else background
            image = image.flatten(background=list(bg))
        elif image.bands > (1 if grey else 3):
            image = image.extract_band(0, n=1 if grey else 3)
        if image.format != "uchar":
            image = image.cast("uchar")
        return image

    def read_into(self, memory, top, rows):
        """Rows [top, top + rows) into ``memory``.

        A sequential loader reads in strips (a PNG 16 rows, a JPEG 8 or
        16) and cannot go back: a read that ends inside a strip leaves
        the rest of it unreadable by the next read. So reads begin at a
        multiple of STRIP rows; where one must end elsewhere (a tile size
        that is not a multiple of STRIP) the strip it ends in is decoded
        into a small buffer of our own, and its remaining rows are kept
        for the next read. With the usual tile sizes (multiples of 64)
        every read is whole strips and nothing is copied."""
        end = top + rows
        if self.carry is not None:
            # the rows the last read decoded beyond its end: always the
            # rows that this read begins with
            carried, self.carry = self.carry, None
            n = min(rows, len(carried) // self.line)
            memory[:n * self.line] = carried[:n * self.line]
            if n * self.line < len(carried):
                self.carry = carried[n * self.line:]
            top, memory = top + n, memory[n * self.line:]
        whole = end if (self.whole_tile_rows or end == self.height) else (
            end - (end - top) % self.STRIP)
        if whole > top:
            self._decode_into(memory, top, whole - top)
        if whole < end:
            strip_rows = min(self.STRIP, self.height - whole)
            strip = bytearray(strip_rows * self.line)
            self._decode_into(strip, whole, strip_rows)
            n = (end - whole) * self.line
            memory[(whole - top) * self.line:] = memoryview(strip)[:n]
            self.carry = memoryview(strip)[n:]

    def _decode_into(self, memory, top, rows):
        # libvips writes the rows straight into our memory: no band is
        # allocated and nothing is copied on our side
        wait_for_idle_workers()
        out = self.pyvips.Image.new_from_memory(
            memory, self.width, rows, self.image.bands, "uchar")
        try:
            # Operation.call, not image.crop: pyvips looks attributes up
            # as properties first, and that failed lookup clears libvips'
            # error buffer, where a decoder's message waits for the read
            # that fails
            self.pyvips.Operation.call(
                "crop", self.image, 0, top, self.width, rows).write(out)
        except self.pyvips.Error as e:
            problem = unsupported_problem(self.path, e)
            if problem:
                raise TilingError(self.path, problem)
            if self.lenient:
                raise TilingError(self.path, "cannot decode the image: %s"
                                  % vips_message(e))
            raise DamagedImage(self.path, vips_message(e))

    def close(self):
        if self.one_worker:
            one_worker(self.pyvips, False)
            self.one_worker = False
        self.image = None
        self._source = None
        if self.pipe is not None:
            self.pipe.close()
            self.pipe = None
        self.file.close()


def wait_for_idle_workers(limit=0.05):
    """Wait (50 ms at most) until no libvips worker thread is runnable.

    Each read is a new libvips pipeline. A pipeline takes an idle worker
    from libvips' set of threads, or starts a new one when the last worker
    has not yet gone back to sleep, which is what happens when our encoder
    threads keep both cores busy. Each worker keeps about 256 rows'
    worth of buffers, so a second worker costs as much again. Linux only
    (it reads /proc); elsewhere it returns at once. On a busy machine a
    runnable worker can wait several milliseconds for a core, hence the
    50 ms (benchmarks/README.txt, note vips-idle-worker: the memory, the
    cost of the wait, 5 against 50 ms).
    """
    deadline = time.monotonic() + limit
    while True:
        busy = False
        try:
            tasks = os.listdir("/proc/self/task")
        except OSError:
            return
        for tid in tasks:
            try:
                with open("/proc/self/task/%s/stat" % tid, "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            end = stat.rindex(b")")
            if stat[stat.index(b"(") + 1:end] == b"libvips worker" and (
                    stat[end + 2:end + 3] == b"R"):
                busy = True
                break
        if not busy or time.monotonic() > deadline:
            return
        time.sleep(0.0001)


class FilePipe:
    """A pipe that a thread fills with a file's bytes, for libvips to read
    with plain read() calls (no GIL). The thread takes the GIL once per
    chunk, not once per 4 KB."""

    CHUNK = 1 << 20

    def __init__(self, path):
        self.file = open(path, "rb")
        self.read_fd, self.write_fd = os.pipe()
        try:  # Linux: a bigger pipe, fewer wake-ups
            fcntl.fcntl(self.write_fd, 1031, self.CHUNK)  # F_SETPIPE_SZ
        except OSError:
            pass
        # non-blocking, so that close() can stop the thread even while
        # libvips (which keeps its own copy of the read end) reads no more
        os.set_blocking(self.write_fd, False)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._feed, daemon=True,
                                       name="zoomify-feed")
        self.thread.start()

    def _feed(self):
        try:
            chunk = memoryview(bytearray(self.CHUNK))
            while not self.stop.is_set():
                n = self.file.readinto(chunk)
                if not n:
                    break
                view = chunk[:n]
                while view and not self.stop.is_set():
                    select.select([], [self.write_fd], [], 0.1)
                    try:
                        view = view[os.write(self.write_fd, view):]
                    except BlockingIOError:
                        pass
        except OSError:
            pass  # the reader has gone, or the file failed: libvips sees
            # the end of the data and reports a truncated image
        finally:
            os.close(self.write_fd)

    def close(self):
        self.stop.set()
        self.thread.join()
        os.close(self.read_fd)
        self.file.close()


_workers_lock = threading.Lock()
_workers = {"users": 0, "saved": 0}


def one_worker(pyvips, on):
    """Ask libvips for one worker thread while any source is open, and
    give back the previous setting when the last one closes (the setting
    is global to the process)."""
    with _workers_lock:
        if on:
            if _workers["users"] == 0:
                _workers["saved"] = pyvips.concurrency_get()
                pyvips.concurrency_set(1)
            _workers["users"] += 1
        else:
            _workers["users"] -= 1
            if _workers["users"] == 0:
                pyvips.concurrency_set(_workers["saved"])


# libheif asks libvips whether the file reaches each offset it may read,
# and each "no" stays in libvips' error log as "bad seek to N" even when
# the file is read well: never the reason a read failed
SEEK_PROBE = re.compile(r"^[^:]*: bad seek to -?\d+$")
# a codec that libheif (its error codes 3, 4 and 11: unsupported file
# type, unsupported feature, no plugin) or libtiff was built without
HEIF_UNSUPPORTED = re.compile(r"^heif: (.*?) \((3|4|11)\.\d+\)$")
JPEG_UNSUPPORTED = re.compile(r"Unsupported JPEG data precision (\d+)")
TIFF_UNSUPPORTED = re.compile(r"support is not configured|compression "
                              r"method is not configured|decoding is not "
                              r"implemented")


def error_lines(error):
    text = (getattr(error, "detail", None) or str(error)).strip()
    return [line.strip() for line in text.splitlines() if line.strip()]


def vips_message(error):
    lines = error_lines(error)
    real = [line for line in lines if not SEEK_PROBE.match(line)]
    lines = real or lines
    return lines[0] if lines else "unknown libvips error"


def unsupported_problem(path, error):
    """What to tell the user when libvips failed for want of a codec, or
    None."""
    for line in error_lines(error):
        found = HEIF_UNSUPPORTED.match(line)
        if found:
            said = found.group(1).replace("Error while loading plugin: ",
                                          "")
            more = way_out(path)
            return "unsupported format (HEIF): libheif says: %s%s" % (
                said, "; " + more if more else "")
        found = JPEG_UNSUPPORTED.search(line)
        if found:
            return unsupported_jpeg(int(found.group(1)))
        if TIFF_UNSUPPORTED.search(line):
            number = tiff_compression(path)
            if number is None:
                return "unsupported TIFF: %s" % line.split(": ", 1)[-1]
            return "unsupported TIFF compression (%s)" % (
                tiff_compression_name(number))
    return None


def unsupported_jpeg(precision):
    return ("unsupported JPEG (%d-bit samples: libvips and Pillow read "
            "8-bit JPEG only)" % precision)

