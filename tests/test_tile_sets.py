"""Issue 10: a complete tile set never moves; the image points at it.
Through the real publisher and real ZODB connections."""

import os

import pytest
import transaction

from tests.images import save
from tests.images import smooth
from tests.zope_fixtures import BASE
from tests.zope_fixtures import add
from tests.zope_fixtures import add_by_form
from tests.zope_fixtures import browser
from tests.zope_fixtures import get
from tests.zope_fixtures import tile_root
from tests.zope_fixtures import undo
from tests.zope_fixtures import wsgi_app
from tests.zope_fixtures import zope_root


def new_file(folder, path, note=None, id="img"):
    with zope_root() as app:
        with open(path, "rb") as f:
            app[folder][id].manage_upload(file=f)
        if note:
            transaction.get().note(note)


def files_under(folder):
    """Every path and its size and inode under ``folder``: a rename or a
    rewrite changes it."""
    out = []
    for here, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(here, name)
            st = os.stat(path)
            out.append((path, st.st_ino, st.st_size))
    return sorted(out)


def stored(storage, uid):
    """What the image has in its store outside the database, with what a
    move or a rewrite changes: files (path, inode, size) of its directory
    under the tile root, or keys (key, ETag, date) of its sets and their
    records in the bucket."""
    if storage == "filesystem":
        return files_under(os.path.join(tile_root(), uid[:2], uid))
    from ZoomifyImage.stores import s3
    pages = s3.client().get_paginator("list_objects_v2").paginate(
        Bucket=s3.bucket(), Prefix=s3.base_prefix())
    return sorted((o["Key"], o["ETag"], o["LastModified"])
                  for page in pages for o in page.get("Contents", ())
                  if "/%s/" % uid in o["Key"])


def sets_of(storage, uid):
    """The names of the image's placed sets."""
    if storage == "filesystem":
        folder = os.path.join(tile_root(), uid[:2], uid)
        return sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    from ZoomifyImage.stores import s3
    return sorted(name for owner, name in s3.records() if owner == uid)


def unfinished(storage, uid):
    """The image's sets still being written (or left so)."""
    if storage == "filesystem":
        partial = os.path.join(tile_root(), ".partial")
        return [n for n in os.listdir(partial) if n.startswith(uid)]
    from ZoomifyImage.stores import s3
    return [name for owner, name in s3.records() if owner == uid and
            s3.writing_since(s3.read_record(uid, name)) is not None]


@pytest.fixture(params=["filesystem", "s3"])
def storage(request):
    """A store whose sets live outside the database."""
    if request.param == "s3":
        request.getfixturevalue("s3_settings")
    return request.param


@pytest.mark.file_storage  # Undo: see zope_fixtures.demo_storage
def test_undo_and_get_move_no_file(folder, photo, tmp_path, storage):
    add(folder, photo, storage=storage)
    with zope_root(commit=False) as app:
        uid = app[folder]["img"].uid
    base = "%s/%s/img/" % (BASE, folder)
    old_tile = get(base + "TileGroup0/0-0-0.jpg")[2]
    note = "new file, set test " + folder
    new_file(folder, save(smooth(1200, 300, seed=5), tmp_path / "w.png"),
             note)
    # both sets are stored, each in its own directory (under its prefix)
    assert len(sets_of(storage, uid)) == 2
    before = stored(storage, uid)
    undo(note)
    assert stored(storage, uid) == before   # Undo moved the pointer
    code, headers, body = get(base + "TileGroup0/0-0-0.jpg")
    assert code == 200 and body == old_tile
    assert b'WIDTH="700"' in get(base + "ImageProperties.xml")[2]
    assert stored(storage, uid) == before   # and a GET moved nothing


def test_a_stale_reader_cannot_bring_back_the_old_set(folder, photo,
                                                      tmp_path, storage):
    add(folder, photo, storage=storage)
    wsgi_app()
    import Zope2
    # a request that began before the retile committed (or a ZEO client
    # that has not seen it yet): its own connection, not synced
    manager = transaction.TransactionManager()
    stale = Zope2.DB.open(transaction_manager=manager)
    manager.begin()
    stale_image = stale.root()["Application"][folder]["img"]
    old_etag = stale_image.tile_set().etag
    new_file(folder, save(smooth(1200, 300, seed=5), tmp_path / "w.png"))
    before = stored(storage, stale_image.uid)
    # the stale reader still reads its own (old) set, whole, and moves
    # nothing: the new set stays where everyone else finds it
    assert stale_image._store.get("ImageProperties.xml").find(
        b'WIDTH="700"') > 0
    assert stored(storage, stale_image.uid) == before
    manager.abort()
    stale.close()
    # everyone else gets the new set under the new ETag
    code, headers, body = get("%s/%s/img/ImageProperties.xml"
                              % (BASE, folder))
    assert code == 200 and b'WIDTH="1200"' in body
    assert headers["ETag"] != old_etag


@pytest.mark.parametrize("storage", ["zodb", "filesystem", "s3"])
def test_etag_and_viewer_version_name_the_set(folder, photo, tmp_path,
                                              storage, request):
    if storage == "s3":
        request.getfixturevalue("s3_settings")
    add(folder, photo, storage=storage)
    url = "%s/%s/img/TileGroup0/0-0-0.jpg" % (BASE, folder)
    with zope_root(commit=False) as app:
        image = app[folder]["img"]
        first = image._store.set_id
        assert first and first in image.tag()
    assert first in get(url)[1]["ETag"]
    # a retile is a new set: a new ETag and a new ?v=
    with zope_root() as app:
        app[folder]["img"].manage_retile()
    with zope_root(commit=False) as app:
        second = app[folder]["img"]._store.set_id
    assert second != first
    assert second in get(url)[1]["ETag"]
    # a title change is not
    with zope_root() as app:
        app[folder]["img"].manage_edit(title="new title")
    assert second in get(url)[1]["ETag"]


