"""Open an image file and hand out full-width bands of rows.

One module per engine, each a BandSource (base.py):
- ``pillow``: PPM/PGM, uncompressed BMP and TIFF streamed from their
  rows; other formats Pillow reads decoded whole, under a pixel budget
  (HEIF with pillow-heif's opener: heif.py).
- ``vips`` (pyvips): any format libvips reads, decoded sequentially.
- ``tiff`` (tifffile, imagecodecs): tiled or compressed TIFF and BigTIFF,
  each stored tile decoded once.
- ``jp2`` (glymur, OpenJPEG): JPEG 2000 by regions.
- ``slide`` (openslide-python): whole-slide images, level 0 by regions.

``open_source`` checks the file, picks the engine and checks the size.
"""

import os
import stat

from PIL import features

from ..buffers import PIXEL_BYTES  # noqa: F401 (imported here)
from ..buffers import image_on  # noqa: F401 (imported here)
from ..errors import DamagedImage
from ..errors import TilingError
from . import psd
from .base import BandSource  # noqa: F401
from .base import MissingExtra
from .base import UnknownFormat  # noqa: F401
from .base import Unsupported
from .heif import HEIF_EXTRA
from .heif import heif_available
from .heif import libheif_says
from .heif import pillow_reads
from .identify import heif_codec
from .identify import heif_kind
from .identify import jpeg_precision
from .identify import tiff_compression
from .identify import tiff_compression_name
from .jp2 import Jp2Source
from .jp2 import is_jp2
from .jp2 import jp2_available
from .pillow import PillowSource
from .pillow import pillow_open
from .slide import SlideSource
from .slide import might_be_slide
from .slide import slide_available
from .slide import slide_vendor
from .tiff import TiffSource
from .tiff import tiff_available
from .vips import VipsSource  # noqa: F401
from .vips import unsupported_jpeg
from .vips import vips_available  # noqa: F401

# any engine: a decompression bomb guard (1000 megapixels are about 16000
# tiles and a minute of both cores; max-megapixels raises it)
DEFAULT_MAX_MEGAPIXELS = 1000
# the pillow engine, for the formats it cannot stream
DEFAULT_WHOLE_DECODE_MEGAPIXELS = 100

ENGINES = ("auto", "vips", "pillow", "tiff", "jp2", "slide")

# what each optional engine needs installed: (available, extra)
NEEDS = {"vips": (vips_available, "vips"), "tiff": (tiff_available, "tiff"),
         "jp2": (jp2_available, "jp2"), "slide": (slide_available, "slide")}
SOURCES = {"vips": VipsSource, "tiff": TiffSource, "jp2": Jp2Source,
           "slide": SlideSource}


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
    try:
        source = _open(path, engine, background, whole_decode_megapixels,
                       lenient)
    except TilingError:
        raise
    except Exception as e:
        # a reader tripped over a file it should have refused: still one
        # clear error, never a crash
        raise TilingError(path, "not an image file that can be read (%s)"
                          % (str(e) or type(e).__name__)) from None
    try:
        check_size(path, source.width, source.height, max_megapixels)
    except TilingError:
        source.close()
        raise
    return source


def _open(path, engine, background, whole_decode_megapixels, lenient):
    if engine == "auto":
        source = _auto(path, background, whole_decode_megapixels, lenient)
    elif engine == "pillow":
        source = _pillow(path, background, whole_decode_megapixels, lenient)
    elif engine in NEEDS:
        available, extra = NEEDS[engine]
        if not available():
            raise TilingError(path, "the %s engine is not installed: "
                              "install the '%s' extra (pip install "
                              "'ZoomifyImage[%s]')" % (engine, extra, extra))
        source = SOURCES[engine](path, background, lenient)
    else:
        raise TilingError(path, "unknown engine %r (%s)"
                          % (engine, ", ".join(ENGINES)))
    return source


def _auto(path, background, whole_decode_megapixels, lenient):
    """The leanest engine for the file."""
    refusal = None     # why libvips would not read it (Pillow may)
    # whatever Pillow streams from its rows (uncompressed TIFF and
    # BigTIFF, PPM, BMP) it reads in less time and memory than libvips
    # (benchmarks/README.txt, note auto-pillow)
    source = _pillow_streaming(path, background, lenient)
    kind = heif_kind(path) if source is None else None
    if kind == "AVIF" and features.check("avif") or (
            kind == "HEIF" and pillow_reads(path)):
        # both engines decode an AVIF whole: Pillow (libavif) in less
        # memory than libvips, and no slower (benchmarks/README.txt, note
        # auto-avif); a HEIF of
        # the codecs of pillow-heif's libheif (HEVC, which the pyvips
        # binary wheel's lacks) likewise
        try:
            source = PillowSource(path, background, whole_decode_megapixels,
                                  lenient)
        except TilingError:
            pass   # too big to decode whole there, or unreadable: libvips
    tiff = is_tiff(path)
    if source is None and might_be_slide(path, tiff) and slide_available() \
            and slide_vendor(path) not in (None, "generic-tiff"):
        # a microscope's slide (a plain tiled TIFF is the tiff engine's)
        source = SlideSource(path, background, lenient)
    if source is None and tiff and tiff_available():
        # tiled or compressed: each stored tile decoded once, on both
        # cores (libvips decoded them again for every band)
        try:
            source = TiffSource(path, background, lenient)
        except UnknownFormat:
            pass  # a TIFF it does not read exactly: libvips
    if source is None and is_jp2(path) and jp2_available():
        try:
            source = Jp2Source(path, background, lenient)
        except UnknownFormat:
            pass  # a JPEG 2000 it does not read (subsampled): Pillow
    if source is None and vips_available():
        try:
            source = VipsSource(path, background, lenient)
        except DamagedImage:
            raise
        except UnknownFormat as e:
            if isinstance(e, Unsupported):
                refusal = e   # Pillow may have the codec (old-style JPEG)
            # else libvips lacks a loader for it: try Pillow
        except TilingError as e:
            # libvips refuses what Pillow may read (a CIELab TIFF: "bad
            # labq format"); if Pillow cannot either, libvips' word
            refusal = e
    if source is None:
        try:
            source = _pillow(path, background, whole_decode_megapixels,
                             lenient)
        except TilingError as e:
            if refusal is None or isinstance(e, (DamagedImage,
                                                 MissingExtra)):
                raise
            raise refusal from None
    return source


