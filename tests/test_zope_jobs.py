"""Background jobs driven directly against the real ZODB of the test Zope,
with a second connection (in a thread of its own) doing what a manager or
another worker would do at the worst moment: a job installs its result
only while it is current, heartbeats do not depend on progress, a job
that keeps killing its process stops being retried, copies and deletes
during a job, conflicts at a job's last commit, and Undo of a new file
given while the first job waited."""

import os
import threading
import time

import pytest
import transaction

from tests.images import save
from tests.images import smooth
from tests.zope_fixtures import BASE
from tests.zope_fixtures import add
from tests.zope_fixtures import get
from tests.zope_fixtures import job_status
from tests.zope_fixtures import make_dead
from tests.zope_fixtures import tile_root
from tests.zope_fixtures import undo
from tests.zope_fixtures import zope_root
from ZoomifyImage import jobs
from ZoomifyImage import stores

STORAGES = ["zodb", "filesystem"]


def database():
    with zope_root(commit=False) as app:
        return app._p_jar.db()


def in_thread(function, *args):
    """Run ``function`` in a thread of its own (so with a transaction of
    its own), wait for it and pass on its result or its error."""
    out = {}

    def run():
        try:
            out["value"] = function(*args)
        except BaseException as e:
            out["error"] = e
    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    if "error" in out:
        raise out["error"]
    return out.get("value")


def facts(folder, id="big"):
    """What the database says of an image and its job, read afresh."""
    with zope_root(commit=False) as app:
        image = app[folder].unrestrictedTraverse(id)
        out = {"uid": image.uid, "title": image.title,
               "width": image.width, "status": image.current_status()}
        job = image._job
        if job is not None:
            out.update(key=job.key, job_status=job.status,
                       attempts=job.attempts, owner=job.owner,
                       # kept relative to the tile root
                       temp_dir=job.temp_dir and stores.under_root(
                           job.temp_dir), stored_temp_dir=job.temp_dir,
                       error=job.error)
        out["registered"] = sorted(jobs.registry(app._p_jar))
        return out


def upload(folder, path, id="big"):
    with zope_root() as app:
        with open(path, "rb") as f:
            app[folder][id].manage_upload(file=f)


def set_title(folder, title, id="big"):
    with zope_root() as app:
        app[folder][id].manage_edit(title=title)


def partials(uid):
    partial = os.path.join(tile_root(), ".partial")
    if not os.path.isdir(partial):
        return []
    return [n for n in os.listdir(partial) if n.startswith(uid)]


def add_waiting(folder, tmp_path, storage="filesystem"):
    """The 1500x1000 image "big", added while the workers are paused: its
    job waits (jobs.run_job runs it)."""
    path = save(smooth(1500, 1000), tmp_path / "big.png")
    jobs.pool.pause()
    add(folder, path, "big", storage=storage)


def once(function):
    """A hook that does ``function`` at its first call only."""
    calls = []

    def hook(*args):
        if not calls:
            calls.append(args)
            function(*args)
    hook.calls = calls
    return hook


def hook_progress(monkeypatch, function):
    """Call ``function`` after the first progress commit of a job."""
    progress = jobs.JobSink.progress
    first = once(function)

    def watch(self, done, total):
        progress(self, done, total)
        first()
    monkeypatch.setattr(jobs.JobSink, "progress", watch)
    return first


def hook_install(monkeypatch, function):
    """Call ``function`` in a job's last transaction, just before the new
    set is installed (after the job last saw the database)."""
    from ZoomifyImage.content import ZoomifyImage
    install = ZoomifyImage._install
    first = once(function)

    def watch(self, store, result):
        first()
        return install(self, store, result)
    monkeypatch.setattr(ZoomifyImage, "_install", watch)
    return first


# -- 1. a job installs its result only while it is current


