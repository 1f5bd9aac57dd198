"""Memory does not grow with the image's height."""

import gc
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


def peaks(tmp_path, fmt, engine):
    """Peak memory (KB) tiling a short and a tall image of one width.

    4000 wide: 12 MB of pixels per 1000 rows. The tall image has 9000 more
    rows (108 MB) than the short one; decoded whole it would cost at least
    that much more memory.
    """
    short = striped(4000, 1000, str(tmp_path / ("short." + fmt)))
    tall = striped(4000, 10000, str(tmp_path / ("tall." + fmt)))
    return peak_kb(short, engine), peak_kb(tall, engine)


@pytest.mark.parametrize("fmt", ["ppm", "tif", "bmp"])
def test_pillow_streams_uncompressed_formats(tmp_path, fmt):
    small, big = peaks(tmp_path, fmt, "pillow")
    assert big - small < 25_000, "peak memory grew by %d KB" % (big - small)


@pytest.mark.skipif("vips" not in ENGINES, reason="pyvips not installed")
@pytest.mark.parametrize("fmt", ["jpg", "png", "tif"])
def test_vips_streams(tmp_path, fmt):
    small, big = peaks(tmp_path, fmt, "vips")
    assert big - small < 25_000, "peak memory grew by %d KB" % (big - small)


def test_pillow_whole_decode_does_grow(tmp_path):
    # the check above can fail: a PNG is decoded whole by Pillow
    small, big = peaks(tmp_path, "png", "pillow")
    assert big - small > 2 * 25_000, (small, big)


@pytest.mark.skipif("vips" not in ENGINES, reason="pyvips not installed")
def test_vips_reading_leaves_nothing_behind(tmp_path):
    # a JPEG is fed to libvips through a pipe by a thread, and libvips is
    # asked for one worker: after the run, success or failure, the thread
    # and the descriptors are gone and the setting is back
    import threading

    import pyvips

    from ZoomifyImage.pyramid import MemorySink
    from ZoomifyImage.pyramid import TilingError
    from ZoomifyImage.pyramid import tile_image
    good = striped(600, 500, str(tmp_path / "good.jpg"))
    bad = str(tmp_path / "bad.jpg")
    with open(good, "rb") as f:
        data = f.read()
    with open(bad, "wb") as f:
        f.write(data[:len(data) // 2])
    gc.collect()  # files earlier tests left to the collector: not ours
    before = len(os.listdir("/proc/self/fd"))
    workers = pyvips.concurrency_get()
    tile_image(good, MemorySink(), engine="vips")
    with pytest.raises(TilingError):
        tile_image(bad, MemorySink(), engine="vips")
    assert not [t for t in threading.enumerate() if t.name == "zoomify-feed"]
    assert len(os.listdir("/proc/self/fd")) == before
    assert pyvips.concurrency_get() == workers
