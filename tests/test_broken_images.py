"""A collection of odd and broken images through the zoomify-tile command,
after the ideas of Pillow's and libvips' own test suites: truncated and
bit-flipped files of every format, zero sides, huge sizes in headers.

Every file either tiles correctly (exit 0, nothing on stderr, a complete
tile set) or fails with exactly one line on stderr naming the file (exit
1); either way nothing else is left beside OUTDIR, and no run hangs.
"""

import io
import os
import re
import struct
import subprocess
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image
from PIL import features

from tests.heic_files import heic
from tests.heic_files import pillow_heif_here
from tests.images import ENGINES
from tests.images import VIPS_LACKS
from tests.images import smooth
from tests.test_cli import command
from ZoomifyImage.pyramid import Layout
from ZoomifyImage.pyramid.sources import vips_available

WIDTH, HEIGHT = 600, 400
TIMEOUT = 20  # seconds a run may take: a small file that takes longer hangs


def pixels():
    return smooth(WIDTH, HEIGHT)


def pillow_bytes(image, fmt, **options):
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def rgb():
    return Image.fromarray(pixels())


def rgba():
    image = rgb().convert("RGBA")
    image.putalpha(Image.linear_gradient("L").resize((WIDTH, HEIGHT)))
    return image


# ------------------------------------------------------------- tiff by hand

def tiff(width=WIDTH, height=HEIGHT, tile=None, data=None, declared=None):
    """An uncompressed RGB TIFF, in strips of 16 rows or in tiles of
    ``tile`` pixels (Pillow writes no tiled TIFF). ``declared`` puts
    another (width, height) in the header than the pixels have."""
    data = pixels() if data is None else data
    chunks = []
    if tile:
        for top in range(0, height, tile):
            for left in range(0, width, tile):
                block = np.zeros((tile, tile, 3), np.uint8)
                part = data[top:top + tile, left:left + tile]
                block[:part.shape[0], :part.shape[1]] = part
                chunks.append(block.tobytes())
    else:
        for top in range(0, height, 16):
            chunks.append(data[top:top + 16].tobytes())
    w, h = declared or (width, height)
    offsets, at = [], 8
    for chunk in chunks:
        offsets.append(at)
        at += len(chunk)
    arrays = at                 # the IFD's out-of-line values follow
    bits_at = arrays
    offsets_at = bits_at + 6
    counts_at = offsets_at + 4 * len(chunks)
    ifd_at = counts_at + 4 * len(chunks)
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 3, bits_at),
               (259, 3, 1, 1), (262, 3, 1, 2), (277, 3, 1, 3),
               (284, 3, 1, 1)]
    if tile:
        entries += [(322, 3, 1, tile), (323, 3, 1, tile),
                    (324, 4, len(chunks), offsets_at),
                    (325, 4, len(chunks), counts_at)]
    else:
        entries += [(273, 4, len(chunks), offsets_at), (278, 3, 1, 16),
                    (279, 4, len(chunks), counts_at)]
    entries.sort()
    out = [struct.pack("<2sHI", b"II", 42, ifd_at)] + chunks
    out.append(struct.pack("<3H", 8, 8, 8))
    out.append(struct.pack("<%dI" % len(chunks), *offsets))
    out.append(struct.pack("<%dI" % len(chunks), *map(len, chunks)))
    out.append(struct.pack("<H", len(entries)))
    for tag, kind, count, value in entries:
        fmt = "<HHIHH" if kind == 3 and count == 1 else "<HHII"
        out.append(struct.pack(fmt, tag, kind, count, value,
                               *((0,) if fmt == "<HHIHH" else ())))
    out.append(struct.pack("<I", 0))
    return b"".join(out)


# --------------------------------------------------------- header surgery

def png_with_header(width, height):
    data = bytearray(pillow_bytes(rgb(), "PNG"))
    ihdr = bytearray(data[12:29])
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


