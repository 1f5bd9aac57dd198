"""Zope's lifecycle events: add, edit, copy, rename, delete, undo, abort."""

import os
import time

import pytest
import transaction

from tests.images import save
from tests.images import smooth
from tests.zope_fixtures import add
from tests.zope_fixtures import get
from tests.zope_fixtures import tile_root
from tests.zope_fixtures import undo
from tests.zope_fixtures import zope_root
from ZoomifyImage.pyramid import Layout


def tiles_dir(uid):
    """The directory of an image's sets (TILE-ROOT/ab/UID)."""
    return os.path.join(tile_root(), uid[:2], uid)


def sweep_now():
    """The sweep, with no trash-days to wait for."""
    from ZoomifyImage.sweep import sweep
    with zope_root(commit=False) as app:
        db = app._p_jar.db()
    return sweep(db, tile_root(), trash_days=0, grace=0)


STORAGES = ["zodb", "filesystem"]


@pytest.mark.parametrize("storage", STORAGES)
def test_added_image_is_tiled(folder, photo, storage):
    add(folder, photo, storage=storage)
    with zope_root(commit=False) as app:
        image = app[folder]["img"]
        assert image.status == "ready"
        assert (image.width, image.height) == (700, 500)
        assert image.num_tiles == Layout(700, 500).num_tiles
        assert sorted(image._store.names()) == sorted(
            Layout(700, 500).tile_names() + ["ImageProperties.xml"])


@pytest.mark.parametrize("storage", STORAGES)
def test_copy_gets_its_own_tiles(folder, photo, storage):
    add(folder, photo, storage=storage)
    with zope_root() as app:
        f = app[folder]
        f.manage_pasteObjects(f.manage_copyObjects(["img"]))
    with zope_root(commit=False) as app:
        original, copy = app[folder]["img"], app[folder]["copy_of_img"]
        assert copy.uid != original.uid
        assert copy._store is not original._store
        assert copy.status == "ready" and copy.width == 700
        if storage == "filesystem":
            assert os.path.isdir(copy._store.directory())
            assert copy._store.names() == original._store.names()
        uid = copy.uid
    # deleting the original leaves the copy's tiles alone
    with zope_root() as app:
        app[folder].manage_delObjects(["img"])
    url = "http://localhost/%s/copy_of_img/TileGroup0/1-0-0.jpg" % folder
    code, _, body = get(url)
    assert code == 200 and body[:2] == b"\xff\xd8"
    if storage == "filesystem":
        sweep_now()
        assert os.path.isdir(tiles_dir(uid))


def test_copy_does_not_decode_again(folder, photo, monkeypatch):
    add(folder, photo, storage="filesystem")
    import ZoomifyImage.tiling as tiling

    def refuse(*args, **kw):
        raise AssertionError("a copy must not tile again")
    monkeypatch.setattr(tiling, "tile_image", refuse)
    with zope_root() as app:
        f = app[folder]
        f.manage_pasteObjects(f.manage_copyObjects(["img"]))
        assert f["copy_of_img"].status == "ready"


@pytest.mark.parametrize("storage", STORAGES)
def test_renamed_and_moved_images_keep_serving(folder, photo, storage):
    add(folder, photo, storage=storage)
    with zope_root() as app:
        app[folder].manage_renameObject("img", "renamed")
    url = "http://localhost/%s/renamed/TileGroup0/2-1-1.jpg" % folder
    assert get(url)[0] == 200
    assert get(url.replace("renamed", "img"))[0] == 404
    # cut and paste into a subfolder
    with zope_root() as app:
        from OFS.Folder import manage_addFolder
        manage_addFolder(app[folder], "sub")
        cut = app[folder].manage_cutObjects(["renamed"])
        app[folder]["sub"].manage_pasteObjects(cut)
    url = "http://localhost/%s/sub/renamed/ImageProperties.xml" % folder
    code, _, body = get(url)
    assert code == 200 and b'WIDTH="700"' in body


def test_delete_removes_filesystem_tiles_after_trash_days(folder, photo):
    from ZoomifyImage.sweep import sweep
    add(folder, photo, storage="filesystem")
    with zope_root(commit=False) as app:
        uid = app[folder]["img"].uid
        db = app._p_jar.db()
    assert os.path.isdir(tiles_dir(uid))
    # an aborted delete loses nothing
    with zope_root(commit=False) as app:
        app[folder].manage_delObjects(["img"])
    sweep_now()
    assert os.path.isdir(tiles_dir(uid))
    url = "http://localhost/%s/img/TileGroup0/0-0-0.jpg" % folder
    assert get(url)[0] == 200
    # a committed delete: the set waits trash-days for an Undo, then goes
    with zope_root() as app:
        app[folder].manage_delObjects(["img"])
    assert get(url)[0] == 404
    assert sweep(db, tile_root(), trash_days=30, grace=0) == []
    assert os.path.isdir(tiles_dir(uid))
    assert sweep(db, tile_root(), trash_days=30, grace=0,
                 now=time.time() + 31 * 86400)
    assert not os.path.exists(tiles_dir(uid))


