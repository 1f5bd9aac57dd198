"""Issue 10, faults with real processes: a filesystem-store retile killed
with SIGKILL at several points, then Zope started again on the same
instance; two Zope processes over ZEO serving an image while a retile
commits."""

import glob
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.http_upload import get
from tests.http_upload import post_form
from tests.images import big_jpeg
from tests.images import save
from tests.images import smooth
from tests.zope_fixtures import ADMIN
from tests.zope_fixtures import ZEOServer
from tests.zope_fixtures import ZopeServer
from ZoomifyImage.pyramid import Layout

CRASH = os.path.join(os.path.dirname(__file__), "crash_retile.py")
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def etag_of(headers):
    return {k.lower(): v for k, v in headers.items()}.get("etag")


def image_sets(server, uid):
    folder = os.path.join(server.home, "var", "zoomifyimage", uid[:2], uid)
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def partials(server):
    folder = os.path.join(server.home, "var", "zoomifyimage", ".partial")
    return os.listdir(folder) if os.path.isdir(folder) else []


def age_everything(server, seconds=7200):
    """Make every file under the tile root look old, as after a night:
    the sweep's grace and the partial cleanup apply."""
    root = os.path.join(server.home, "var", "zoomifyimage")
    then = time.time() - seconds
    for here, dirs, files in os.walk(root):
        for name in dirs + files:
            os.utime(os.path.join(here, name), (then, then))


def served_set(server, id, width, height):
    """Fetch ImageProperties.xml and every tile it promises: all must be
    there, from one set (one ETag)."""
    code, headers, body = get("%s/%s/ImageProperties.xml" % (server.url, id))
    assert code == 200, code
    assert ('WIDTH="%d" HEIGHT="%d"' % (width, height)).encode() in body
    etags = {etag_of(headers)}
    layout = Layout(width, height)
    for name in layout.tile_names():
        code, headers, tile = get("%s/%s/%s" % (server.url, id, name))
        assert code == 200 and tile[:2] == b"\xff\xd8", name
        etags.add(etag_of(headers))
    assert len(etags) == 1, etags
    return etags.pop()


def uid_of(server, id):
    # the ETag names the set, never the uid (issue 23, L1): the uid is
    # the folder the set lies in under tile-root (ab/UID/SET)
    code, headers, body = get("%s/%s/ImageProperties.xml" % (server.url, id))
    set_id = etag_of(headers).strip('"').split("-")[2]
    (found,) = glob.glob(os.path.join(server.home, "var", "zoomifyimage",
                                      "*", "*", set_id))
    return os.path.basename(os.path.dirname(found))


@pytest.mark.parametrize("when", ["tiling", "vote", "finish"])
def test_kill_9_during_a_retile(tmp_path, when):
    old = save(smooth(1100, 700), tmp_path / "old.png")
    new = big_jpeg(str(tmp_path / "new.jpg"), 6000, 4000)
    server = ZopeServer(storage="filesystem",
                        settings={"trash-days": "0"}).start()
    try:
        server.add(old, "img")
        uid = uid_of(server, "img")
        served_set(server, "img", 1100, 700)
    finally:
        server.stop()
    env = dict(os.environ, PYTHONPATH=HERE)
    if when == "tiling":
        process = subprocess.Popen(
            [sys.executable, CRASH, server.conf, "img", new, "none"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            partial = os.path.join(server.home, "var", "zoomifyimage",
                                   ".partial")
            tiles = sum(len(files) for _, _, files in os.walk(partial)) \
                if os.path.isdir(partial) else 0
            if tiles > 50:
                break
            time.sleep(0.01)
        assert process.poll() is None, "the retile ended before the kill"
        process.send_signal(signal.SIGKILL)
        process.wait()
    else:
        result = subprocess.run(
            [sys.executable, CRASH, server.conf, "img", new, when],
            env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    assert len(image_sets(server, uid)) == (1 if when == "tiling" else 2)
    # the previous set or the new one, whole, never a mix
    expected = (6000, 4000) if when == "finish" else (1100, 700)
    server.start()
    try:
        served_set(server, "img", *expected)
    finally:
        server.stop()
    # after a night, the start-up sweep leaves only the set in use
    age_everything(server)
    server.start()
    try:
        assert len(image_sets(server, uid)) == 1
        assert partials(server) == []
        served_set(server, "img", *expected)
    finally:
        server.stop()


def test_two_processes_serve_whole_sets_while_a_retile_commits(tmp_path):
    zeo = ZEOServer().start()
    # the upload directory shared too, as every client of one database
    settings = {"job-scan-seconds": "1",
                "upload-dir": str(tmp_path / "uploads")}
    a = ZopeServer(storage="filesystem", zeo=zeo.address, settings=settings)
    b = ZopeServer(storage="filesystem", zeo=zeo.address, settings=settings)
    # one tile root on a shared disc
    shared = str(tmp_path / "tiles")
    for server in (a, b):
        text = open(server.conf).read().replace(
            "tile-root $INSTANCE/var/zoomifyimage", "tile-root " + shared)
        open(server.conf, "w").write(text)
    try:
        a.start()
        b.start()
        first = save(smooth(1100, 700), tmp_path / "first.png")
        second = save(smooth(700, 1100, seed=4), tmp_path / "second.png")
        a.add(first, "img")
        sizes = {1: (1100, 700), 2: (700, 1100)}
        problems = []
        seen = set()
        stop = threading.Event()

        def read(server):
            # as a viewer: a page built for the set served now (the set's
            # id is in the ETag, the page adds it as ?v=), then its tiles:
            # all of that set, none missing, while retiles commit
            while not stop.is_set():
                code, headers, body = get(server.url +
                                          "/img/ImageProperties.xml")
                if code != 200:
                    problems.append(("xml", code))
                    continue
                etag = etag_of(headers)
                set_id = etag.strip('"').rsplit("-", 1)[1]
                wide = b'WIDTH="1100"' in body
                layout = Layout(*(sizes[1] if wide else sizes[2]))
                seen.add(wide)
                for name in layout.tile_names()[::5]:
                    code, h, tile = get("%s/img/%s?v=%s"
                                        % (server.url, name, set_id))
                    if code != 200 or etag_of(h) != etag:
                        problems.append((name, code, etag_of(h), etag))
        readers = [threading.Thread(target=read, args=(s,))
                   for s in (a, b, a, b)]
        for t in readers:
            t.start()
        for round in range(4):
            time.sleep(0.3)
            path = second if round % 2 == 0 else first
            status, body = post_form(b.url + "/img/manage_upload", {},
                                     "file", path, ADMIN, "image/png")
            assert status == 303, body[:300]  # to the Edit tab (newcomer 1)
        time.sleep(0.5)
        stop.set()
        for t in readers:
            t.join(60)
        assert problems == []
        assert seen == {True, False}  # both sets were served in turn
    finally:
        a.stop()
        b.stop()
        zeo.stop()
