"""End to end over real HTTP on 127.0.0.1: a `runwsgi` Zope process."""

import os
import subprocess

import pytest

from tests.http_upload import get
from tests.http_upload import post_form
from tests.images import big_jpeg
from tests.images import save
from tests.images import smooth
from tests.zope_fixtures import ADMIN
from tests.zope_fixtures import ZopeServer
from tests.zope_fixtures import import_command
from ZoomifyImage.pyramid import Layout


@pytest.fixture(scope="module")
def server():
    s = ZopeServer(storage="filesystem").start()
    yield s
    s.stop()


def test_large_upload_keeps_zope_memory_bounded(server, tmp_path):
    width, height = 10000, 6000          # 60 megapixels, 240 MB decoded
    path = big_jpeg(str(tmp_path / "big.jpg"), width, height)
    idle = server.memory_kb("VmRSS")
    server.add(path, "big")
    # 60 megapixels is over background-megapixels (50): a worker tiles it
    server.wait_for("big", ["ready", "failed"], interval=0.2)
    state = server.job_status("big")
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
    script = import_command()
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


def _send_head(url, path, length, auth=None):
    """Send only the head of a POST that announces ``length`` bytes; the
    status line of the answer (the body is never sent)."""
    import base64
    import socket
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    head = ("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: "
            "multipart/form-data; boundary=x\r\nContent-Length: %d\r\n"
            % (path, parts.netloc, length))
    if auth:
        head += "Authorization: Basic %s\r\n" % base64.b64encode(
            ("%s:%s" % auth).encode()).decode()
    with socket.create_connection((parts.hostname, parts.port), 10) as s:
        s.sendall((head + "\r\n").encode())
        s.settimeout(10)
        answer = s.recv(4096)
    return answer.split(b"\r\n", 1)[0], answer


def test_request_bodies_are_capped_before_anyone_logs_in(server):
    from ZoomifyImage.instance import DEFAULT_MAX_BODY
    from ZoomifyImage.instance import parse_size
    limit = parse_size(DEFAULT_MAX_BODY)
    assert limit <= 100 << 20
    ini = open(server.ini).read()
    assert "max_request_body_size = %d" % limit in ini
    add = "/manage_addProduct/ZoomifyImage/manage_addZoomifyImage"
    # anonymous, 64 GB announced: refused at once, nothing is read
    line, answer = _send_head(server.url, add, 64 << 30)
    assert line.startswith(b"HTTP/1.1 413"), answer
    line, answer = _send_head(server.url, add, limit + 1)
    assert line.startswith(b"HTTP/1.1 413"), answer
    # the limit is the same for managers: big files go by zoomify-import
    line, answer = _send_head(server.url, add, limit + 1, ADMIN)
    assert line.startswith(b"HTTP/1.1 413"), answer
    assert get(server.url + "/")[0] == 200


def test_max_body_is_a_setting_of_the_instance(tmp_path):
    from ZoomifyImage.instance import main
    home = tmp_path / "inst"
    assert main([str(home), "--max-body", "2GB"]) == 0
    ini = (home / "etc" / "zope.ini").read_text()
    assert "max_request_body_size = %d" % (2 << 30) in ini
    with pytest.raises(SystemExit):
        main([str(home), "--max-body", "lots"])