def jpeg_with_size(width, height):
    data = bytearray(pillow_bytes(rgb(), "JPEG", quality=90))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def bmp_with_size(width, height):
    data = bytearray(pillow_bytes(rgb(), "BMP"))
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def gif_with_size(width, height):
    data = bytearray(pillow_bytes(rgb().convert("P"), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    frame = data.index(b"\x2c", 13 + 3 * 256)  # the image descriptor
    data[frame + 5:frame + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def tiled_jpeg_tiff():
    import pyvips
    image = pyvips.Image.new_from_array(pixels(), interpretation="srgb")
    return image.tiffsave_buffer(compression="jpeg", tile=True,
                                 tile_width=128, tile_height=128)


# good files of each format: the first of each is also cut and flipped
# in several ways; the others are cut in half (TIFFs: flipped every
# kilobyte, which their decoders see)
GOOD = {
    "jpg": {
        "baseline.jpg": lambda: pillow_bytes(rgb(), "JPEG", quality=90),
        "progressive.jpg": lambda: pillow_bytes(rgb(), "JPEG",
                                                progressive=True),
        "grey.jpg": lambda: pillow_bytes(rgb().convert("L"), "JPEG"),
        "cmyk.jpg": lambda: pillow_bytes(rgb().convert("CMYK"), "JPEG"),
        "rotated.jpg": lambda: pillow_bytes(rgb(), "JPEG",
                                            exif=orientation(6)),
    },
    "png": {
        "rgb.png": lambda: pillow_bytes(rgb(), "PNG"),
        "rgba.png": lambda: pillow_bytes(rgba(), "PNG"),
        "palette.png": lambda: pillow_bytes(rgb().convert("P"), "PNG"),
        "grey16.png": lambda: pillow_bytes(
            Image.fromarray(pixels()[..., 0].astype(np.uint16) * 257),
            "PNG"),
    },
    "tif": {
        "strips.tif": lambda: tiff(),
        "tiled.tif": lambda: tiff(tile=128),
        "lzw.tif": lambda: pillow_bytes(rgb(), "TIFF",
                                        compression="tiff_lzw"),
        "jpeg.tif": lambda: pillow_bytes(rgb(), "TIFF", compression="jpeg"),
        "deflate-rgba.tif": lambda: pillow_bytes(
            rgba(), "TIFF", compression="tiff_adobe_deflate"),
    },
    "bmp": {
        "rgb.bmp": lambda: pillow_bytes(rgb(), "BMP"),
        "palette.bmp": lambda: pillow_bytes(rgb().convert("P"), "BMP"),
        "rgba.bmp": lambda: pillow_bytes(rgba(), "BMP"),
    },
    "ppm": {
        "rgb.ppm": lambda: pillow_bytes(rgb(), "PPM"),
        "grey.pgm": lambda: pillow_bytes(rgb().convert("L"), "PPM"),
        "bits.pbm": lambda: pillow_bytes(rgb().convert("1"), "PPM"),
    },
    "gif": {
        "still.gif": lambda: pillow_bytes(rgb().convert("P"), "GIF"),
        "animated.gif": lambda: pillow_bytes(
            rgb().convert("P"), "GIF", save_all=True,
            append_images=[rgb().rotate(180).convert("P")]),
    },
    "webp": {
        "lossy.webp": lambda: pillow_bytes(rgb(), "WEBP", quality=80),
        "lossless-alpha.webp": lambda: pillow_bytes(rgba(), "WEBP",
                                                    lossless=True),
    },
}
if vips_available():
    GOOD["tif"]["tiled-jpeg.tif"] = tiled_jpeg_tiff
if features.check("avif"):   # Pillow 11.3+ writes (and reads) AVIF
    GOOD["avif"] = {
        "rgb.avif": lambda: pillow_bytes(rgb(), "AVIF", quality=90),
        "rgba.avif": lambda: pillow_bytes(rgba(), "AVIF"),
    }
# what phones shoot: HEVC-coded HEIF, made by pillow-heif's encoder (in a
# Python of its own where it is hidden: as without the `heif` extra, each
# file is then refused in one line)
GOOD["heic"] = {
    "rgb.heic": lambda: heic(pixels()),
    "rgba.heic": lambda: heic(np.asarray(rgba())),
}

# headers that lie: zero sides, sizes over the megapixel limit, and sizes
# under it whose data is missing (decoding must fail fast, not hang)
HEADERS = {
    "jpg": {
        "zero-height.jpg": lambda: jpeg_with_size(WIDTH, 0),
        "huge.jpg": lambda: jpeg_with_size(65000, 65000),
    },
    "png": {
        "zero-width.png": lambda: png_with_header(0, HEIGHT),
        "huge.png": lambda: png_with_header(100000, 100000),
        "over-limit.png": lambda: png_with_header(1 << 20, 1 << 20),
    },
    "tif": {
        "zero-width.tif": lambda: tiff(declared=(0, HEIGHT)),
        "huge.tif": lambda: tiff(declared=(60000, 60000)),
        "over-limit.tif": lambda: tiff(declared=(1 << 20, 1 << 20)),
        "huge-tiled.tif": lambda: tiff(tile=128, declared=(60000, 60000)),
    },
    "bmp": {
        "zero-width.bmp": lambda: bmp_with_size(0, HEIGHT),
        "huge.bmp": lambda: bmp_with_size(60000, 60000),
        "over-limit.bmp": lambda: bmp_with_size(WIDTH, 1 << 30),
        "negative-width.bmp": lambda: bmp_with_size(-WIDTH, HEIGHT),
    },
    "ppm": {
        "zero-width.ppm": lambda: b"P6 0 10 255\n",
        "huge.ppm": lambda: b"P6 60000 60000 255\n" + bytes(1000),
        "over-limit.ppm": lambda: b"P6 1000000 1000000 255\n" + bytes(1000),
        "deep.ppm": lambda: b"P6 10 10 65535\n" + bytes(600),
        "bad-maxval.ppm": lambda: b"P6 10 10 0\n" + bytes(300),
    },
    "gif": {
        "zero-size.gif": lambda: gif_with_size(0, 0),
        "huge.gif": lambda: gif_with_size(65535, 65535),
    },
    "webp": {},
    "avif": {},
    "heic": {},
}


def orientation(value):
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def flip_every(data, step, start=None):
    data = bytearray(data)
    for i in range(start or step, len(data), step):
        data[i] ^= 0xFF
    return bytes(data)


def flip_some(data, seed, count=8):
    rng = np.random.default_rng(seed)
    data = bytearray(data)
    for i in rng.integers(8, len(data), count):
        data[i] ^= 1 << int(rng.integers(0, 8))
    return bytes(data)


def collection(fmt):
    """{file name: bytes} of the format's good, damaged and lying files."""
    files = {}
    for index, (name, make) in enumerate(GOOD[fmt].items()):
        good = make()
        stem, ext = os.path.splitext(name)
        files[name] = good
        if index == 0 or fmt != "tif":
            files[stem + "-half" + ext] = good[:len(good) // 2]
        if index == 0 or fmt == "tif":
            files[stem + "-flipped-1k" + ext] = flip_every(good, 1024)
        if index == 0:
            files[stem + "-header-only" + ext] = good[:24]
            files[stem + "-last-byte-gone" + ext] = good[:-1]
            files[stem + "-flipped-100" + ext] = flip_every(good, 100, 50)
            files[stem + "-fuzz" + ext] = flip_some(good, 1)
    for name, make in HEADERS[fmt].items():
        files[name] = make()
    return files


def check_run(path, engine, parent):
    """Run zoomify-tile on one file; the list of what was wrong."""
    os.makedirs(parent)
    out = os.path.join(parent, "out")
    try:
        result = subprocess.run([command(), "--engine", engine, path, out],
                                capture_output=True, text=True,
                                timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return ["hangs (over %d s)" % TIMEOUT]
    problems = []
    left = sorted(os.listdir(parent))
    if result.returncode == 1:
        lines = result.stderr.splitlines()
        if len(lines) != 1 or not lines[0].startswith(
                "zoomify-tile: error: %s: " % path):
            problems.append("not one error line: %r" % result.stderr)
        if left:
            problems.append("left behind: %s" % left)
    elif result.returncode == 0:
        if result.stderr:
            problems.append("tiled, but said: %r" % result.stderr)
        if left != ["out"]:
            problems.append("beside OUTDIR: %s" % left)
        else:
            problems += check_tile_set(out)
    else:
        problems.append("exit %d: %r" % (result.returncode,
                                         result.stderr[-2000:]))
    return problems


def check_tile_set(out):
    """What is wrong with the tile set in ``out`` (a list, empty if
    nothing): ImageProperties.xml as the layout has it, every tile there
    and nothing else, each a JPEG of its box's size."""
    with open(os.path.join(out, "ImageProperties.xml"), "rb") as f:
        xml = f.read()
    found = re.match(rb'<IMAGE_PROPERTIES WIDTH="(\d+)" HEIGHT="(\d+)"',
                     xml)
    if not found:
        return ["bad ImageProperties.xml: %r" % xml]
    layout = Layout(int(found.group(1)), int(found.group(2)))
    if xml != layout.properties_xml():
        return ["ImageProperties.xml %r, not %r"
                % (xml, layout.properties_xml())]
    names = set()
    for folder, _, files in os.walk(out):
        for name in files:
            names.add(os.path.relpath(os.path.join(folder, name),
                                      out).replace(os.sep, "/"))
    expected = set(layout.tile_names()) | {"ImageProperties.xml"}
    if names != expected:
        return ["tiles: %d extra, %d missing" % (len(names - expected),
                                                 len(expected - names))]
    for tier, col, row in layout.all_tiles():
        left, top, right, bottom = layout.tile_box(tier, col, row)
        with Image.open(os.path.join(out, layout.tile_name(
                tier, col, row))) as tile:
            if tile.format != "JPEG" or tile.size != (right - left,
                                                      bottom - top):
                return ["tile %s is %s %s" % (layout.tile_name(
                    tier, col, row), tile.format, tile.size)]
    return []


@pytest.mark.parametrize("fmt", sorted(GOOD))
@pytest.mark.parametrize("engine", ENGINES)
def test_broken_images_tile_or_fail_in_one_line(tmp_path, engine, fmt):
    if engine == "vips" and fmt in VIPS_LACKS:
        engine = "auto"  # libvips fails, then Pillow reads it
    files = collection(fmt)
    (tmp_path / "in").mkdir()
    jobs = []
    for name, data in files.items():
        path = str(tmp_path / "in" / name)
        with open(path, "wb") as f:
            f.write(data)
        jobs.append((name, path, str(tmp_path / "runs" / name)))
    # the runs are mostly starting Python: two at a time a core
    with ThreadPoolExecutor(2 * (os.cpu_count() or 1)) as pool:
        results = list(pool.map(lambda job: (job[0], check_run(
            job[1], engine, job[2])), jobs))
    failures = ["%s: %s" % (name, "; ".join(problems))
                for name, problems in results if problems]
    assert not failures, "\n".join(failures)
    # and the good files tile (a HEIC where the engine has HEVC: the
    # pillow engine with pillow-heif; the vips engine of the pyvips binary
    # wheel has none, and refuses it in its one line, as checked above)
    for name in GOOD[fmt]:
        tiled = os.listdir(tmp_path / "runs" / name) == ["out"]
        if fmt != "heic" or engine == "pillow" and pillow_heif_here():
            assert tiled, name
        elif engine == "pillow":
            assert not tiled, name
