"""Background jobs in real Zope processes: kill -9 in the middle of a job,
jobs queued from the shell, and two Zope processes on one ZEO server."""

import os
import subprocess

import pytest

from ZoomifyImage.pyramid import Layout

from tests.http_upload import get
from tests.images import big_jpeg
from tests.zope_fixtures import ZEOServer, ZopeServer, import_command

FAST = {"background-megapixels": "1", "job-scan-seconds": "1"}


@pytest.mark.parametrize("storage", ["filesystem", "zodb"])
def test_kill_9_mid_job_then_restart(tmp_path, storage):
    path = big_jpeg(str(tmp_path / "big.jpg"), 9000, 6000)
    server = ZopeServer(storage=storage, settings=FAST).start()
    try:
        server.add(path, "big")
        server.wait_for("big", ["tiling", "ready"])
        state = server.job_status("big")
        assert state["status"] == "tiling", "the job ended before the kill"
        server.kill()
        # the next start finds the job of the dead process and runs it
        server.start()
        assert server.job_status("big")["status"] in ("queued", "tiling")
        # nothing half-built is served meanwhile
        assert get(server.url + "/big/ImageProperties.xml")[0] == 404
        server.wait_for("big", ["ready", "failed"])
        assert server.job_status("big")["status"] == "ready"
        layout = Layout(9000, 6000)
        code, _, body = get(server.url + "/big/ImageProperties.xml")
        assert code == 200
        assert ('NUMTILES="%d"' % layout.num_tiles).encode() in body
        code, _, body = get(server.url + "/big/" + layout.tile_name(
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
    script = import_command()
    result = subprocess.run([script, "--zope-conf", server.conf,
                             "--background", "--id", "later", photo],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "queued" in result.stdout
    server.start()
    try:
        server.wait_for("later", ["ready", "failed"])
        assert server.job_status("later")["status"] == "ready"
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
        script = import_command()
        importer = ZopeServer(zeo=zeo.address)
        result = subprocess.run([script, "--zope-conf", importer.conf,
                                 "--background", "--id", "shared", photo],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        a.wait_for("shared", ["ready", "failed"])
        assert a.job_status("shared")["status"] == "ready"
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
        b.add(photo, "via_b")
        a.wait_for("via_b", ["ready", "failed"])
        assert get(a.url + "/via_b/TileGroup0/0-0-0.jpg")[0] == 200
    finally:
        a.stop()
        b.stop()
        zeo.stop()
