"""The pyramid's 2x2 box mean, in C (_boxmean.c) and in numpy (boxmean.py,
for an installation without a C compiler): Pillow's Image.reduce(2), byte
for byte, on our packed buffers, never a byte outside them, and the same
bytes and refusals from both."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import ZoomifyImage
from tests.images import read_dir
from tests.images import save
from tests.images import smooth
from ZoomifyImage.pyramid import boxmean
from ZoomifyImage.pyramid._boxmean import shrink as c_shrink

MODES = {1: "L", 3: "RGB", 4: "RGBX"}
# every test of the contract runs on both
SHRINKS = pytest.mark.parametrize("shrink", [c_shrink, boxmean.numpy_shrink],
                                  ids=["c", "numpy"])


def test_the_installed_product_uses_the_c():
    # this test run's installation was built with a compiler (make install)
    assert boxmean.compiled and boxmean.shrink is c_shrink


@SHRINKS
@pytest.mark.parametrize("bpp,out_bpp", [(1, 1), (3, 3), (4, 3)])
@pytest.mark.parametrize("width", [1, 2, 257, 30001])
def test_the_mean_is_pillows_reduce(shrink, bpp, out_bpp, width):
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


def call(shrink, case):
    src_size, src_line, src_bpp, top, dst_size, dst_line, dst_bpp, at, \
        pairs, width = case
    target = bytearray(b"\x5a" * dst_size)
    shrink(bytearray(range(256)) * (src_size // 256) + bytearray(
        src_size % 256), src_line, src_bpp, top, target, dst_line, dst_bpp,
        at, pairs, width)
    return target


@SHRINKS
@pytest.mark.parametrize("case", FITS)
def test_rows_that_fit_exactly_are_shrunk(shrink, case):
    pairs, width, dst_line, dst_bpp, at = case[8], case[9], case[5], \
        case[6], case[7]
    target = call(shrink, case)
    for row in range(at, at + pairs):   # every byte written is new
        written = target[row * dst_line:row * dst_line + width * dst_bpp]
        assert written != b"\x5a" * len(written)


@SHRINKS
@pytest.mark.parametrize("case", PAST)
def test_rows_outside_the_buffers_are_refused(shrink, case):
    with pytest.raises(ValueError, match="outside the buffers"):
        call(shrink, case)


@SHRINKS
def test_a_read_only_target_is_refused(shrink):
    with pytest.raises(TypeError):
        shrink(bytearray(60), 30, 3, 0, bytes(15), 15, 3, 0, 1, 5)


@SHRINKS
@pytest.mark.parametrize("bad,error", [
    (("60 bytes", 30, 3, 0, bytearray(15), 15, 3, 0, 1, 5), TypeError),
    ((bytearray(60), 30.0, 3, 0, bytearray(15), 15, 3, 0, 1, 5), TypeError),
    ((bytearray(60), 30, 3, 0, bytearray(15), 15, 3, 2 ** 63, 1, 5),
     OverflowError),
    ((bytearray(60), 30, 2 ** 31, 0, bytearray(15), 15, 3, 0, 1, 5),
     OverflowError),
    ((bytearray(60), 30, 3, 0, bytearray(15), 15, 3, 0, 1), TypeError),
])
def test_arguments_of_the_wrong_kind_are_refused_alike(shrink, bad, error):
    with pytest.raises(error):
        shrink(*bad)


@pytest.mark.parametrize("seed", range(8))
def test_numpy_gives_the_c_bytes(seed):
    # random rows of every pixel size pair the C accepts, even and odd
    # widths, rows with spare bytes at their ends, and odd row counts,
    # offsets and buffer sizes; every byte of the target compared
    rng = np.random.default_rng(seed)
    for src_bpp in range(1, 5):
        for dst_bpp in range(1, src_bpp + 1):
            width = int(rng.choice([1, 2, 3, 255, 256, 257, 1000, 1001]))
            src_line = 2 * width * src_bpp + int(rng.integers(0, 7))
            dst_line = width * dst_bpp + int(rng.integers(0, 7))
            pairs = int(rng.integers(1, 6))
            top = int(rng.integers(0, 3))
            at = int(rng.integers(0, 3))
            source = rng.integers(0, 256, src_line * (top + 2 * pairs)
                                  + int(rng.integers(0, src_line)),
                                  dtype=np.uint8).tobytes()
            target = rng.integers(0, 256, dst_line * (at + pairs)
                                  + int(rng.integers(0, dst_line)),
                                  dtype=np.uint8).tobytes()
            by_c, by_numpy = bytearray(target), bytearray(target)
            args = (src_line, src_bpp, top)
            c_shrink(source, *args, by_c, dst_line, dst_bpp, at, pairs,
                     width)
            boxmean.numpy_shrink(source, *args, by_numpy, dst_line,
                                 dst_bpp, at, pairs, width)
            assert by_numpy == by_c, (src_bpp, dst_bpp, width, pairs)
            assert by_c != target


def numpy_checkout(tmp_path):
    """The package's Python files alone, as a checkout put on the path
    without pip install, or an installation built without a C compiler:
    (directory, environment) to run it."""
    copy = tmp_path / "checkout" / "ZoomifyImage"
    shutil.copytree(os.path.dirname(ZoomifyImage.__file__), copy,
                    ignore=shutil.ignore_patterns("*.so", "static"))
    return str(copy.parent), dict(os.environ, PYTHONPATH=str(copy.parent))


def test_a_checkout_without_the_c_part_uses_numpy(tmp_path):
    where, env = numpy_checkout(tmp_path)
    run = subprocess.run(
        [sys.executable, "-c", "from ZoomifyImage.pyramid import boxmean; "
         "print(boxmean.compiled, boxmean.shrink.__name__, "
         "boxmean.__file__)"], cwd=where, env=env, capture_output=True,
        text=True)
    assert run.returncode == 0, run.stderr
    compiled, name, path = run.stdout.split()
    assert (compiled, name) == ("False", "numpy_shrink")
    assert path.startswith(where)


@pytest.mark.parametrize("engine,mode", [("pillow", "RGB"), ("vips", "RGB"),
                                         ("pillow", "L")])
def test_the_tiler_makes_the_same_tiles_through_numpy(tmp_path, engine,
                                                      mode):
    # odd sides at the top tiers (1201x803 -> 600x401 -> 300x200),
    # the pillow engine's RGBX top tier, libvips' packed RGB and grey
    image = Image.fromarray(smooth(1201, 803)).convert(mode)
    path = save(image, tmp_path / "photo.png")
    where, env = numpy_checkout(tmp_path)
    sets = {}
    # python -m puts the working directory first on the path
    for name, cwd, environment in [("c", tmp_path, os.environ),
                                   ("numpy", where, env)]:
        out = tmp_path / name
        run = subprocess.run(
            [sys.executable, "-m", "ZoomifyImage.cli", "--verbose",
             "--engine", engine, path, str(out)], cwd=cwd,
            env=environment, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        assert ("C box mean (_boxmean.c) is not built" in run.stderr) == (
            name == "numpy")
        assert "(%s)" % engine in run.stdout
        sets[name] = read_dir(out)
    assert len(sets["c"]) == 1 + 2 + 6 + 20 + 1   # 4 tiers, the XML
    assert sets["numpy"] == sets["c"]
