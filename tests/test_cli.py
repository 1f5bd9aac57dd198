"""The zoomify-tile command as a user runs it."""

import fcntl
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios

from PIL import Image

from tests.images import read_dir
from tests.images import save
from tests.images import smooth
from tests.images import snapshot
from ZoomifyImage.pyramid import Layout


def command():
    """The zoomify-tile console script that setup.py installs (beside this
    Python in a virtualenv; on the PATH in a buildout's bin/)."""
    script = os.path.join(os.path.dirname(sys.executable), "zoomify-tile")
    script = script if os.path.exists(script) else shutil.which(
        "zoomify-tile")
    assert script, "zoomify-tile is not installed"
    return script


def test_help_documents_every_option():
    result = subprocess.run([command(), "--help"], capture_output=True,
                            text=True)
    assert result.returncode == 0
    for option in ["INPUT", "OUTDIR", "--tile-size", "--quality",
                   "--engine", "--background", "--quiet", "--max-megapixels",
                   "--force", "--accept-damaged", "--verbose", "auto",
                   "vips", "pillow", "default 256", "default 80"]:
        assert option in result.stdout, option


def test_tiles_and_prints_summary(tmp_path):
    path = save(smooth(1100, 700), tmp_path / "photo.png")
    out = tmp_path / "photo"
    result = subprocess.run([command(), path, str(out), "--quality", "70"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    layout = Layout(1100, 700)
    summary = result.stdout.strip().splitlines()
    assert len(summary) == 1
    assert "1100x700" in summary[0]
    assert "%d tiers" % layout.num_tiers in summary[0]
    assert "%d tiles" % layout.num_tiles in summary[0]
    assert re.search(r", \d+\.\d s \((vips|pillow)\)$", summary[0])
    tiles = read_dir(out)
    assert set(tiles) == set(layout.tile_names()) | {"ImageProperties.xml"}
    # no progress bar when stderr is not a terminal
    assert result.stderr == ""


def test_quiet_prints_nothing(tmp_path):
    path = save(smooth(300, 300), tmp_path / "a.png")
    result = subprocess.run([command(), "--quiet", path,
                             str(tmp_path / "a")], capture_output=True,
                            text=True)
    assert result.returncode == 0
    assert result.stdout == result.stderr == ""


def test_progress_bar_on_a_terminal(tmp_path):
    path = save(smooth(2000, 1500), tmp_path / "a.png")
    master, slave = pty.openpty()
    # a terminal 100 columns wide (a new pty has none: no room for a bar)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    process = subprocess.Popen([command(), path, str(tmp_path / "a")],
                               stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    process.wait(timeout=60)
    os.close(master)
    assert process.returncode == 0
    total = Layout(2000, 1500).num_tiles
    assert b"tiling" in seen and (b"/%d" % total) in seen


def test_options_reach_the_tiles(tmp_path):
    image = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    path = save(image, tmp_path / "clear.png")
    out = tmp_path / "o"
    result = subprocess.run([command(), path, str(out), "--tile-size", "128",
                             "--background", "#ff0000", "--engine",
                             "pillow"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    tiles = read_dir(out)
    assert b'TILESIZE="128"' in tiles["ImageProperties.xml"]
    import io
    tile = Image.open(io.BytesIO(tiles["TileGroup0/2-0-0.jpg"]))
    assert tile.size == (128, 128)
    r, g, b = tile.convert("RGB").getpixel((10, 10))
    assert r > 240 and g < 15 and b < 15


def test_runs_without_pyvips(tmp_path):
    # the Pillow-only installation: pyvips cannot be imported at all
    path = save(smooth(600, 400), tmp_path / "a.tif")
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "pyvips.py").write_text("raise ImportError('no pyvips')\n")
    # this process's path too (a buildout's eggs are not site-packages)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(blocker)] + [p for p in sys.path if "pyvips" not in p]))
    result = subprocess.run([sys.executable, "-m", "ZoomifyImage.cli", path,
                             str(tmp_path / "a")], capture_output=True,
                            text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "(pillow)" in result.stdout
    result = subprocess.run([sys.executable, "-m", "ZoomifyImage.cli",
                             "--engine", "vips", path, str(tmp_path / "b")],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert "install the 'vips' extra" in result.stderr
    shutil.rmtree(blocker)


def test_refuses_a_directory_that_is_not_a_tile_set(tmp_path):
    # zoomify-tile photo.tif ~/www must not delete ~/www
    path = save(smooth(300, 200), tmp_path / "photo.png")
    www = tmp_path / "www"
    (www / "css").mkdir(parents=True)
    (www / "index.html").write_text("<h1>home</h1>")
    (www / "css" / "site.css").write_text("body {}")
    before = snapshot(str(www))
    result = subprocess.run([command(), path, str(www)], capture_output=True,
                            text=True)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("zoomify-tile: error: %s: " % www)
    assert "not a tile set" in lines[0] and "--force" in lines[0]
    assert snapshot(str(www)) == before
    assert sorted(os.listdir(tmp_path)) == ["photo.png", "www"]
    # a tile set with anything else in it is not a tile set either
    out = tmp_path / "set"
    assert subprocess.run([command(), "--quiet", path, str(out)]).returncode \
        == 0
    (out / "TileGroup0" / "notes.txt").write_text("mine")
    before = snapshot(str(out))
    result = subprocess.run([command(), path, str(out)], capture_output=True,
                            text=True)
    assert result.returncode == 1 and "not a tile set" in result.stderr
    assert snapshot(str(out)) == before
    # --force replaces it all the same
    result = subprocess.run([command(), "--quiet", "--force", path,
                             str(www)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert set(read_dir(www)) == set(Layout(300, 200).tile_names()) | {
        "ImageProperties.xml"}
    assert sorted(os.listdir(tmp_path)) == ["photo.png", "set", "www"]


def test_replaces_a_tile_set_and_fills_an_empty_directory(tmp_path):
    path = save(smooth(300, 200), tmp_path / "photo.png")
    big = save(smooth(900, 700), tmp_path / "big.png")
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "set"
    for target, image, size in [(empty, path, (300, 200)),
                                (out, big, (900, 700)),
                                (out, path, (300, 200))]:
        result = subprocess.run([command(), "--quiet", image, str(target)],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert set(read_dir(target)) == set(Layout(*size).tile_names()) | {
            "ImageProperties.xml"}
    assert sorted(os.listdir(tmp_path)) == ["big.png", "empty", "photo.png",
                                            "set"]