def _pillow(path, background, whole_decode_megapixels, lenient):
    """The Pillow engine, whose refusals name the way out per format."""
    if psd.psd_version(path) == 2:
        psd.refuse_psb(path)
    try:
        return PillowSource(path, background, whole_decode_megapixels,
                            lenient)
    except DamagedImage:
        raise
    except TilingError as e:
        if "decode whole" not in e.problem:
            named = unsupported(path)
            if named:
                raise named from None
            raise
        if psd.psd_version(path):
            raise psd.too_big(path, e) from None
        if is_jp2(path):
            raise TilingError(path, "a JPEG 2000 image too big for "
                              "Pillow, which decodes it whole: install "
                              "the 'jp2' extra (pip install "
                              "'ZoomifyImage[jp2]')") from None
        raise


def unsupported(path):
    """Why Pillow could not read a file of a kind we know, or None: an
    Unsupported error naming the format or codec, and which engine or
    extra reads it. A HEIF that pillow-heif's libheif finds damaged
    raises DamagedImage."""
    kind = heif_kind(path)
    if kind == "AVIF" and features.check("avif"):
        return None   # Pillow reads AVIF: it failed for another reason
    if kind:
        return _unsupported_heif(path, kind)
    precision = jpeg_precision(path)
    if precision not in (None, 8):
        return Unsupported(path, unsupported_jpeg(precision))
    if is_tiff(path):
        named = _unsupported_tiff(path)
        return Unsupported(path, named) if named else None
    return None


def _unsupported_heif(path, kind):
    codec = heif_codec(path)
    if kind == "HEIF" and heif_available():
        if pillow_reads(path):
            return None   # pillow-heif decodes it: failed for another reason
        said = libheif_says(path) if codec is None else None
        if said and not said[1]:
            # the file ends before libheif finds its image, or the like
            raise DamagedImage(path, "libheif: %s" % said[0])
    coded = ": its image is %s-coded" % codec if codec else ""
    if kind == "HEIF" and codec in ("HEVC", None) and not heif_available():
        # what phones shoot: pillow-heif's wheels decode HEVC, the pyvips
        # binary wheel's libheif does not (where the codec is unknown,
        # libvips' word on the file wins: it may be damaged)
        return (MissingExtra if codec else Unsupported)(
            path, "unsupported format (HEIF)%s; %s" % (coded, HEIF_EXTRA))
    # what libvips reads depends on its libheif's codecs: the binary
    # wheel's decodes AV1, not HEVC (most phones' HEIC)
    if not vips_available():
        return Unsupported(path, "unsupported format (%s)%s; Pillow does "
                           "not read it; the vips engine reads HEIF in the "
                           "codecs of its libheif: install the 'vips' extra "
                           "(pip install 'ZoomifyImage[vips]')"
                           % (kind, coded))
    if not vips_reads_heif():
        return Unsupported(path, "unsupported format (%s)%s; this libvips "
                           "was built without libheif" % (kind, coded))
    return Unsupported(path, "unsupported format (%s) for the pillow "
                       "engine%s; the vips engine reads HEIF in the codecs of "
                       "its libheif" % (kind, coded))


def _unsupported_tiff(path):
    """What Pillow lacks to read a TIFF it refused: the compression's
    codec, or what its TIFF plugin says (a kind of pixel it has no mode
    for: floating-point RGB, ...)."""
    from PIL import TiffImagePlugin
    number = tiff_compression(path)
    if number is not None and number not in TiffImagePlugin.COMPRESSION_INFO:
        return "unsupported TIFF compression (%s)" % (
            tiff_compression_name(number))
    try:
        TiffImagePlugin.TiffImageFile(path).close()
    except Exception as e:
        said = str(e) or type(e).__name__
    else:
        return None
    more = ("the vips engine reads more TIFFs" if vips_available() else
            "libvips reads more TIFFs: install the 'vips' extra (pip "
            "install 'ZoomifyImage[vips]')")
    return "a TIFF that Pillow does not read (%s): %s" % (said, more)


def vips_reads_heif():
    import pyvips
    return ".heic" in pyvips.get_suffixes()


def _pillow_streaming(path, background, lenient):
    """A Pillow source if Pillow streams the file, else None."""
    try:
        source = PillowSource(path, background, 0, lenient)
    except TilingError:
        return None
    if not source.streaming:
        source.close()
        return None
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
