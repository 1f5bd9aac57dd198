"""Memory does not grow with the image's height."""

import os
import subprocess
import sys

import pytest
from PIL import Image

from tests.images import ENGINES

CHILD = r"""
import sys
from ZoomifyImage.pyramid import tile_image, TileSink
class Null(TileSink):
    def put(self, name, data):
        pass
tile_image(sys.argv[1], Null(), engine=sys.argv[2])
# the peak of this process's own memory (ru_maxrss would include the
# parent's size, which Linux carries over a fork and exec)
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(line.split()[1])
"""


def peak_kb(path, engine):
    result = subprocess.run([sys.executable, "-c", CHILD, path, engine],
                            capture_output=True, text=True, check=True)
    return int(result.stdout.split()[-1])


def striped(width, height, path):
    """A big image made in strips (the test itself must stay small)."""
    image = Image.new("RGB", (width, height))
    for top in range(0, height, 512):
        shade = (top // 512 * 37 % 256, 90, 200)
        image.paste(shade, (0, top, width, min(height, top + 512)))
    image.save(path)
    return path


@pytest.mark.parametrize("fmt", ["ppm", "tif", "bmp"])
def test_pillow_streams_uncompressed_formats(tmp_path, fmt):
    # 4000 wide: 12 MB of pixels per 1000 rows. The tall image has 9000
    # more rows (108 MB) than the short one; decoded whole it would cost
    # at least that much more memory.
    short = striped(4000, 1000, str(tmp_path / ("short." + fmt)))
    tall = striped(4000, 10000, str(tmp_path / ("tall." + fmt)))
    grown = peak_kb(tall, "pillow") - peak_kb(short, "pillow")
    assert grown < 25_000, "peak memory grew by %d KB" % grown


@pytest.mark.skipif("vips" not in ENGINES, reason="pyvips not installed")
@pytest.mark.parametrize("fmt", ["jpg", "png", "tif"])
def test_vips_streams(tmp_path, fmt):
    short = striped(4000, 1000, str(tmp_path / ("short." + fmt)))
    tall = striped(4000, 10000, str(tmp_path / ("tall." + fmt)))
    grown = peak_kb(tall, "vips") - peak_kb(short, "vips")
    assert grown < 25_000, "peak memory grew by %d KB" % grown


def test_pillow_whole_decode_does_grow(tmp_path):
    # the check above can fail: a PNG is decoded whole by Pillow
    short = striped(4000, 1000, str(tmp_path / "short.png"))
    tall = striped(4000, 10000, str(tmp_path / "tall.png"))
    small, big = peak_kb(short, "pillow"), peak_kb(tall, "pillow")
    assert big - small > 2 * 25_000, (small, big)
