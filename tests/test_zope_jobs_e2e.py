"""Background jobs in real Zope processes: kill -9 in the middle of a job,
jobs queued from the shell, two Zope processes on one ZEO server, and a
clean stop on SIGTERM or Ctrl-C."""

import contextlib
import os
import signal
import subprocess
import time
import urllib.request

import pytest

from tests.http_upload import get
from tests.images import big_jpeg
from tests.zope_fixtures import ZEOServer
from tests.zope_fixtures import ZopeServer
from tests.zope_fixtures import free_port
from tests.zope_fixtures import import_command
from ZoomifyImage.pyramid import Layout

FAST = {"background-megapixels": "1", "job-scan-seconds": "1"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shared(tmp_path, *settings, **more):
    """Settings of a client of a shared database: the tile root and the
    upload directory all its clients share (shared_dirs.py)."""
    values = {"tile-root": str(tmp_path / "shared-tiles"),
              "upload-dir": str(tmp_path / "shared-uploads")}
    for each in settings:
        values.update(each)
    values.update(more)
    return values


@contextlib.contextmanager
def site_of(home):
    """The application root of an instance whose Zope is not running,
    from its Data.fs opened read-only."""
    import ZODB
    from ZODB.FileStorage import FileStorage
    var = os.path.join(home, "var")
    db = ZODB.DB(FileStorage(os.path.join(var, "Data.fs"), read_only=True,
                             blob_dir=os.path.join(var, "blobs")))
    try:
        yield db.open().root()["Application"]
    finally:
        db.close()


def lock_is_free(home):
    import zc.lockfile
    try:
        zc.lockfile.LockFile(os.path.join(home, "var", "Data.fs.lock")).close()
    except zc.lockfile.LockError:
        return False
    return True


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
    a = ZopeServer(zeo=zeo.address, settings=shared(tmp_path, FAST))
    b = ZopeServer(zeo=zeo.address, settings=shared(tmp_path, FAST))
    try:
        a.start()
        b.start()
        # queue a job from the shell: both processes look for it, one runs it
        photo = big_jpeg(str(tmp_path / "shared.jpg"), 3000, 2000)
        script = import_command()
        importer = ZopeServer(zeo=zeo.address, settings=shared(tmp_path))
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


def test_a_web_only_process_leaves_its_jobs_to_another(tmp_path):
    """``workers 0`` (issue 24): a Zope process that serves and queues but
    tiles nothing; the job waits in the database until a process with a
    worker starts on the same ZEO server, which runs it."""
    zeo = ZEOServer().start()
    web = ZopeServer(zeo=zeo.address,
                     settings=shared(tmp_path, FAST, workers="0"))
    tiler = ZopeServer(zeo=zeo.address, settings=shared(tmp_path, FAST))
    try:
        web.start()
        photo = big_jpeg(str(tmp_path / "big.jpg"), 1500, 1000)
        web.add(photo, "big")
        time.sleep(3)  # three of its job scans
        assert web.job_status("big")["status"] == "queued"
        assert get(web.url + "/big/ImageProperties.xml")[0] == 404
        tiler.start()
        web.wait_for("big", ["ready", "failed"])
        assert web.job_status("big")["status"] == "ready"
        assert get(web.url + "/big/TileGroup0/0-0-0.jpg")[0] == 200
        runs = [s.log_text().count("tiled ") for s in (web, tiler)]
        assert runs == [0, 1], runs
    finally:
        web.stop()
        tiler.stop()
        zeo.stop()


def test_import_runs_no_job_of_the_site(tmp_path):
    site = ZopeServer(settings=FAST)  # not started: the commands open it
    script = import_command()
    waiting = big_jpeg(str(tmp_path / "waiting.jpg"), 2000, 1500)
    result = subprocess.run([script, "--zope-conf", site.conf,
                             "--background", "--id", "waiting", waiting],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # another import, tiled in its own process: it must not start the
    # queued job of the site and exit in the middle of it
    photo = big_jpeg(str(tmp_path / "photo.jpg"), 3000, 2000)
    result = subprocess.run([script, "--zope-conf", site.conf, "--id",
                             "now", photo], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with site_of(site.home) as app:
        assert app["now"].status == "ready"
        job = app["waiting"]._job
        assert (job.status, job.attempts, job.owner) == ("queued", 0, None)


def test_sigterm_stops_cleanly_and_leaves_the_job_queued(tmp_path):
    path = big_jpeg(str(tmp_path / "big.jpg"), 9000, 6000)
    server = ZopeServer(storage="filesystem", settings=FAST).start()
    try:
        server.add(path, "big")
        server.wait_for("big", ["tiling", "ready"])
        assert server.job_status("big")["status"] == "tiling", \
            "the job ended before the signal"
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(30) == 0
    finally:
        server.stop()
    log = server.log_text()
    assert "SIGTERM: stopping the tiling workers" in log
    assert "left queued" in log
    var = os.path.join(server.home, "var")
    assert not os.path.exists(os.path.join(var, "Z4.pid"))
    # zc.lockfile leaves the file Data.fs.lock; the lock itself is free
    assert lock_is_free(server.home)
    partial = os.path.join(var, "zoomifyimage", ".partial")
    assert not os.path.isdir(partial) or os.listdir(partial) == []
    with site_of(server.home) as app:
        job = app["big"]._job
        # claimable at once by the next start or another process
        assert (job.status, job.attempts, job.owner) == ("queued", 0, None)


@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl-C"])
def test_make_start_stops_on_sigterm_and_ctrl_c(tmp_path, how):
    # make test has installed everything: make start only checks that
    home = str(tmp_path / "instance")
    port = free_port()
    log = open(str(tmp_path / "make.log"), "wb")
    make = subprocess.Popen(
        ["make", "start", "INSTANCE=" + home, "PORT=%d" % port], cwd=ROOT,
        stdout=log, stderr=log, start_new_session=True,
        env=dict(os.environ, ZOPE_ADMIN="admin:secret"),
        # as in a terminal's foreground job, even where the suite runs in
        # the background of a shell (which ignores SIGINT, for its heirs)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/" % port,
                                       timeout=2)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                assert make.poll() is None and time.monotonic() < deadline, \
                    open(str(tmp_path / "make.log")).read()[-2000:]
                time.sleep(0.2)
        pid_file = os.path.join(home, "var", "Z4.pid")
        runwsgi = int(open(pid_file).read())
        if how == "SIGTERM":  # what a service manager sends
            make.send_signal(signal.SIGTERM)
        else:  # Ctrl-C: the terminal signals the whole foreground group
            os.killpg(make.pid, signal.SIGINT)
        make.wait(30)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
    with pytest.raises(ProcessLookupError):
        os.kill(runwsgi, 0)
    # runwsgi removes its pid file only when it stops cleanly
    assert not os.path.exists(pid_file), \
        open(str(tmp_path / "make.log")).read()[-2000:]
    assert lock_is_free(home)