def test_failed_tiling_leaves_no_partial_directory(folder, photo, tmp_path,
                                                   storage):
    add(folder, photo, storage=storage)
    with zope_root(commit=False) as app:
        uid = app[folder]["img"].uid
    before = stored(storage, uid)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    from zExceptions import BadRequest
    with pytest.raises(BadRequest):
        with zope_root() as app:
            with open(bad, "rb") as f:
                app[folder]["img"].manage_upload(file=f)
    assert unfinished(storage, uid) == []
    assert stored(storage, uid) == before


def test_a_rolled_back_savepoint_leaves_no_set(folder, photo, tmp_path,
                                               storage):
    add(folder, photo, storage=storage)
    with zope_root(commit=False) as app:
        uid = app[folder]["img"].uid
    before = stored(storage, uid)
    with zope_root() as app:
        savepoint = transaction.savepoint()
        with open(save(smooth(900, 900), tmp_path / "sq.png"), "rb") as f:
            app[folder]["img"].manage_upload(file=f)
        savepoint.rollback()
    assert stored(storage, uid) == before
    assert unfinished(storage, uid) == []
    assert b'WIDTH="700"' in get("%s/%s/img/ImageProperties.xml"
                                 % (BASE, folder))[2]


# a tile root on a filesystem of its own: full, or read-only ----------------

@pytest.fixture
def small_tile_root(tmp_path, zope_settings):
    """A 4 MB tmpfs as the tile root (mounting needs root, as here)."""
    from tests.zope_fixtures import tmpfs
    with tmpfs(tmp_path / "small", "4m") as mount:
        zope_settings(**{"tile-root": mount})
        yield mount


def test_a_full_disc_keeps_the_old_set(folder, photo, tmp_path,
                                       small_tile_root):
    add(folder, photo, storage="filesystem")
    base = "%s/%s/img/" % (BASE, folder)
    old_tile = get(base + "TileGroup0/0-0-0.jpg")[2]
    # noise does not compress: far more tiles than 4 MB hold
    import numpy
    noise = numpy.random.default_rng(1).integers(
        0, 255, (3000, 3000, 3), dtype=numpy.uint8)
    big = save(noise, tmp_path / "noise.png")
    b = browser()
    b.open(base + "manage_main")
    with open(big, "rb") as f:
        b.getControl(name="file").add_file(f, "image/png", "noise.png")
        b.getControl("Save Changes").click()
    assert int(b.headers["status"].split()[0]) == 400
    assert "No space left on device" in b.contents
    assert get(base + "TileGroup0/0-0-0.jpg")[2] == old_tile
    assert b'WIDTH="700"' in get(base + "ImageProperties.xml")[2]
    partial = os.path.join(small_tile_root, ".partial")
    assert os.listdir(partial) == []


def test_a_read_only_tile_root_is_a_clear_error(folder, photo,
                                                small_tile_root):
    import subprocess
    subprocess.run(["mount", "-o", "remount,ro", small_tile_root],
                   check=True)
    b = add_by_form(folder, photo, "ro", storage="filesystem")
    assert int(b.headers["status"].split()[0]) == 400
    assert "Read-only file system" in b.contents
    with zope_root(commit=False) as app:
        assert "ro" not in app[folder].objectIds()


@pytest.mark.file_storage  # Undo: see zope_fixtures.demo_storage
def test_undo_of_an_add_leaves_no_orphan(folder, photo, storage):
    import time

    from ZoomifyImage.sweep import sweep
    note = "add for undo, set test " + folder
    from ZoomifyImage.content import manage_addZoomifyImage
    with zope_root() as app:
        with open(photo, "rb") as f:
            manage_addZoomifyImage(app[folder], id="gone", file=f,
                                   storage=storage)
        transaction.get().note(note)
    with zope_root(commit=False) as app:
        uid = app[folder]["gone"].uid
        db = app._p_jar.db()
    undo(note)
    with zope_root(commit=False) as app:
        assert "gone" not in app[folder].objectIds()
    # an Undo of the Undo may want it back within trash-days
    sweep(db, tile_root(), trash_days=30, grace=0)
    assert len(sets_of(storage, uid)) == 1
    sweep(db, tile_root(), trash_days=30, grace=0,
          now=time.time() + 31 * 86400)
    assert sets_of(storage, uid) == [] and stored(storage, uid) == []


def test_a_takeover_spares_a_live_writer_of_the_same_image(small_threshold,
                                                          folder, tmp_path):
    """Issue 23, L7: a job taken from a dead worker removes the dead
    worker's temporary directories, not those of a tiling of the same
    image that still runs (a retile in a request, zoomify-import)."""
    from tests.zope_fixtures import make_dead
    from ZoomifyImage import jobs
    jobs.pool.pause()
    add(folder, save(smooth(1500, 1000), tmp_path / "big.png"), "big",
        storage="filesystem")
    key = make_dead(folder)
    with zope_root(commit=False) as app:
        image = app[folder]["big"]
        uid, db = image.uid, app._p_jar.db()
        dead = image._job.temp_dir
        # what a synchronous tiling of the image writes meanwhile
        running = image._target_store().writer()
    running.put("TileGroup0/0-0-0.jpg", b"a tile")
    try:
        jobs.run_job(db, key)
        with zope_root(commit=False) as app:
            assert app[folder]["big"]._job.status == "ready"
        assert not os.path.exists(dead)
        assert os.path.isfile(os.path.join(running.temp, "TileGroup0",
                                           "0-0-0.jpg"))
    finally:
        running.abort()
    partial = os.path.join(tile_root(), ".partial")
    assert not [n for n in os.listdir(partial) if uid in n]