@pytest.mark.parametrize("storage", STORAGES)
def test_stale_job_does_not_overwrite_newer_tiles(small_threshold, folder,
                                                  tmp_path, storage,
                                                  monkeypatch):
    old = save(smooth(1500, 1000), tmp_path / "old.png")
    new = save(smooth(900, 1300, seed=3), tmp_path / "new.png")
    jobs.pool.pause()
    add(folder, old, "big", storage=storage)
    first = facts(folder)["key"]
    db = database()

    def replace_and_finish():
        # a new file while the first job tiles, and a second worker runs
        # the new job to its end before the first one finishes
        in_thread(upload, folder, new)
        in_thread(jobs.run_job, db, in_thread(facts, folder)["key"])
    hook_progress(monkeypatch, replace_and_finish)
    jobs.run_job(db, first)
    now = facts(folder)
    assert now["key"] != first and now["job_status"] == "ready"
    assert now["width"] == 900 and now["status"] == "ready"
    code, _, body = get("%s/%s/big/ImageProperties.xml" % (BASE, folder))
    assert b'WIDTH="900" HEIGHT="1300"' in body
    assert first not in now["registered"]
    assert partials(now["uid"]) == []


# -- 2. heartbeats that do not depend on progress; a claimant deletes
# only after it has won, only what no live worker owns


def test_long_decode_is_not_taken_for_a_dead_worker(small_threshold, folder,
                                                    tmp_path, monkeypatch):
    import ZoomifyImage.tiling as tiling
    # seconds, with room for a loaded machine's scheduling
    monkeypatch.setattr(jobs.records, "STALE_SECONDS", 2.5)
    monkeypatch.setattr(jobs.worker, "BEAT_SECONDS", 0.1)
    path = save(smooth(1500, 1000), tmp_path / "big.png")
    jobs.pool.pause()
    add(folder, path, "big", storage="filesystem")
    key = facts(folder)["key"]
    db = database()
    tile_image = tiling.tile_image
    seen = {}

    def slow_decode(*args, **kw):
        if not seen:
            # a decode that reports no progress for longer than
            # STALE_SECONDS (a huge EXIF-rotated JPEG, a slow disc)
            time.sleep(3.0)
            seen["before"] = in_thread(facts, folder)
            # meanwhile a second worker looks at the job
            in_thread(jobs.run_job, db, key)
            seen["after"] = in_thread(facts, folder)
            seen["temp_kept"] = os.path.isdir(seen["before"]["temp_dir"])
        return tile_image(*args, **kw)
    monkeypatch.setattr(tiling, "tile_image", slow_decode)
    jobs.run_job(db, key)
    assert seen["after"]["owner"] == seen["before"]["owner"]
    assert seen["after"]["attempts"] == 1
    assert seen["temp_kept"]
    now = facts(folder)
    assert now["job_status"] == "ready" and now["attempts"] == 1
    assert partials(now["uid"]) == []


def test_a_worker_killed_before_it_named_its_directory_leaves_none(
        small_threshold, folder, tmp_path):
    """kill -9 between making the temporary directory and committing its
    name: the next claim of the job removes it all the same."""
    add_waiting(folder, tmp_path)
    key = make_dead(folder)
    uid = facts(folder)["uid"]
    with zope_root() as app:
        # the dead worker's directories, which it did not live to record
        app[folder]["big"]._job.temp_dir = None
    unnamed = os.path.join(tile_root(), ".partial", uid + "-unnamed")
    os.makedirs(os.path.join(unnamed, "TileGroup0"))
    jobs.run_job(database(), key)
    assert facts(folder)["job_status"] == "ready"
    assert partials(uid) == []


