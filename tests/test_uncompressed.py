"""Files whose rows the pillow engine reads straight from the disc
(uncompressed TIFF, PPM/PGM, BMP): every row from where the file says it
lies, and a truncated file refused with the row it ends in."""

import struct

import numpy as np
import pytest
from PIL import Image

from tests.test_pixels import assemble
from tests.test_pixels import tiles_of
from ZoomifyImage.pyramid import DamagedImage
from ZoomifyImage.pyramid import Layout
from ZoomifyImage.pyramid import MemorySink
from ZoomifyImage.pyramid import tile_image


def noise(width, height, channels, seed=0):
    """Random pixels: no row looks like its neighbour, so a row read from
    the wrong place shows."""
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.random.default_rng(seed).integers(0, 256, shape, np.uint8)


def stripped_tiff(path, pixels, rows_per_strip, order, gap=13):
    """An uncompressed little-endian TIFF whose strips are stored in the
    file in ``order`` (strip numbers), with ``gap`` bytes of junk before
    each: the reader must follow StripOffsets, not assume the strips
    follow each other."""
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    line = width * channels
    strips = [pixels[y:y + rows_per_strip].tobytes()
              for y in range(0, height, rows_per_strip)]
    assert sorted(order) == list(range(len(strips)))
    body = bytearray()
    offsets = [0] * len(strips)
    start = 8
    for number in order:
        body += b"\xa5" * gap
        offsets[number] = start + len(body)
        body += strips[number]
    extra = bytearray()                      # values that need room
    extra_at = start + len(body)

    def put(values, kind):
        nonlocal extra
        at = extra_at + len(extra)
        extra += struct.pack("<%d%s" % (len(values), kind), *values)
        return at

    bits = put([8] * channels, "H") if channels > 1 else None
    offsets_at = put(offsets, "I")
    counts_at = put([len(s) for s in strips], "I")
    entries = [
        (256, 4, 1, width), (257, 4, 1, height),
        (258, 3, channels, bits if bits else 8),
        (259, 3, 1, 1), (262, 3, 1, 2 if channels > 1 else 1),
        (273, 4, len(strips), offsets_at), (277, 3, 1, channels),
        (278, 4, 1, rows_per_strip), (279, 4, len(strips), counts_at),
        (284, 3, 1, 1),
    ]
    ifd_at = extra_at + len(extra)
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        if kind == 3 and count == 1:
            ifd += struct.pack("<HHIHH", tag, kind, count, value, 0)
        else:
            ifd += struct.pack("<HHII", tag, kind, count, value)
    ifd += struct.pack("<I", 0)
    assert len(strips[0]) == rows_per_strip * line
    with open(path, "wb") as f:
        f.write(b"II*\x00" + struct.pack("<I", ifd_at))
        f.write(body + extra + ifd)
    return str(path)


def top_tier(path, width, height):
    # quality 100 keeps every chroma sample and quantises by 1: random
    # pixels come back within a few levels
    layout = Layout(width, height, 256)
    tiles = tiles_of(path, engine="pillow", quality=100)
    top = assemble(tiles, layout, layout.num_tiers - 1)
    return top[..., 0] if top.shape[2] == 1 else top


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("order", ["reversed", "shuffled"])
def test_strips_are_read_where_the_file_says(tmp_path, channels, order):
    width, height, rows = 301, 70, 8
    pixels = noise(width, height, channels)
    count = -(-height // rows)
    numbers = list(range(count))[::-1] if order == "reversed" else list(
        np.random.default_rng(1).permutation(count))
    path = stripped_tiff(tmp_path / "strips.tif", pixels, rows, numbers)
    assert np.array_equal(np.asarray(Image.open(path)), pixels)  # the file
    error = np.abs(top_tier(path, width, height).astype(int) - pixels)
    assert error.max() <= 8, "rows read from the wrong place"


@pytest.mark.parametrize("fmt,channels", [("ppm", 3), ("pgm", 1),
                                          ("bmp", 3)])
def test_rows_of_netpbm_and_bmp_are_exact(tmp_path, fmt, channels):
    width, height = 257, 33
    pixels = noise(width, height, channels, seed=2)
    path = str(tmp_path / ("noise." + fmt))
    Image.fromarray(pixels).save(path)
    error = np.abs(top_tier(path, width, height).astype(int) - pixels)
    assert error.max() <= 8


@pytest.mark.parametrize("fmt,row", [
    # 33 rows of 10 pixels, 30 bytes a row (BMP: 32, padded; stored
    # bottom up, so the end of the file holds the top rows); 200 bytes
    # cut off the end
    ("ppm", 27),    # 790 of 990 bytes: rows 1-26 whole, ends in row 27
    ("bmp", 7),     # 856 of 1056: rows 33 up to 8 whole, ends in row 7
])
def test_a_truncated_file_says_the_row_it_ends_in(tmp_path, fmt, row):
    path = tmp_path / ("cut." + fmt)
    Image.fromarray(noise(10, 33, 3)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[:-200])
    with pytest.raises(DamagedImage,
                       match="truncated: it ends inside row %d of 33" % row):
        tile_image(str(path), MemorySink(), engine="pillow")
