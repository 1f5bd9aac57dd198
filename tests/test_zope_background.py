"""Background tiling: queued -> tiling -> ready, progress, a dead worker's
job run again, and retiles that never interrupt the tiles being served."""

import os
import threading
import time

import pytest

from tests.images import save
from tests.images import smooth
from tests.zope_fixtures import BASE
from tests.zope_fixtures import add
from tests.zope_fixtures import browser
from tests.zope_fixtures import get
from tests.zope_fixtures import job_status
from tests.zope_fixtures import make_dead
from tests.zope_fixtures import tile_root
from tests.zope_fixtures import zope_root
from ZoomifyImage import jobs
from ZoomifyImage.pyramid import Layout


@pytest.mark.parametrize("storage", ["zodb", "filesystem"])
def test_big_image_goes_queued_tiling_ready(small_threshold, folder,
                                            tmp_path, storage, monkeypatch):
    path = save(smooth(1500, 1000), tmp_path / "big.png")
    jobs.pool.pause()
    add(folder, path, "big", storage=storage)
    # the request returned at once; the job waits its turn
    assert job_status(folder, "big")["status"] == "queued"
    page = browser()
    page.open("%s/%s/big/manage_main" % (BASE, folder))
    assert "queued" in page.contents and 'http-equiv="refresh"' in \
        page.contents
    assert get("%s/%s/big/TileGroup0/0-0-0.jpg" % (BASE, folder))[0] == 404

    # while it runs, other requests see "tiling" and the progress
    seen = []
    original = jobs.JobSink.progress

    def watch(self, done, total):
        original(self, done, total)
        if not seen or seen[-1][1] != done:
            page = browser()
            page.open("%s/%s/big/manage_main" % (BASE, folder))
            seen.append((job_status(folder, "big")["status"],
                         job_status(folder, "big")["done"],
                         "tiles (" in page.contents))
    monkeypatch.setattr(jobs.JobSink, "progress", watch)
    jobs.pool.resume()
    assert jobs.pool.wait(60)
    total = Layout(1500, 1000).num_tiles
    assert seen and all(s == "tiling" for s, _, _ in seen[:-1])
    assert any(0 < d < total and shown for _, d, shown in seen)
    assert job_status(folder, "big")["status"] == "ready"
    code, _, body = get("%s/%s/big/ImageProperties.xml" % (BASE, folder))
    assert code == 200 and b'NUMTILES="%d"' % total in body
    assert get("%s/%s/big/TileGroup0/2-1-1.jpg" % (BASE, folder))[0] == 200


def test_small_image_stays_synchronous(small_threshold, folder, tmp_path):
    path = save(smooth(400, 300), tmp_path / "small.png")
    jobs.pool.pause()
    add(folder, path, id="small")
    assert job_status(folder, "small")["status"] == "ready"


def test_job_of_a_dead_worker_runs_again(small_threshold, folder, tmp_path):
    path = save(smooth(1500, 1000), tmp_path / "big.png")
    jobs.pool.pause()
    add(folder, path, "big", storage="filesystem")
    # a worker claims the job and dies halfway: status tiling, a temporary
    # directory left behind, the heartbeat stops
    make_dead(folder)
    with zope_root() as app:
        image = app[folder]["big"]
        # and one it made but had no time to record before it died, long
        # ago (a younger one may be a live request's: the scan leaves it)
        unrecorded = os.path.join(tile_root(), ".partial",
                                  image.uid + "-unrecorded")
        os.makedirs(unrecorded)
        long_ago = time.time() - 2 * jobs.STALE_SECONDS * 10
        os.utime(unrecorded, (long_ago, long_ago))
        uid = image.uid
    assert job_status(folder, "big")["status"] == "tiling"
    assert not os.path.exists(os.path.join(tile_root(), uid[:2], uid))
    # drop the queued key: only the scan can find the job now
    while not jobs.pool.queue.empty():
        jobs.pool.queue.get()
    with zope_root(commit=False) as app:
        found = jobs.scan(app._p_jar.db())
    assert [k for k in found if k.startswith(uid)]
    jobs.pool.resume()
    assert jobs.pool.wait(60)
    assert job_status(folder, "big")["status"] == "ready"
    for name in ("-dead", "-unrecorded"):
        assert not os.path.exists(os.path.join(tile_root(), ".partial",
                                               uid + name))
    assert get("%s/%s/big/TileGroup0/2-0-0.jpg" % (BASE, folder))[0] == 200


