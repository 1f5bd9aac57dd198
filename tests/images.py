"""Test images made on the fly, and helpers to read tile sets back."""

import io
import os
import re
import struct

import numpy as np
from PIL import Image

from ZoomifyImage.pyramid import Layout
from ZoomifyImage.pyramid.sources import vips_available

ENGINES = ["pillow"] + (["vips"] if vips_available() else [])

# formats the libvips of the pyvips binary wheel has no loader for; the
# auto engine hands them to Pillow
VIPS_LACKS = {"ppm", "bmp"}


def engine_formats(formats):
    """(engine, format) pairs that the engine reads."""
    return [(e, f) for e in ENGINES for f in formats
            if not (e == "vips" and f in VIPS_LACKS)]


def smooth(width, height, seed=0):
    """A smooth RGB test image: gradients and slow waves, no two rows alike
    and no two columns alike, so a misplaced tile shows."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 40 + 170 * x / max(width - 1, 1)
    g = 40 + 170 * y / max(height - 1, 1)
    b = 128 + 90 * np.sin((x + 2 * y) / 37.0 + seed)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


def save(array_or_image, path, **options):
    image = array_or_image
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image.save(path, **options)
    return str(path)


def box_reduce(array):
    """2x2 box mean with floor: the reference for a lower tier."""
    h, w = array.shape[0] // 2, array.shape[1] // 2
    a = array[:2 * h, :2 * w].astype(np.float64)
    return (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) / 4


def tier_images(array, tile_size=256):
    """The expected pixels of every tier, smallest first."""
    layout = Layout(array.shape[1], array.shape[0], tile_size)
    tiers = [array.astype(np.float64)]
    for _ in range(layout.num_tiers - 1):
        tiers.append(box_reduce(tiers[-1]))
    tiers.reverse()
    return tiers


def decode(data):
    return np.asarray(Image.open(io.BytesIO(data)))


def psnr(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    mse = np.mean((a - b) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


TILE_RE = re.compile(r"^TileGroup(\d+)/(\d+)-(\d+)-(\d+)\.jpg$")


def read_dir(path):
    """{name: bytes} of a tile directory."""
    out = {}
    for folder, _, files in os.walk(path):
        for f in files:
            full = os.path.join(folder, f)
            name = os.path.relpath(full, path).replace(os.sep, "/")
            with open(full, "rb") as fh:
                out[name] = fh.read()
    return out


def snapshot(path):
    """Names, sizes and contents of everything under path (or None)."""
    if not os.path.exists(path):
        return None
    return read_dir(path) if os.path.isdir(path) else open(path, "rb").read()


def big_jpeg(path, width, height):
    """A large, detailed JPEG, made by libvips in bands when it is there
    (the test stays small)."""
    if vips_available():
        import pyvips
        image = pyvips.Image.perlin(width, height, cell_size=64, seed=1)
        image = (image * 100 + 128).cast("uchar")
        image = image.bandjoin([image.rot180(), image.flip("horizontal")])
        image.jpegsave(path, Q=85)
    else:
        Image.effect_noise((width, height), 60).convert("RGB").save(
            path, quality=85)
    return path


def colourful(width, height, seed):
    """smooth() with a colour cast per seed, so two images differ."""
    array = smooth(width, height, seed).astype(np.int16)
    array[..., seed % 3] = array[..., seed % 3] // 3
    return array.astype(np.uint8)


# ------------------------------------------------- HEIF, made by hand
# (ISO/IEC 23008-12: an ftyp box, a meta box that says which item is the
# image, how it is coded and where its bytes are, and an mdat box)

def _box(kind, payload):
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _full_box(kind, version, payload):
    return _box(kind, struct.pack(">I", version << 24) + payload)


def heif(item_type, data, width, height, config=None,
         brands=(b"mif1", b"heic")):
    """A HEIF file of one image item: ``data`` coded as ``item_type``
    (b"jpeg", b"av01", ...), with its codec configuration box
    ``config``."""
    ftyp = _box(b"ftyp", brands[0] + bytes(4) + b"".join(brands))
    hdlr = _full_box(b"hdlr", 0, bytes(4) + b"pict" + bytes(13))
    pitm = _full_box(b"pitm", 0, struct.pack(">H", 1))
    iinf = _full_box(b"iinf", 0, struct.pack(">H", 1) + _full_box(
        b"infe", 2, struct.pack(">HH", 1, 0) + item_type + b"\0"))
    props = [_full_box(b"ispe", 0, struct.pack(">II", width, height))]
    props += [config] if config else []
    ipma = _full_box(b"ipma", 0, struct.pack(">IHB", 1, 1, len(props))
                     + bytes(range(1, len(props) + 1)))
    iprp = _box(b"iprp", _box(b"ipco", b"".join(props)) + ipma)

    def meta(offset):
        # one extent of 4-byte offset and length (iloc version 0)
        iloc = _full_box(b"iloc", 0, struct.pack(
            ">BBHHHHII", 0x44, 0, 1, 1, 0, 1, offset, len(data)))
        return _full_box(b"meta", 0, hdlr + pitm + iloc + iinf + iprp)

    at = len(ftyp) + len(meta(0)) + 8
    return ftyp + meta(at) + _box(b"mdat", data)


def as_generic_heif(avif):
    """An AVIF file as a plain HEIF (brands mif1 and miaf, no avif): the
    same image, which Pillow's AVIF plugin does not take and libheif
    does."""
    size = struct.unpack(">I", avif[:4])[0]
    assert avif[4:8] == b"ftyp" and size >= 24
    # same size: major brand, minor version, compatible brands
    compatible = (b"mif1" + b"miaf" * size)[:size - 16]
    return avif[:4] + b"ftyp" + b"mif1" + bytes(4) + compatible + avif[size:]


# ------------------------------------------- TIFF of one strip, by hand

def one_strip_tiff(strip, width, height, compression, photometric=2,
                   extra=()):
    """A little-endian RGB TIFF whose one strip is ``strip`` (bytes),
    stored with ``compression`` (the value of tag 259, whatever it is);
    ``extra``: more (tag, type, count, value) entries (SHORT or LONG
    values that fit in the entry)."""
    bits_at = 8 + len(strip)
    ifd_at = bits_at + 6
    entries = sorted([
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, bits_at),
        (259, 3, 1, compression), (262, 3, 1, photometric), (273, 4, 1, 8),
        (277, 3, 1, 3), (278, 4, 1, height), (279, 4, 1, len(strip)),
        (284, 3, 1, 1)] + list(extra))
    out = [struct.pack("<2sHI", b"II", 42, ifd_at), strip,
           struct.pack("<3H", 8, 8, 8), struct.pack("<H", len(entries))]
    for tag, kind, count, value in entries:
        if kind == 3 and count == 1:
            out.append(struct.pack("<HHIHH", tag, kind, count, value, 0))
        else:
            out.append(struct.pack("<HHII", tag, kind, count, value))
    out.append(struct.pack("<I", 0))
    return b"".join(out)


def old_jpeg_tiff(pixels):
    """An old-style JPEG TIFF (Compression 6, TIFF 6.0 section 22, as
    scanners wrote them): its strip is a whole JPEG stream, which
    JPEGInterchangeFormat (513) points at. Returns (the file, the pixels
    of that JPEG as Pillow decodes it)."""
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=95, subsampling=0)
    jpeg = out.getvalue()
    height, width = pixels.shape[:2]
    data = one_strip_tiff(jpeg, width, height, 6, photometric=6, extra=[
        (512, 3, 1, 1), (513, 4, 1, 8), (514, 4, 1, len(jpeg))])
    return data, np.asarray(Image.open(out).convert("RGB"))
