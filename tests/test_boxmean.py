"""The pyramid's 2x2 box mean (_boxmean.c): Pillow's Image.reduce(2),
byte for byte, on our packed buffers, and never a byte outside them."""

import numpy as np
import pytest
from PIL import Image

from ZoomifyImage.pyramid._boxmean import shrink

MODES = {1: "L", 3: "RGB", 4: "RGBX"}


@pytest.mark.parametrize("bpp,out_bpp", [(1, 1), (3, 3), (4, 3)])
@pytest.mark.parametrize("width", [1, 2, 257, 30001])
def test_the_mean_is_pillows_reduce(bpp, out_bpp, width):
    rows = 6
    pixels = np.random.default_rng(width).integers(
        0, 256, (rows, width, bpp), dtype=np.uint8)
    source = bytearray(pixels.tobytes())
    half = width // 2
    # the output rows start at row 1 of a buffer whose other bytes must
    # stay as they were
    target = bytearray(b"\x5a" * (half * out_bpp * 5))
    shrink(source, width * bpp, bpp, 2, target, half * out_bpp, out_bpp,
           1, 2, half)
    if half:
        expected = Image.frombytes(MODES[bpp], (width, rows), bytes(
            source)).reduce(2, box=(0, 2, 2 * half, 6)).tobytes(
                "raw", MODES[out_bpp])
    else:
        expected = b""
    line = half * out_bpp
    assert target[line:3 * line] == expected
    assert target[:line] + target[3 * line:] == b"\x5a" * 3 * line


@pytest.mark.parametrize("change", [
    {"top": 3},          # the last pair would end past the source
    {"at": 3},           # the output would end past the target
    {"width": 6},        # the rows are shorter than twice the width
    {"src_bpp": 5},
    {"dst_bpp": 4},      # more channels out than in
    {"pairs": -1},
    {"pairs": 2 ** 62},  # products of such sizes would overflow
    {"top": 2 ** 62},
])
def test_rows_outside_the_buffers_are_refused(change):
    args = {"top": 0, "at": 0, "width": 5, "src_bpp": 3, "dst_bpp": 3,
            "pairs": 4}
    args.update(change)
    source = bytearray(8 * 10 * 3)          # 8 rows of 10 pixels
    target = bytearray(b"\x5a" * 4 * 5 * 3)  # 4 rows of 5 pixels
    with pytest.raises(ValueError, match="outside the buffers"):
        shrink(source, 30, args["src_bpp"], args["top"], target, 15,
               args["dst_bpp"], args["at"], args["pairs"], args["width"])
    assert target == b"\x5a" * len(target)


def test_a_read_only_target_is_refused():
    with pytest.raises(TypeError):
        shrink(bytearray(60), 30, 3, 0, bytes(15), 15, 3, 0, 1, 5)