def test_claimant_that_loses_the_claim_deletes_nothing(small_threshold,
                                                       folder, tmp_path,
                                                       monkeypatch):
    import ZoomifyImage.tiling as tiling
    path = save(smooth(1500, 1000), tmp_path / "big.png")
    jobs.pool.pause()
    add(folder, path, "big", storage="filesystem")
    key = make_dead(folder)
    db = database()
    tile_image = tiling.tile_image
    started, release = threading.Event(), threading.Event()

    def paused(*args, **kw):  # the winner, at work
        started.set()
        release.wait(60)
        return tile_image(*args, **kw)
    monkeypatch.setattr(tiling, "tile_image", paused)
    main = threading.current_thread()
    stale = jobs.TilingJob.stale
    winner = []

    def race(self, now=None):
        # while this worker decides the job is dead, another one claims
        # it and starts writing its tiles
        if threading.current_thread() is main and not winner:
            winner.append(threading.Thread(target=jobs.run_job,
                                           args=(db, key)))
            winner[0].start()
            assert started.wait(60)
        return stale(self, now)
    monkeypatch.setattr(jobs.TilingJob, "stale", race)
    try:
        jobs.run_job(db, key)  # loses: the other claim committed first
        during = facts(folder)
        assert during["temp_dir"] and os.path.isdir(during["temp_dir"])
        # the database keeps it relative to the tile root, which clients
        # may mount at different paths
        assert during["stored_temp_dir"].startswith(".partial/")
    finally:
        release.set()
        winner[0].join(60)
    now = facts(folder)
    assert now["job_status"] == "ready" and now["attempts"] == 2
    assert partials(now["uid"]) == []


# -- 3. a job that keeps killing its process is not retried for ever


def test_job_that_killed_its_process_three_times_fails(small_threshold,
                                                       folder, tmp_path):
    path = save(smooth(1500, 1000), tmp_path / "big.png")
    jobs.pool.pause()
    add(folder, path, "big", storage="filesystem")
    key = make_dead(folder, attempts=3)
    dead = facts(folder)["temp_dir"]
    jobs.run_job(database(), key)
    now = facts(folder)
    assert now["job_status"] == "failed" and now["status"] == "failed"
    assert "3 times" in now["error"] and "died" in now["error"]
    assert now["attempts"] == 3
    assert key not in now["registered"]
    assert not os.path.exists(dead)
    assert job_status(folder, "big")["status"] == "failed"


# -- 4. copies and deletes while a job runs


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("how", ["paste", "zexp"])
def test_copy_made_during_a_job_gets_its_own(small_threshold, folder,
                                             tmp_path, storage, how,
                                             monkeypatch):
    add_waiting(folder, tmp_path, storage)
    key = facts(folder)["key"]

    def copy():
        with zope_root() as app:
            f = app[folder]
            if how == "paste":
                f.manage_pasteObjects(f.manage_copyObjects(["big"]))
                return "copy_of_big"
            # exported and imported elsewhere in the site
            zexp = str(tmp_path / "big.zexp")
            f["big"]._p_jar.exportFile(f["big"]._p_oid, zexp)
            from OFS.Folder import manage_addFolder
            manage_addFolder(f, "other")
            f["other"]._importObjectFromFile(zexp, set_owner=0)
            return "other/big"
    made = []
    hook_progress(monkeypatch, lambda: made.append(in_thread(copy)))
    jobs.run_job(database(), key)
    jobs.pool.resume()
    assert jobs.pool.wait(60)
    assert facts(folder)["status"] == "ready"
    other = facts(folder, made[0])
    assert other["status"] == "ready" and other["width"] == 1500
    assert other["key"] != key
    code, _, body = get("%s/%s/%s/ImageProperties.xml"
                       % (BASE, folder, made[0]))
    assert code == 200 and b'WIDTH="1500"' in body