@pytest.mark.file_storage  # Undo: see zope_fixtures.demo_storage
@pytest.mark.parametrize("storage", STORAGES)
def test_undo_of_delete_brings_tiles_back(folder, photo, storage):
    add(folder, photo, storage=storage)
    with zope_root() as app:
        app[folder].manage_delObjects(["img"])
        transaction.get().note("delete for undo test " + folder)
    url = "http://localhost/%s/img/TileGroup0/0-0-0.jpg" % folder
    assert get(url)[0] == 404
    with zope_root() as app:
        db = app._p_jar.db()
        entry = [e for e in db.undoLog(0, 20)
                 if ("delete for undo test " + folder) in
                 (e["description"] if isinstance(e["description"], str)
                  else e["description"].decode())][0]
        db.undo(entry["id"])
    code, _, body = get(url)
    assert code == 200 and body[:2] == b"\xff\xd8"


@pytest.mark.file_storage  # Undo: see zope_fixtures.demo_storage
@pytest.mark.parametrize("storage", STORAGES)
def test_undo_of_a_new_file_brings_the_old_tiles_back(folder, photo,
                                                      storage, tmp_path):
    add(folder, photo, storage=storage)
    base = "http://localhost/%s/img/" % folder
    old_tile = get(base + "TileGroup0/0-0-0.jpg")[2]
    wide = save(smooth(1200, 300, seed=5), tmp_path / "wide.png")
    with zope_root() as app:
        with open(wide, "rb") as f:
            app[folder]["img"].manage_upload(file=f)
        transaction.get().note("new file for undo test " + folder)
    code, _, xml = get(base + "ImageProperties.xml")
    assert code == 200 and b'WIDTH="1200"' in xml
    new_tile = get(base + "TileGroup0/0-0-0.jpg")[2]
    assert new_tile != old_tile
    # Undo: the old facts and the old tiles, served together
    undo("new file for undo test " + folder)
    code, _, xml = get(base + "ImageProperties.xml")
    assert code == 200 and b'WIDTH="700"' in xml and b'HEIGHT="500"' in xml
    code, _, tile = get(base + "TileGroup0/0-0-0.jpg")
    assert (code, tile) == (200, old_tile)
    assert get(base + "TileGroup0/2-2-1.jpg")[0] == 200
    assert get(base + "TileGroup0/3-4-0.jpg")[0] == 404
    # and undoing the undo brings the new file's tiles back again
    undo("undo of new file for undo test " + folder)
    code, _, xml = get(base + "ImageProperties.xml")
    assert code == 200 and b'WIDTH="1200"' in xml
    code, _, tile = get(base + "TileGroup0/0-0-0.jpg")
    assert (code, tile) == (200, new_tile)
    assert get(base + "TileGroup0/3-4-0.jpg")[0] == 200
    assert get(base + "TileGroup0/2-2-1.jpg")[0] == 404


def test_modified_with_new_file_retiles(folder, photo, tmp_path):
    add(folder, photo)
    other = save(smooth(1200, 300, seed=5), tmp_path / "wide.png")
    with zope_root() as app:
        image = app[folder]["img"]
        version = image.tiles_version
        with open(other, "rb") as f:
            image.manage_upload(file=f)
        assert (image.width, image.height) == (1200, 300)
        assert image.tiles_version == version + 1
    with zope_root(commit=False) as app:
        assert app[folder]["img"].filename == "wide.png"


def test_aborted_edit_keeps_old_tiles_on_filesystem(folder, photo, tmp_path):
    add(folder, photo, storage="filesystem")
    with zope_root(commit=False) as app:
        uid = app[folder]["img"].uid
    before = sorted(os.walk(tiles_dir(uid)))
    other = save(smooth(3000, 300), tmp_path / "wide.png")
    with zope_root(commit=False) as app:  # aborted at the end
        with open(other, "rb") as f:
            app[folder]["img"].manage_upload(file=f)
    assert sorted(os.walk(tiles_dir(uid))) == before
    partial = os.path.join(tile_root(), ".partial")
    assert not [n for n in os.listdir(partial) if n.startswith(uid)]
    with zope_root(commit=False) as app:
        assert app[folder]["img"].width == 700


def test_conflict_retry_leaves_no_orphans(folder, photo, tmp_path):
    # a request that is retried after a ConflictError tiles again in a new
    # transaction; the first attempt's directory must not survive
    from ZODB.POSException import ConflictError
    add(folder, photo, storage="filesystem")
    other = save(smooth(900, 900), tmp_path / "square.png")
    with zope_root(commit=False) as app:
        uid = app[folder]["img"].uid
    with pytest.raises(ConflictError):
        with zope_root() as app:
            with open(other, "rb") as f:
                app[folder]["img"].manage_upload(file=f)
            raise ConflictError("simulated")
    partial = os.path.join(tile_root(), ".partial")
    assert not [n for n in os.listdir(partial) if n.startswith(uid)]
    with zope_root() as app:
        with open(other, "rb") as f:
            app[folder]["img"].manage_upload(file=f)
    url = "http://localhost/%s/img/ImageProperties.xml" % folder
    assert b'WIDTH="900"' in get(url)[2]


def test_new_zodb_tiles_are_written_out_while_tiling(folder, tmp_path,
                                                     monkeypatch):
    # savepoints can only write out (and let go of) tiles that are
    # reachable: the new store must hang off the image from the start
    import ZoomifyImage.stores.zodb as zodb
    monkeypatch.setattr(zodb, "SAVEPOINT_EVERY", 10)
    stored = []
    put = zodb.ZODBTileWriter.put

    def watch(self, name, data):
        put(self, name, data)
        if self.count == 50:
            stored.append(self.tree._p_jar is not None)
    monkeypatch.setattr(zodb.ZODBTileWriter, "put", watch)
    add(folder, save(smooth(2000, 1500), tmp_path / "p.png"))
    assert stored == [True]
