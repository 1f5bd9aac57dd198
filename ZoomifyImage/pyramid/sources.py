"""Strip readers: open an image file and hand out full-width bands of rows.

Every source yields Pillow images of full-width bands of rows, top to
bottom, already converted to what the tiles need: 8-bit sRGB in mode
"RGBX" (Pillow's own memory layout for colour) or 8-bit greyscale in mode
"L", EXIF orientation applied, transparency flattened over the background
colour.

Two engines:
- ``vips`` (pyvips): any format libvips reads, decoded sequentially.
- ``pillow``: streams the formats whose rows sit uncompressed in the file
  (PPM/PGM, uncompressed BMP, uncompressed stripped TIFF) by reading only
  the rows of each band; any other format is decoded whole, which is only
  allowed under a pixel budget.
"""

import fcntl
import io
import os
import select
import stat
import threading
import time

from PIL import Image, ImageCms, UnidentifiedImageError

from .errors import DamagedImage, TilingError

DEFAULT_MAX_MEGAPIXELS = 20000        # any engine: a decompression bomb guard
DEFAULT_WHOLE_DECODE_MEGAPIXELS = 100  # pillow engine, formats it cannot stream

GREY_MODES = {"1", "L", "LA", "La", "I", "F"}


class UnknownFormat(TilingError):
    """libvips has no loader for the file."""


def vips_available():
    try:
        import pyvips  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def open_source(path, engine="auto", background=(255, 255, 255),
                max_megapixels=DEFAULT_MAX_MEGAPIXELS,
                whole_decode_megapixels=DEFAULT_WHOLE_DECODE_MEGAPIXELS,
                lenient=False):
    """Open ``path`` with the chosen engine; raise TilingError if unfit.

    Damaged data raises DamagedImage, when the file is opened or when its
    rows are read; a ``lenient`` source tiles what the decoders make of
    it instead.
    """
    check_readable_file(path)
    if not lenient:
        check_tiff_complete(path)
    if engine == "auto":
        source = None
        if is_tiff(path) and vips_available():
            # an uncompressed TIFF streams from its rows: Pillow reads it
            # in about half the time and memory of libvips (measured);
            # libvips takes every other TIFF
            try:
                source = PillowSource(path, background, 0, lenient)
            except TilingError:
                source = None
            if source is not None and not source.streaming:
                source.close()
                source = None
        if source is None and vips_available():
            try:
                source = VipsSource(path, background, lenient)
            except UnknownFormat:
                pass  # libvips lacks a loader for it (PPM, BMP): try Pillow
        if source is None:
            source = PillowSource(path, background, whole_decode_megapixels,
                                  lenient)
    elif engine == "vips":
        if not vips_available():
            raise TilingError(path, "the vips engine needs pyvips: "
                              "install the 'vips' extra (pip install "
                              "'ZoomifyImage[vips]')")
        source = VipsSource(path, background, lenient)
    elif engine == "pillow":
        source = PillowSource(path, background, whole_decode_megapixels,
                              lenient)
    else:
        raise TilingError(path, "unknown engine %r (auto, vips or pillow)"
                          % (engine,))
    try:
        check_size(path, source.width, source.height, max_megapixels)
    except TilingError:
        source.close()
        raise
    return source


