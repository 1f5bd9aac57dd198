"""The pyramid's 2x2 box mean (_boxmean.c): Pillow's Image.reduce(2),
byte for byte, on our packed buffers, and never a byte outside them."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import ZoomifyImage
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


# (source bytes, its line, source bpp, top, target bytes, its line,
# target bpp, at, pairs, width): the source is 8 rows of 30 bytes, the
# target 4 rows of 15 (or 18) bytes, unless said otherwise
FITS = [
    (240, 30, 3, 0, 60, 15, 3, 0, 4, 5),     # every byte of both
    (240, 30, 3, 2, 60, 15, 3, 1, 3, 5),     # the last rows of both
    (240, 30, 3, 0, 72, 18, 3, 0, 4, 5),     # a target row with room
    (240, 30, 1, 0, 60, 15, 1, 0, 4, 15),    # grey: 15 pixels of 2 bytes
    (240, 30, 4, 0, 60, 15, 3, 0, 4, 3),     # RGBX in, RGB out
]
# each one step past exactly one of the bounds
PAST = [
    (240, 30, 3, 2, 60, 15, 3, 0, 4, 5),     # source rows 2-9 of 8
    (240, 30, 3, 7, 60, 15, 3, 0, 1, 5),     # source rows 7-8 of 8
    (240, 30, 3, 0, 60, 15, 3, 1, 4, 5),     # target rows 1-4 of 4
    (240, 30, 3, 0, 72, 18, 3, 0, 4, 6),     # 12 source pixels in 10
    (360, 45, 3, 0, 60, 15, 3, 0, 4, 6),     # 6 target pixels in 5
    (240, 30, 5, 0, 60, 15, 3, 0, 4, 1),     # 5 bytes a pixel
    (240, 30, 3, 0, 60, 15, 4, 0, 4, 1),     # more channels out than in
    (240, 30, 3, 0, 60, 15, 3, 0, -1, 5),
    (240, 30, 3, 0, 60, 15, 3, 0, 2 ** 62, 5),   # products would overflow
    (240, 30, 3, 2 ** 62, 60, 15, 3, 0, 1, 5),
    (240, 30, 3, 0, 60, 15, 3, 2 ** 62, 1, 5),
]


def call(case):
    src_size, src_line, src_bpp, top, dst_size, dst_line, dst_bpp, at, \
        pairs, width = case
    target = bytearray(b"\x5a" * dst_size)
    shrink(bytearray(range(256)) * (src_size // 256) + bytearray(
        src_size % 256), src_line, src_bpp, top, target, dst_line, dst_bpp,
        at, pairs, width)
    return target


@pytest.mark.parametrize("case", FITS)
def test_rows_that_fit_exactly_are_shrunk(case):
    pairs, width, dst_line, dst_bpp, at = case[8], case[9], case[5], \
        case[6], case[7]
    target = call(case)
    for row in range(at, at + pairs):   # every byte written is new
        written = target[row * dst_line:row * dst_line + width * dst_bpp]
        assert written != b"\x5a" * len(written)


@pytest.mark.parametrize("case", PAST)
def test_rows_outside_the_buffers_are_refused(case):
    with pytest.raises(ValueError, match="outside the buffers"):
        call(case)


def test_a_read_only_target_is_refused():
    with pytest.raises(TypeError):
        shrink(bytearray(60), 30, 3, 0, bytes(15), 15, 3, 0, 1, 5)


def test_a_checkout_without_the_built_c_part_says_so(tmp_path):
    # the package's Python files alone, as a checkout put on the path
    # without pip install
    copy = tmp_path / "ZoomifyImage"
    shutil.copytree(os.path.dirname(ZoomifyImage.__file__), copy,
                    ignore=shutil.ignore_patterns("*.so", "static"))
    run = subprocess.run(
        [sys.executable, "-c", "import ZoomifyImage.pyramid"],
        cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(tmp_path)),
        capture_output=True, text=True)
    assert run.returncode == 1
    assert "C part (ZoomifyImage/pyramid/_boxmean.c) is not built" in (
        run.stderr)
    assert "pip install -e ." in run.stderr
