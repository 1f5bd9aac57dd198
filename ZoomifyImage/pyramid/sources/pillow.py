"""The pillow engine: streams the formats whose rows sit uncompressed in
the file (PPM/PGM, uncompressed BMP, uncompressed stripped TIFF) by
reading only the rows of each band; any other format Pillow reads is
decoded whole, which is only allowed under a pixel budget."""

import io
import threading

from PIL import Image
from PIL import ImageCms
from PIL import ImageFile
from PIL import TiffImagePlugin
from PIL import UnidentifiedImageError

from ..buffers import image_on
from ..errors import DamagedImage
from ..errors import TilingError
from .base import GREY_MODES
from .base import BandSource
from .base import flatten
from .base import grey_background
from .base import pixels
from .heif import pillow_heif
from .heif import pillow_reads

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

pillow_heif()   # HEIF's opener registered with Pillow, where installed

# bytes a pixel of a whole decode at its peak: the decoded image (RGBX),
# and for AVIF libavif's planes beside it, for HEIF (pillow-heif) libheif's
# planes and its RGB copy; rounded up from the slope of the peak RSS
# (benchmarks/README.txt, note pillow-whole)
WHOLE_PIXEL_BYTES = {"AVIF": 11, "HEIF": 10}


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


def tiles_in_file(im):
    """Whether Pillow's own loader reads the image's tiles from the file
    at their offsets: then so may we. Plugins that load their own way
    (AVIF and WebP decode through their library and describe the decoded
    pixels as a "raw" tile at offset 0; DDS ignores the offsets) have
    tiles that say nothing about the file's bytes."""
    base = ImageFile.ImageFile
    cls = type(im)
    if hasattr(cls, "load_read") or hasattr(cls, "load_seek"):
        return False
    if cls.load is base.load:
        return True
    # TIFF's own load() hands raw strips to ImageFile.load (libtiff
    # decodes the compressed ones)
    return isinstance(im, TiffImagePlugin.TiffImageFile) and (
        not im.use_load_libtiff)


def turned_by_pillow(im):
    """Whether Pillow reports the image's size turned by its orientation
    already (and turns the pixels as it loads them): a TIFF since Pillow
    11, whose size then differs from its ImageWidth and ImageLength."""
    if not isinstance(im, TiffImagePlugin.TiffImageFile):
        return False
    stored = (im.tag_v2.get(256), im.tag_v2.get(257))
    return im.size != stored