def test_failed_job_shows_error_and_retile_works(small_threshold, folder,
                                                 tmp_path):
    path = save(smooth(1500, 1000), tmp_path / "big.png")
    jobs.pool.pause()
    add(folder, path, "big")
    # the original goes missing under the job: it fails with a message
    with zope_root(commit=False) as app:
        blob_path = app[folder]["big"]._original.committed()
    moved = blob_path + ".away"
    os.rename(blob_path, moved)
    jobs.pool.resume()
    assert jobs.pool.wait(60)
    assert job_status(folder, "big")["status"] == "failed"
    page = browser()
    page.open("%s/%s/big/manage_main" % (BASE, folder))
    assert "zoomify-error-message" in page.contents
    os.rename(moved, blob_path)
    page.getControl("Retile").click()
    assert "Retiling in the background" in page.contents
    assert jobs.pool.wait(60)
    assert job_status(folder, "big")["status"] == "ready"


@pytest.mark.parametrize("storage", ["zodb", "filesystem"])
def test_retile_serves_old_set_until_swap(small_threshold, folder, tmp_path,
                                          storage, monkeypatch):
    path = save(smooth(1500, 1000), tmp_path / "big.png")
    add(folder, path, "big", storage=storage)
    assert jobs.pool.wait(60)
    old = Layout(1500, 1000)
    names = old.tile_names()
    version = job_status(folder, "big")["tiles_version"]
    other = save(smooth(900, 2000, seed=4), tmp_path / "tall.png")
    failures = []
    original = jobs.JobSink.progress

    def check_old_set(self, done, total):
        original(self, done, total)
        if job_status(folder, "big")["tiles_version"] != version:
            return
        for name in names[::7]:
            code, _, _ = get("%s/%s/big/%s" % (BASE, folder, name))
            if code != 200:
                failures.append((done, name, code))
    monkeypatch.setattr(jobs.JobSink, "progress", check_old_set)
    with zope_root() as app:
        with open(other, "rb") as f:
            app[folder]["big"].manage_upload(file=f)
        assert app[folder]["big"].width == 1500  # not yet swapped
    assert jobs.pool.wait(60)
    assert not failures
    code, _, body = get("%s/%s/big/ImageProperties.xml" % (BASE, folder))
    assert b'WIDTH="900" HEIGHT="2000"' in body


def test_title_edit_during_job_does_not_conflict(small_threshold, folder,
                                                 tmp_path, monkeypatch):
    path = save(smooth(1500, 1000), tmp_path / "big.png")
    edited = threading.Event()
    original = jobs.JobSink.progress

    def edit_title(self, done, total):
        original(self, done, total)
        if not edited.is_set():
            edited.set()
            b = browser()
            b.open("%s/%s/big/manage_main" % (BASE, folder))
            b.getControl(name="title").value = "Edited meanwhile"
            b.getControl("Save Changes").click()
    monkeypatch.setattr(jobs.JobSink, "progress", edit_title)
    add(folder, path, "big")
    assert jobs.pool.wait(60)
    assert edited.is_set()
    with zope_root(commit=False) as app:
        image = app[folder]["big"]
        assert image.title == "Edited meanwhile"
        assert image.current_status() == "ready"
        assert image.width == 1500


def test_conflict_resolution_merges_different_attributes():
    from ZODB.POSException import ConflictError

    from ZoomifyImage.content import ZoomifyImage
    image = ZoomifyImage.__new__(ZoomifyImage)
    old = {"title": "a", "width": 0, "status": "empty"}
    committed = {"title": "edited", "width": 0, "status": "empty"}
    new = {"title": "a", "width": 1500, "status": "ready"}
    assert image._p_resolveConflict(old, committed, new) == {
        "title": "edited", "width": 1500, "status": "ready"}
    with pytest.raises(ConflictError):
        image._p_resolveConflict(old, committed, dict(new, title="other"))