@pytest.mark.parametrize("storage", STORAGES)
def test_storage_changed_during_a_job_gets_the_new_tiles(
        small_threshold, folder, tmp_path, storage, monkeypatch):
    """The manager picks the other store while the first job tiles: the
    tiles end up in the store the image names, and are served."""
    other = "filesystem" if storage == "zodb" else "zodb"
    add_waiting(folder, tmp_path, storage)
    key = facts(folder)["key"]

    def change():
        with zope_root() as app:
            app[folder]["big"].manage_edit(storage=other)
    hook_progress(monkeypatch, lambda: in_thread(change))
    jobs.run_job(database(), key)
    # the first job's set, in the other kind of store, is not installed:
    # a second job tiles into the store the image now names
    now = facts(folder)
    assert now["key"] != key and key not in now["registered"]
    jobs.pool.resume()
    assert jobs.pool.wait(60)
    with zope_root(commit=False) as app:
        image = app[folder]["big"]
        assert image.storage == other
        assert image._store.kind == other
        assert image.current_status() == "ready" and image.width == 1500
        names = image._store.names()
        if other == "filesystem":
            assert os.path.isdir(image._store.directory())
    assert "ImageProperties.xml" in names and len(names) > 20
    code, _, body = get("%s/%s/big/ImageProperties.xml" % (BASE, folder))
    assert code == 200 and b'WIDTH="1500"' in body
    code, headers, tile = get("%s/%s/big/TileGroup0/0-0-0.jpg"
                              % (BASE, folder))
    assert code == 200 and tile[:2] == b"\xff\xd8"
    assert partials(facts(folder)["uid"]) == []


def test_image_deleted_during_its_job_leaves_no_set(small_threshold, folder,
                                                    tmp_path, monkeypatch):
    path = save(smooth(1500, 1000), tmp_path / "big.png")
    jobs.pool.pause()
    add(folder, path, "big", storage="filesystem")
    before = facts(folder)

    def delete():
        with zope_root() as app:
            app[folder].manage_delObjects(["big"])
    hook_progress(monkeypatch, lambda: in_thread(delete))
    jobs.run_job(database(), before["key"])
    uid = before["uid"]
    assert not os.path.exists(os.path.join(tile_root(), uid[:2], uid))
    assert partials(uid) == []
    with zope_root(commit=False) as app:
        assert "big" not in app[folder].objectIds()
        assert before["key"] not in jobs.registry(app._p_jar)


# -- 5. conflicts at a job's last commit


@pytest.mark.parametrize("storage", STORAGES)
def test_title_edit_at_a_jobs_last_commit_is_merged(small_threshold, folder,
                                                    tmp_path, storage,
                                                    monkeypatch):
    add_waiting(folder, tmp_path, storage)
    key = facts(folder)["key"]
    edit = hook_install(monkeypatch, lambda: in_thread(
        set_title, folder, "Edited meanwhile"))
    jobs.run_job(database(), key)
    assert edit.calls
    now = facts(folder)
    assert now["title"] == "Edited meanwhile"
    assert now["job_status"] == "ready" and now["width"] == 1500
    code, _, body = get("%s/%s/big/TileGroup0/2-1-1.jpg" % (BASE, folder))
    assert code == 200


@pytest.mark.parametrize("storage", STORAGES)
def test_job_finishing_while_another_image_is_added(small_threshold, folder,
                                                    tmp_path, storage,
                                                    monkeypatch):
    path = save(smooth(1500, 1000), tmp_path / "big.png")
    other = save(smooth(1200, 900, seed=5), tmp_path / "other.png")
    jobs.pool.pause()
    add(folder, path, "big", storage=storage)
    key = facts(folder)["key"]
    # left by earlier tests: a registry of this one job, whose removal
    # while another job is added is a conflict the BTree cannot resolve
    with zope_root() as app:
        registry = jobs.registry(app._p_jar)
        for left in [k for k in registry if k != key]:
            del registry[left]
    added = hook_install(monkeypatch, lambda: in_thread(
        add, folder, other, "other", storage))
    jobs.run_job(database(), key)
    assert added.calls
    now = facts(folder)
    assert now["job_status"] == "ready" and now["width"] == 1500
    jobs.pool.resume()
    assert jobs.pool.wait(60)
    assert facts(folder, "other")["status"] == "ready"