class PillowSource(BandSource):

    engine = "pillow"

    def __init__(self, path, background, whole_decode_megapixels,
                 lenient=False):
        self.path = path
        self.background = background
        self.lenient = lenient
        im = self.im = pillow_open(path)
        self.file = None
        self.whole = None       # the decoded image, when not streaming
        self.raw = bytearray()  # file bytes of the rows being read
        self.copy = False
        self.format = im.format
        try:
            if im.format == "HEIF" and not pillow_reads(path):
                # pillow-heif opens any HEIF and fails at the decode: a
                # codec its libheif lacks is no damage (unsupported()
                # names it)
                raise TilingError(path, "no decoder for the HEIF's codec")
            self.width, self.height = im.size
            if self._orientation(im) in (5, 6, 7, 8) and not (
                    turned_by_pillow(im)):   # turned a quarter
                self.width, self.height = self.height, self.width
            self.channels = 1 if (im.mode in GREY_MODES
                                  or im.mode.startswith("I;")) else 3
            self.icc = self._icc_transform(im)
            self.strips = self._raw_strips(im)
            self.streaming = self.strips is not None
            self.direct = self._can_unpack(im)
            # rows stored as we keep them (8-bit RGB or grey, top down,
            # no padding) are read straight into the pyramid's memory
            self.copy = self.direct and self._stored_as_kept(im)
            if not self.streaming and whole_decode_megapixels and (
                    self.width * self.height > whole_decode_megapixels * 1e6):
                # libvips decodes a HEIF whole too
                way_out = ("raise whole-decode-megapixels (and "
                           "max-tiling-memory if needed) to tile it"
                           if im.format == "HEIF" else
                           "install the 'vips' extra (pip install "
                           "'ZoomifyImage[vips]') to tile it with bounded "
                           "memory")
                raise TilingError(
                    path, "the image is %dx%d (%.0f megapixels) in a format "
                    "that Pillow must decode whole, over the limit of %s "
                    "megapixels: %s"
                    % (self.width, self.height,
                       self.width * self.height / 1e6,
                       whole_decode_megapixels, way_out))
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
        if self._orientation(im) not in (0, 1) or not tiles_in_file(im):
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

    def buffer_bytes(self, tile_size):
        rows = min(self.band_rows(tile_size), self.height)
        # the file's bytes of a band, the band and its conversion
        band = 3 * rows * self.width * 4
        if not self.streaming:   # and the image decoded whole
            band += self.width * self.height * WHOLE_PIXEL_BYTES.get(
                self.format, 4)
        return band

    def read_into(self, memory, top, rows):
        if not self.streaming:
            if self.whole is None:
                self.whole = self._decode_whole()
            band = self.whole.crop((0, top, self.width, top + rows))
            if top + rows >= self.height:
                self.whole = None  # the last band: free the decoded image
        elif self.copy:
            self._copy_rows(memory, top, rows)
            return
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

    @property
    def arrays(self):
        return self.copy

    @property
    def mode(self):
        # packed RGB where the file's rows are: a quarter less memory
        # than RGBX, and nothing to unpack
        if self.channels == 3 and self.copy:
            return "RGB"
        return super().mode

    def _stored_as_kept(self, im):
        line = self.width * self.channels
        return all(rawmode == ("RGB" if self.channels == 3 else "L")
                   and stride == line and orientation == 1
                   for _, _, _, rawmode, stride, orientation in self.strips)

    def _copy_rows(self, memory, top, rows):
        """Rows [top, top + rows) read from the file into ``memory``."""
        for _ in self._raw_pieces(top, top + rows, memory):
            pass

    def _unpack_rows(self, memory, top, rows):
        """Rows [top, top + rows) unpacked by Pillow from the file's bytes
        straight into ``memory``: one read and one unpack, no band image."""
        line = self.width * self.pixel_bytes
        for a, b, data, rawmode, stride, orientation in self._raw_pieces(
                top, top + rows):
            piece = image_on(memory[(a - top) * line:(b - top) * line],
                             self.mode, self.width, b - a)
            piece.frombytes(data, "raw", rawmode, stride, orientation)

    def _raw_pieces(self, top, bottom, memory=None):
        """(first row, end row, bytes, rawmode, stride, orientation) of the
        strips' parts that hold rows [top, bottom). The bytes are a view of
        a buffer reused for every read: use them before the next piece;
        or, given ``memory`` (rows stored as we keep them, see copy), of
        where rows [top, bottom) go."""
        for y0, y1, offset, rawmode, stride, orientation in self.strips:
            a, b = max(top, y0), min(bottom, y1)
            if a >= b:
                continue
            if orientation < 0:  # stored bottom-up
                first = (y1 - y0) - (b - y0)
            else:
                first = a - y0
            size = (b - a) * stride
            if memory is not None:
                data = memory[(a - top) * stride:(b - top) * stride]
            else:
                if len(self.raw) < size:
                    self.raw = bytearray(size)
                data = memoryview(self.raw)[:size]
            self.file.seek(offset + first * stride)
            got = self.file.readinto(data)
            if got < size:
                if not self.lenient:
                    # a file stored bottom-up ends inside a row above
                    self._truncated(a + got // stride if orientation > 0
                                    else b - 1 - got // stride)
                data[got:] = bytes(size - got)  # the missing rows: black
            yield a, b, data, rawmode, stride, orientation

    def _truncated(self, row):
        """Refuse the file, which ends inside image row ``row``."""
        raise DamagedImage(self.path, "the file is truncated: it ends inside "
                           "row %d of %d" % (row + 1, self.height))

    def _decode_whole(self):
        from PIL import ImageOps
        im = self.im
        try:
            im.load()
        except (OSError, ValueError, SyntaxError, EOFError,
                RuntimeError) as e:   # RuntimeError: the AVIF plugin
            if not self.lenient or im._im is None:
                # one line (libheif's words end in a newline)
                raise DamagedImage(self.path, " ".join(str(e).split())
                                   or type(e).__name__)
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
