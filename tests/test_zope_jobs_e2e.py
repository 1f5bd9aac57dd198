"""Background jobs in real Zope processes: kill -9 in the middle of a job,
jobs queued from the shell, and two Zope processes on one ZEO server."""

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from ZoomifyImage.pyramid import Layout

from tests.http_upload import post_form
from tests.test_zope_server import big_jpeg
from tests.zope_fixtures import ADMIN, ZEOServer, ZopeServer

FAST = {"background-megapixels": "1", "job-scan-seconds": "1"}


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def job_status(server, id):
    code, body = get("%s/%s/status_json" % (server.url, id))
    return json.loads(body) if code == 200 else {"status": "missing"}


def wait_for(server, id, wanted, timeout=120, interval=0.05):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        state = job_status(server, id)["status"]
        if not seen or seen[-1] != state:
            seen.append(state)
        if state in wanted:
            return seen
        time.sleep(interval)
    raise AssertionError("no %s after %s s: %s" % (wanted, timeout, seen))


def add(server, path, id):
    status, body = post_form(
        server.url + "/manage_addProduct/ZoomifyImage/manage_addZoomifyImage",
        {"id": id}, "file", path, ADMIN)
    assert status == 302, body[:300]


@pytest.mark.parametrize("storage", ["filesystem", "zodb"])
def test_kill_9_mid_job_then_restart(tmp_path, storage):
    path = big_jpeg(str(tmp_path / "big.jpg"), 9000, 6000)
    server = ZopeServer(storage=storage, settings=FAST).start()
    try:
        add(server, path, "big")
        wait_for(server, "big", ["tiling", "ready"])
        state = job_status(server, "big")
        assert state["status"] == "tiling", "the job ended before the kill"
        server.kill()
        # the next start finds the job of the dead process and runs it
        server.start()
        assert job_status(server, "big")["status"] in ("queued", "tiling")
        # nothing half-built is served meanwhile
        assert get(server.url + "/big/ImageProperties.xml")[0] == 404
        wait_for(server, "big", ["ready", "failed"])
        assert job_status(server, "big")["status"] == "ready"
        layout = Layout(9000, 6000)
        code, body = get(server.url + "/big/ImageProperties.xml")
        assert code == 200
        assert ('NUMTILES="%d"' % layout.num_tiles).encode() in body
        code, body = get(server.url + "/big/" + layout.tile_name(
            layout.num_tiers - 1, 35, 23))
        assert code == 200 and body[:2] == b"\xff\xd8"
        # and the dead job's temporary tiles are gone
        partial = os.path.join(server.home, "var", "zoomifyimage",
                               ".partial")
        assert not os.path.isdir(partial) or os.listdir(partial) == []
        assert "queueing tiling job" in server.log_text()
    finally:
        server.stop()


def test_import_in_background_runs_at_next_start(tmp_path):
    server = ZopeServer(settings=FAST)
    photo = big_jpeg(str(tmp_path / "photo.jpg"), 2000, 1500)
    script = os.path.join(os.path.dirname(sys.executable), "zoomify-import")
    result = subprocess.run([script, "--zope-conf", server.conf,
                             "--background", "--id", "later", photo],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "queued" in result.stdout
    server.start()
    try:
        wait_for(server, "later", ["ready", "failed"])
        assert job_status(server, "later")["status"] == "ready"
        assert get(server.url + "/later/TileGroup0/0-0-0.jpg")[0] == 200
    finally:
        server.stop()


def test_two_zope_processes_on_one_zeo_server(tmp_path):
    zeo = ZEOServer().start()
    a = ZopeServer(zeo=zeo.address, settings=FAST)
    b = ZopeServer(zeo=zeo.address, settings=FAST)
    try:
        a.start()
        b.start()
        # queue a job from the shell: both processes look for it, one runs it
        photo = big_jpeg(str(tmp_path / "shared.jpg"), 3000, 2000)
        script = os.path.join(os.path.dirname(sys.executable),
                              "zoomify-import")
        importer = ZopeServer(zeo=zeo.address)
        result = subprocess.run([script, "--zope-conf", importer.conf,
                                 "--background", "--id", "shared", photo],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        wait_for(a, "shared", ["ready", "failed"])
        assert job_status(a, "shared")["status"] == "ready"
        layout = Layout(3000, 2000)
        for server in (a, b):
            for name in ["ImageProperties.xml", layout.tile_name(4, 11, 7),
                         layout.tile_name(0, 0, 0)]:
                assert get(server.url + "/shared/" + name)[0] == 200, \
                    (server.url, name)
        # exactly one of the two processes tiled it
        runs = [s.log_text().count("tiled ") for s in (a, b)]
        assert sorted(runs) == [0, 1], runs
        # and an image added through one is served by the other
        add(b, photo, "via_b")
        wait_for(a, "via_b", ["ready", "failed"])
        assert get(a.url + "/via_b/TileGroup0/0-0-0.jpg")[0] == 200
    finally:
        a.stop()
        b.stop()
        zeo.stop()