def test_conflict_resolution_compares_persistent_references_by_oid():
    from ZODB.ConflictResolution import PersistentReference
    from ZODB.POSException import ConflictError

    from ZoomifyImage.content import ZoomifyImage
    image = ZoomifyImage.__new__(ZoomifyImage)

    def ref(oid):
        return PersistentReference((oid, None))
    old = {"title": "a", "_job": ref(b"\0" * 7 + b"\1")}
    committed = dict(old, title="edited", _job=ref(b"\0" * 7 + b"\1"))
    new = dict(old, _store=ref(b"\0" * 7 + b"\2"), width=1500,
               _job=ref(b"\0" * 7 + b"\1"))
    merged = image._p_resolveConflict(old, committed, new)
    assert merged["title"] == "edited" and merged["width"] == 1500
    assert merged["_store"].oid == b"\0" * 7 + b"\2"
    # a new job (or file) meanwhile: the job's result must not be merged
    with pytest.raises(ConflictError):
        image._p_resolveConflict(
            old, dict(committed, _job=ref(b"\0" * 7 + b"\3")), new)


def set_tiled_at(folder, id="big"):
    # a change to a fact the job also sets: no merge is possible
    with zope_root() as app:
        app[folder][id].tiled_at = 1.0


@pytest.mark.parametrize("storage", STORAGES)
def test_unmergeable_conflict_at_the_last_commit_is_retried(
        small_threshold, folder, tmp_path, storage, monkeypatch):
    add_waiting(folder, tmp_path, storage)
    before = facts(folder)
    clash = hook_install(monkeypatch, lambda: in_thread(set_tiled_at,
                                                        folder))
    jobs.run_job(database(), before["key"])
    assert clash.calls
    now = facts(folder)
    assert now["job_status"] == "ready", now.get("error")
    assert now["width"] == 1500
    code, _, body = get("%s/%s/big/TileGroup0/2-1-1.jpg" % (BASE, folder))
    assert code == 200
    assert partials(before["uid"]) == []


# -- 6. Undo of a new file given while the first job still waited


def new_file_over_a_waiting_job(folder, tmp_path):
    """A 1500x1000 image whose job waits (the workers paused), then a
    900x1300 file given in a transaction noted for undo(): (the first
    job's key, the note)."""
    old = save(smooth(1500, 1000), tmp_path / "old.png")
    new = save(smooth(900, 1300, seed=3), tmp_path / "new.png")
    jobs.pool.pause()
    add(folder, old, "big")
    first = facts(folder)["key"]
    note = "new file for undo " + folder
    with zope_root() as app:
        with open(new, "rb") as f:
            app[folder]["big"].manage_upload(file=f)
        transaction.get().note(note)
    return first, note


@pytest.mark.file_storage  # Undo: see zope_fixtures.demo_storage
def test_undo_of_a_new_file_queues_the_first_job_again(small_threshold,
                                                       folder, tmp_path):
    first, note = new_file_over_a_waiting_job(folder, tmp_path)
    undo(note)
    back = facts(folder)
    assert back["key"] == first and back["job_status"] == "queued"
    assert first in back["registered"]
    # the scan (at start and every minute) finds it and it runs
    jobs.scan(database())
    jobs.pool.resume()
    jobs.pool.wait(60)
    now = facts(folder)
    assert now["status"] == "ready" and now["width"] == 1500


@pytest.mark.file_storage  # Undo: see zope_fixtures.demo_storage
def test_undo_of_a_new_file_after_a_worker_saw_it_is_refused(
        small_threshold, folder, tmp_path):
    """A worker dropped the replaced job from the registry: the Undo is
    refused (the registry changed since) rather than bring back a job
    that no worker would find."""
    from ZODB.POSException import UndoError
    first, note = new_file_over_a_waiting_job(folder, tmp_path)
    jobs.run_job(database(), first)   # replaced: dropped, nothing tiled
    with pytest.raises(UndoError):
        undo(note)
    jobs.pool.resume()
    jobs.pool.wait(60)
    now = facts(folder)
    assert now["status"] == "ready" and now["width"] == 900
    assert first not in now["registered"]
