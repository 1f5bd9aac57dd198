"""End to end over real HTTP on 127.0.0.1: a `runwsgi` Zope process."""

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest
from PIL import Image

from ZoomifyImage.pyramid import Layout
from ZoomifyImage.pyramid.sources import vips_available

from tests.http_upload import post_form
from tests.images import save, smooth
from tests.zope_fixtures import ADMIN, ZopeServer


def big_jpeg(path, width, height):
    """A large, detailed JPEG, made in bands (the test stays small)."""
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


@pytest.fixture(scope="module")
def server():
    s = ZopeServer(storage="filesystem").start()
    yield s
    s.stop()


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_large_upload_keeps_zope_memory_bounded(server, tmp_path):
    width, height = 10000, 6000          # 60 megapixels, 240 MB decoded
    path = big_jpeg(str(tmp_path / "big.jpg"), width, height)
    idle = server.memory_kb("VmRSS")
    status, body = post_form(
        server.url + "/manage_addProduct/ZoomifyImage/manage_addZoomifyImage",
        {"id": "big", "title": "Big"}, "file", path, ADMIN)
    assert status == 302, body[:500]
    # 60 megapixels is over background-megapixels (50): a worker tiles it
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = json.loads(get(server.url + "/big/status_json")[2])
        if state["status"] in ("ready", "failed"):
            break
        time.sleep(0.2)
    assert state["status"] == "ready", state
    peak = server.memory_kb("VmHWM")
    grown_mb = (peak - idle) / 1024
    # the whole image would be 240 MB of pixels; a streaming tiler and a
    # streamed upload need a fraction of that
    print("Zope grew by %.0f MB (idle %.0f MB)" % (grown_mb, idle / 1024))
    assert grown_mb < 150, "Zope grew by %.0f MB" % grown_mb
    layout = Layout(width, height)
    status, headers, data = get(server.url + "/big/ImageProperties.xml")
    assert status == 200
    assert ('NUMTILES="%d"' % layout.num_tiles).encode() in data
    status, headers, data = get(server.url + "/big/" + layout.tile_name(
        layout.num_tiers - 1, 39, 23))
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    # tiles were written where a front-end could serve them
    conf = open(server.conf).read()
    assert "storage filesystem" in conf
    root = os.path.join(server.home, "var", "zoomifyimage")
    assert os.path.isdir(root) and len(os.listdir(root)) >= 1


def test_bad_upload_over_http_is_a_clear_400(server, tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00" + b"\x00" * 100)
    status, body = post_form(
        server.url + "/manage_addProduct/ZoomifyImage/manage_addZoomifyImage",
        {"id": "bad"}, "file", str(bad), ADMIN, "image/tiff")
    assert status == 400
    assert b"bad.tif" in body
    assert get(server.url + "/bad")[0] == 404


def test_zoomify_import_command(tmp_path):
    s = ZopeServer()  # not started: the command opens its Data.fs
    photo = save(smooth(900, 600), tmp_path / "import me.png")
    script = os.path.join(os.path.dirname(sys.executable), "zoomify-import")
    folder = subprocess.run(
        [script, "--zope-conf", s.conf, "--path", "/no/such", photo],
        capture_output=True, text=True)
    assert folder.returncode == 1
    assert "no such folder" in folder.stderr
    assert len(folder.stderr.strip().splitlines()) == 1
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    result = subprocess.run(
        [script, "--zope-conf", s.conf, str(bad)],
        capture_output=True, text=True)
    assert result.returncode == 1 and "not an image" in result.stderr
    result = subprocess.run(
        [script, "--zope-conf", s.conf, "--id", "imported", "--title",
         "Imported", "--storage", "filesystem", photo],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "added /imported" in result.stdout
    s.start()
    try:
        status, headers, data = get(s.url + "/imported/ImageProperties.xml")
        assert status == 200 and b'WIDTH="900" HEIGHT="600"' in data
        status, headers, data = get(s.url + "/imported/TileGroup0/0-0-0.jpg")
        assert status == 200
    finally:
        s.stop()