def check_readable_file(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise TilingError(path, "no such file")
    except OSError as e:
        raise TilingError(path, "cannot read the file (%s)" % e.strerror)
    if not stat.S_ISREG(st.st_mode):
        raise TilingError(path, "not a regular file")
    if st.st_size == 0:
        raise TilingError(path, "the file is empty")
    if not os.access(path, os.R_OK):
        raise TilingError(path, "cannot read the file (permission denied)")


def is_tiff(path):
    with open(path, "rb") as f:  # classic TIFF or BigTIFF
        return f.read(4) in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def check_tiff_complete(path):
    """Refuse a TIFF whose strips or tiles run past the end of the file.

    libtiff only warns about a truncated TIFF and libvips then hands out
    black rows: check the layout that the header declares instead.
    """
    if not is_tiff(path):
        return
    try:
        with pillow_open(path) as im:
            tags = im.tag_v2
            offsets = tags.get(273) or tags.get(324)
            counts = tags.get(279) or tags.get(325)
    except TilingError:
        return  # the engine reports what it makes of the file
    if not offsets or not counts:
        return
    end = max(o + c for o, c in zip(offsets, counts))
    size = os.path.getsize(path)
    if end > size:
        raise DamagedImage(path, "the TIFF is truncated: its image data "
                           "runs to byte %d but the file has %d bytes"
                           % (end, size))


def check_size(path, width, height, max_megapixels):
    if width < 1 or height < 1:
        raise TilingError(path, "the image has a zero side (%dx%d)"
                          % (width, height))
    if max_megapixels and width * height > max_megapixels * 1e6:
        raise TilingError(
            path, "the image is %dx%d, %.0f megapixels, over the limit of "
            "%s megapixels (a decompression bomb guard; raise max-megapixels "
            "if the image is genuine)"
            % (width, height, width * height / 1e6, max_megapixels))


def flatten(rgba, background):
    """Blend an (n, w, c+1) array with alpha over a background colour."""
    # numpy only where it is needed: importing it costs about 10 MB
    import numpy as np
    colour = rgba[..., :-1].astype(np.uint16)
    alpha = rgba[..., -1:].astype(np.uint16)
    bg = np.array(background, dtype=np.uint16)
    out = colour * alpha + bg * (255 - alpha) + 127
    out //= 255
    return out.astype(np.uint8)


def pixels(image):
    import numpy as np
    return np.asarray(image)


def grey_background(background):
    r, g, b = background
    return (round(0.299 * r + 0.587 * g + 0.114 * b),)


# bytes a pixel, by layout of rows: Pillow's "L" and "RGBX", packed "RGB"
PIXEL_BYTES = {"L": 1, "RGB": 3, "RGBX": 4}


def image_on(memory, mode, width, rows):
    """A Pillow image whose pixels are ``memory`` (a writable buffer of
    rows x width pixels in Pillow's own layout for ``mode``): writing into
    either shows in both, nothing is copied."""
    image = Image.frombuffer(mode, (width, rows), memory, "raw", mode, 0, 1)
    # Pillow marks mapped images read-only and would copy them on the
    # first paste; this memory is ours and writing into it is the point
    image.readonly = 0
    return image


class BandSource:
    """Base: width, height, channels (1 or 3), read_into(), close()."""

    # mode of the rows handed out, by channels
    MODES = {1: "L", 3: "RGBX"}

    width = height = 0
    channels = 3
    streaming = True

    @property
    def mode(self):
        return self.MODES[self.channels]

    @property
    def pixel_bytes(self):
        return PIXEL_BYTES[self.mode]

    def band_rows(self, tile_size):
        """How many rows to read at a time: a quarter tile keeps the
        reading buffers small (libvips' grow with the band height) and is
        about as fast as a whole tile."""
        return max(16, tile_size // 4)

    def read_into(self, memory, top, rows):
        """Write rows [top, top + rows) into ``memory``, a writable buffer
        of rows x width pixels in the layout of ``self.mode``: Pillow's for
        "L" and "RGBX", 3 bytes a pixel for "RGB".

        Rows are asked for top to bottom, each once.
        """
        raise NotImplementedError

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------- vips

class VipsSource(BandSource):
    """libvips decodes the file sequentially; each band is a crop of it.

    The file is read through a custom source (our own reads), not mapped
    whole into memory, which keeps the peak memory flat for big files.
    Colour rows come as libvips makes them, 3 bytes a pixel ("RGB"
    packed): a quarter less memory than Pillow's RGBX, and less work for
    libvips than adding a fourth band.
    """

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
        self.pipe = None
        self.file = open(path, "rb")
        try:
            # one libvips worker: the JPEG decoder runs on one thread
            # anyway, and libvips sizes its strip caches by the number of
            # workers when the image is opened (measured at width 30000:
            # 25 MB less, no slower)
            one_worker(pyvips, True)
            self.one_worker = True
            image = self._load("sequential")
            orientation = self._orientation(image)
            if image.get("vips-loader").startswith("tiffload"):
                # TIFF strips are read on demand in random mode, without
                # decoding the rest; sequential mode fails on our bands
                # ("out of order read") when strips and bands disagree
                image = self._load("random")
                if orientation not in (0, 1):
                    image = image.autorot()
            elif orientation not in (0, 1):
                # rotating needs random access: libvips decodes to a
                # temporary buffer (memory or disc) before it can turn it
                image = self._load("random").autorot()
            self.image = self._to_output(image, background)
        except BaseException as e:
            self.close()
            if not isinstance(e, pyvips.Error):
                raise
            message = vips_message(e)
            if "not a known" in message or "not in a known" in message:
                raise UnknownFormat(path, "not an image file, or a format "
                                    "that libvips cannot read")
            if not lenient and self._opens_leniently():
                raise DamagedImage(path, message)
            raise TilingError(path, "cannot read the image: %s" % message)
        self.width = self.image.width
        self.height = self.image.height
        self.channels = self.image.bands

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
        # which stalls the decoder while the encoder threads run (measured:
        # 6x slower under load); a file source would map the whole file.
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


def wait_for_idle_workers(limit=0.005):
    """Wait (5 ms at most) until no libvips worker thread is runnable.

    Each read is a new libvips pipeline. A pipeline takes an idle worker
    from libvips' set of threads, or starts a new one when the last worker
    has not yet gone back to sleep, which is what happens when our encoder
    threads keep both cores busy. Each worker keeps about 25 MB of
    buffers at width 30000 (measured: about 256 rows' worth), so a second
    worker costs as much again: 145 MB peak instead of 122. Linux only
    (it reads /proc); elsewhere it returns at once. Measured cost: 0.13 s
    in 313 reads.
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


def vips_message(error):
    text = (getattr(error, "detail", None) or str(error)).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "unknown libvips error"


# ------------------------------------------------------------------- pillow

# bits per pixel of the raw modes we can read row by row
RAW_BITS = {
    "1": 1, "1;I": 1, "L": 8, "L;I": 8, "P": 8, "P;1": 1, "P;2": 2, "P;4": 4,
    "RGB": 24, "BGR": 24, "RGBX": 32, "RGBA": 32, "BGRX": 32, "BGRA": 32,
    "RGBa": 32, "CMYK": 32, "CMYK;I": 32, "LA": 16, "PA": 16,
    "I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16,
    "RGB;16B": 48, "RGB;16L": 48, "RGBA;16B": 64, "RGBA;16L": 64,
    "RGBX;16B": 64, "RGBX;16L": 64, "LA;16B": 32,
}

_bomb_lock = threading.Lock()


def pillow_open(path):
    """Image.open without Pillow's own pixel limit: we apply ours."""
    with _bomb_lock:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return Image.open(path)
        except UnidentifiedImageError:
            raise TilingError(path, "not an image file, or a format that "
                              "Pillow cannot read")
        except (OSError, ValueError, SyntaxError) as e:
            raise TilingError(path, "cannot read the image header: %s" % e)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


class PillowSource(BandSource):

    def __init__(self, path, background, whole_decode_megapixels,
                 lenient=False):
        self.path = path
        self.background = background
        self.lenient = lenient
        im = self.im = pillow_open(path)
        self.file = None
        self.whole = None       # the decoded image, when not streaming
        self.raw = bytearray()  # file bytes of the rows being read
        try:
            self.width, self.height = im.size
            if self._orientation(im) in (5, 6, 7, 8):  # turned a quarter
                self.width, self.height = self.height, self.width
            self.channels = 1 if (im.mode in GREY_MODES
                                  or im.mode.startswith("I;")) else 3
            self.icc = self._icc_transform(im)
            self.strips = self._raw_strips(im)
            self.streaming = self.strips is not None
            self.direct = self._can_unpack(im)
            if not self.streaming and whole_decode_megapixels and (
                    self.width * self.height > whole_decode_megapixels * 1e6):
                raise TilingError(
                    path, "the image is %dx%d (%.0f megapixels) in a format "
                    "that Pillow must decode whole, over the limit of %s "
                    "megapixels: install the 'vips' extra (pip install "
                    "'ZoomifyImage[vips]') to tile it with bounded memory"
                    % (self.width, self.height,
                       self.width * self.height / 1e6,
                       whole_decode_megapixels))
            if self.streaming:
                self.file = open(path, "rb")
        except BaseException:
            self.close()
            raise

    def _orientation(self, im):
        try:
            if im.format == "PNG":
                # getexif() decodes a whole PNG to look for an eXIf chunk
                # after the pixels (and a lying header can ask for
                # terabytes): only the one before them counts here
                exif = Image.Exif()
                if im.info.get("exif"):
                    exif.load(im.info["exif"])
                return exif.get(0x0112, 1)
            return im.getexif().get(0x0112, 1)
        except Exception:
            return 1

    def _raw_strips(self, im):
        """The file's row layout if its rows can be read directly, else None.

        A list of (top, bottom, offset, rawmode, stride, orientation).
        """
        if self._orientation(im) not in (0, 1):
            return None
        strips = []
        for tile in im.tile:
            codec, extents, offset, args = tile[0], tile[1], tile[2], tile[3]
            if codec != "raw":
                return None
            if isinstance(args, str):
                args = (args,)
            rawmode = args[0]
            stride = args[1] if len(args) > 1 else 0
            orientation = args[2] if len(args) > 2 else 1
            x0, y0, x1, y1 = extents
            if (x0, x1) != (0, im.size[0]) or rawmode not in RAW_BITS:
                return None
            if not stride:
                stride = (RAW_BITS[rawmode] * im.size[0] + 7) // 8
            strips.append((y0, y1, offset, rawmode, stride, orientation))
        strips.sort()
        top = 0
        for y0, y1, *rest in strips:
            if y0 != top:
                return None
            top = y1
        return strips if top == im.size[1] else None

    def _icc_transform(self, im):
        profile = im.info.get("icc_profile")
        if not profile:
            return None
        mode = {"RGB": "RGB", "RGBA": "RGB", "CMYK": "CMYK",
                "L": "L", "LA": "L"}.get(im.mode)
        if mode is None:
            return None
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            out = "L" if mode == "L" else "RGB"
            dst = ImageCms.createProfile("sRGB")
            if out == "L":
                return None  # a grey profile: keep the grey values
            return mode, ImageCms.buildTransform(src, dst, mode, out)
        except (ImageCms.PyCMSError, OSError, ValueError):
            return None  # a broken profile: keep the pixels as they are

    def read_into(self, memory, top, rows):
        if not self.streaming:
            if self.whole is None:
                self.whole = self._decode_whole()
            band = self.whole.crop((0, top, self.width, top + rows))
            if top + rows >= self.height:
                self.whole = None  # the last band: free the decoded image
        elif self.direct:
            self._unpack_rows(memory, top, rows)
            return
        else:
            band = self._read_rows(top, top + rows)
        image_on(memory, self.mode, self.width, rows).paste(
            self._convert(band))

    def _can_unpack(self, im):
        """Whether the file's rows unpack straight into our mode: 8-bit
        RGB or grey without a colour profile, in rawmodes Pillow unpacks
        into RGBX or L."""
        if self.strips is None or self.icc is not None or (
                im.mode not in ("RGB", "L")):
            return False
        for rawmode in {strip[3] for strip in self.strips}:
            try:
                Image.frombytes(self.mode, (1, 1), bytes(16), "raw", rawmode)
            except ValueError:
                return False
        return True

    def _unpack_rows(self, memory, top, rows):
        """Rows [top, top + rows) unpacked by Pillow from the file's bytes
        straight into ``memory``: one read and one unpack, no band image."""
        line = self.width * self.pixel_bytes
        for a, b, data, rawmode, stride, orientation in self._raw_pieces(
                top, top + rows):
            piece = image_on(memory[(a - top) * line:(b - top) * line],
                             self.mode, self.width, b - a)
            piece.frombytes(data, "raw", rawmode, stride, orientation)

    def _raw_pieces(self, top, bottom):
        """(first row, end row, bytes, rawmode, stride, orientation) of the
        strips' parts that hold rows [top, bottom). The bytes are a view of
        a buffer reused for every read: use them before the next piece."""
        for y0, y1, offset, rawmode, stride, orientation in self.strips:
            a, b = max(top, y0), min(bottom, y1)
            if a >= b:
                continue
            if orientation < 0:  # stored bottom-up
                first = (y1 - y0) - (b - y0)
            else:
                first = a - y0
            size = (b - a) * stride
            if len(self.raw) < size:
                self.raw = bytearray(size)
            data = memoryview(self.raw)[:size]
            self.file.seek(offset + first * stride)
            got = self.file.readinto(data)
            if got < size:
                if not self.lenient:
                    raise DamagedImage(self.path, "the file is truncated "
                                       "(rows %d to %d are missing)" % (a, b))
                data[got:] = bytes(size - got)  # the missing rows: black
            yield a, b, data, rawmode, stride, orientation

    def _decode_whole(self):
        from PIL import ImageOps
        im = self.im
        try:
            im.load()
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            if not self.lenient or im._im is None:
                raise DamagedImage(self.path, str(e) or type(e).__name__)
            # the rows decoded before the damage (the rest as Pillow
            # left them); Pillow's LOAD_TRUNCATED_IMAGES would do the
            # same, but is global to every thread
            im = im._new(im.im)
        try:
            im = ImageOps.exif_transpose(im)
        except (OSError, ValueError, SyntaxError) as e:
            raise TilingError(self.path, "cannot decode the image: %s" % e)
        if im.size != (self.width, self.height):
            self.width, self.height = im.size
        return im

    def _read_rows(self, top, bottom):
        """Rows [top, bottom) as an image in the file's mode."""
        pieces = []
        for a, b, data, rawmode, stride, orientation in self._raw_pieces(
                top, bottom):
            pieces.append(Image.frombytes(self.im.mode, (self.width, b - a),
                                          data, "raw", rawmode, stride,
                                          orientation))
        if len(pieces) == 1:
            band = pieces[0]
        else:
            band = Image.new(self.im.mode, (self.width, bottom - top))
            y = 0
            for piece in pieces:
                band.paste(piece, (0, y))
                y += piece.size[1]
        if self.im.mode in ("P", "PA"):
            # the palette read with the header (getpalette() would decode)
            palette = self.im.palette
            if palette.rawmode:  # still as stored in the file (BMP: BGRX)
                band.putpalette(palette.palette, palette.rawmode)
            else:
                band.putpalette(palette.tobytes(), palette.mode)
            if "transparency" in self.im.info:
                band.info["transparency"] = self.im.info["transparency"]
        return band

    def _convert(self, band):
        """An image band in any mode -> an "L" or "RGBX" image."""
        mode = band.mode
        if mode.startswith("I;16") or mode in ("I", "F"):
            import numpy as np
            arr = np.asarray(band)
            if mode == "F":
                arr = np.clip(arr, 0, 255)
            else:  # 16-bit values: keep the top 8 bits
                arr = np.clip(arr, 0, 65535).astype(np.uint32) >> 8
            return Image.fromarray(arr.astype(np.uint8), "L")
        converts = {"P": "RGBA" if "transparency" in band.info else "RGB",
                    "PA": "RGBA", "1": "L", "La": "LA", "RGBa": "RGBA"}
        if mode in converts:
            band = band.convert(converts[mode])
        if self.icc is not None and band.mode in ("RGB", "RGBA", "CMYK"):
            alpha = band.getchannel("A") if band.mode == "RGBA" else None
            colour = band.convert("RGB") if band.mode == "RGBA" else band
            band = ImageCms.applyTransform(colour, self.icc[1])
            if alpha is not None:
                band.putalpha(alpha)
        if band.mode == "LA":
            flat = flatten(pixels(band), grey_background(self.background))
            return Image.fromarray(flat[:, :, 0], "L")
        if band.mode == "RGBA":
            flat = flatten(pixels(band), self.background)
            return Image.fromarray(flat, "RGB").convert("RGBX")
        if band.mode == "L":
            return band
        if band.mode != "RGB":
            band = band.convert("RGB")
        return band.convert("RGBX")

    def close(self):
        self.whole = None
        if self.file is not None:
            self.file.close()
            self.file = None
        if self.im is not None:
            self.im.close()
            self.im = None
