"""The tile stores on their own: a ZODB DemoStorage with blobs, and the
filesystem store with real transactions."""

import os

import pytest
import transaction
import ZODB
from ZODB.blob import BlobStorage
from ZODB.DemoStorage import DemoStorage
from ZODB.MappingStorage import MappingStorage

from ZoomifyImage.stores.zodb import SAVEPOINT_EVERY, TileRecord, \
    ZODBTileStore

from tests.zope_fixtures import tile_root, wsgi_app


@pytest.fixture
def db(tmp_path):
    storage = DemoStorage(changes=BlobStorage(str(tmp_path / "blobs"),
                                              MappingStorage()))
    database = ZODB.DB(storage, cache_size=100)
    yield database
    transaction.abort()
    database.close()


@pytest.fixture
def root(db):
    connection = db.open()
    yield connection.root()
    transaction.abort()
    connection.close()


def fill(store, count, prefix="TileGroup0/0-0-"):
    writer = store.writer()
    for i in range(count):
        writer.put("%s%d.jpg" % (prefix, i), b"tile %d" % i)
    writer.put("ImageProperties.xml", b"<IMAGE_PROPERTIES />")
    writer.finish()


class TestZODBTileStore:

    def _getTargetClass(self):
        return ZODBTileStore

    def _makeOne(self):
        return self._getTargetClass()()

    def test_put_and_get(self, root):
        root["store"] = store = self._makeOne()
        fill(store, 3)
        transaction.commit()
        assert store.get("TileGroup0/0-0-1.jpg") == b"tile 1"
        assert store.size("TileGroup0/0-0-1.jpg") == 6
        assert store.get("TileGroup0/9-9-9.jpg") is None
        assert len(store.names()) == 4

    def test_one_record_per_tile(self, root, db):
        root["store"] = store = self._makeOne()
        fill(store, 50)
        transaction.commit()
        # a fresh connection loads one record for one tile, not a bucket
        # full of tile bytes
        other = db.open()
        tree = other.root()["store"].tiles
        record = tree["TileGroup0/0-0-7.jpg"]
        assert isinstance(record, TileRecord)
        assert record._p_oid is not None
        assert record._p_changed is None  # a ghost until its data is read
        assert record.data == b"tile 7"
        other.close()

    def test_writer_swaps_in_whole_set(self, root):
        root["store"] = store = self._makeOne()
        fill(store, 3)
        writer = store.writer()
        writer.put("TileGroup0/0-0-0.jpg", b"new")
        # until finish(), readers see the old set, whole
        assert store.get("TileGroup0/0-0-0.jpg") == b"tile 0"
        assert store.get("TileGroup0/0-0-2.jpg") == b"tile 2"
        writer.finish()
        assert store.get("TileGroup0/0-0-0.jpg") == b"new"
        assert store.get("TileGroup0/0-0-2.jpg") is None

    def test_abort_keeps_old_set(self, root):
        root["store"] = store = self._makeOne()
        fill(store, 3)
        writer = store.writer()
        writer.put("TileGroup0/0-0-0.jpg", b"new")
        writer.abort()
        assert store.get("TileGroup0/0-0-0.jpg") == b"tile 0"
        assert store._building is None

    def test_savepoints_bound_memory(self, root, db):
        import tracemalloc
        root["store"] = store = self._makeOne()
        transaction.commit()
        tile = os.urandom(50_000)
        count = SAVEPOINT_EVERY * 4   # 60 MB of tiles in all
        tracemalloc.start()
        writer = store.writer()
        for i in range(count):
            writer.put("TileGroup%d/t-%d.jpg" % (i // 256, i), tile[:-1] +
                       bytes([i % 256]))
        writer.finish()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        # savepoints write the records out and the cache lets them go
        assert peak < 30_000_000, peak
        transaction.commit()
        assert len(store.names()) == count

    def test_copy_from(self, root):
        root["a"] = a = self._makeOne()
        root["b"] = b = self._makeOne()
        fill(a, 5)
        b.copy_from(a)
        assert b.names() == a.names()
        assert b.get("TileGroup0/0-0-4.jpg") == b"tile 4"
        assert b.tiles["TileGroup0/0-0-4.jpg"] is not \
            a.tiles["TileGroup0/0-0-4.jpg"]


class TestFilesystemTileStore:

    @pytest.fixture(autouse=True)
    def zope_config(self):
        wsgi_app()  # zope.conf's tile-root

    def _makeOne(self, uid):
        from ZoomifyImage.stores.filesystem import FilesystemTileStore
        return FilesystemTileStore(uid)

    def test_layout_on_disk_is_zoomify(self, unique_id):
        store = self._makeOne("ab" + unique_id)
        fill(store, 2)
        transaction.commit()
        folder = os.path.join(tile_root(), "ab", "ab" + unique_id)
        assert store.directory() == folder
        # .set names the set, for Undo (see stores/filesystem.py)
        assert sorted(os.listdir(folder)) == [".set", "ImageProperties.xml",
                                              "TileGroup0"]
        with open(os.path.join(folder, ".set")) as f:
            assert f.read() == store.set_id
        with open(os.path.join(folder, "TileGroup0", "0-0-1.jpg"),
                  "rb") as f:
            assert f.read() == b"tile 1"
        assert store.get("TileGroup0/0-0-1.jpg") == b"tile 1"

    def test_stores_from_before_set_ids_serve_the_set_in_place(
            self, unique_id):
        store = self._makeOne("ef" + unique_id)
        fill(store, 2)
        transaction.commit()
        del store.set_id   # as unpickled from an older version: the class's
        assert store.set_id is None
        assert store.get("TileGroup0/0-0-1.jpg") == b"tile 1"
        store.clear()      # and a delete still goes to the trash
        transaction.commit()
        assert not os.path.exists(store.directory())
        assert store.get("TileGroup0/0-0-1.jpg") == b"tile 1"  # restored

    def test_nothing_visible_before_commit(self, unique_id):
        store = self._makeOne("cd" + unique_id)
        fill(store, 2)
        assert store.get("TileGroup0/0-0-1.jpg") is None
        assert not os.path.exists(store.directory())
        transaction.abort()
        assert not os.path.exists(store.directory())
        partial = os.path.join(tile_root(), ".partial")
        assert not [n for n in os.listdir(partial)
                    if n.startswith(store.uid)]

    def test_replace_and_clear(self, unique_id):
        store = self._makeOne("ef" + unique_id)
        fill(store, 3)
        transaction.commit()
        fill(store, 1, prefix="TileGroup0/1-0-")
        transaction.commit()
        assert store.get("TileGroup0/1-0-0.jpg") == b"tile 0"
        assert store.get("TileGroup0/0-0-2.jpg") is None  # not merged
        store.clear()
        assert store.get("TileGroup0/1-0-0.jpg") == b"tile 0"
        transaction.commit()
        assert not os.path.exists(store.directory())

    def test_copy_from_zodb_and_back(self, unique_id, root):
        fs = self._makeOne("gh" + unique_id)
        root["z"] = z = ZODBTileStore()
        fill(z, 4)
        fs.copy_from(z)
        transaction.commit()
        assert fs.names() == sorted(z.names())
        again = ZODBTileStore()
        again.copy_from(fs)
        assert again.get("TileGroup0/0-0-3.jpg") == b"tile 3"


def test_old_trash_is_emptied(tmp_path):
    import time
    from ZoomifyImage.stores.filesystem import TRASH, empty_trash
    trash = tmp_path / TRASH
    old = trash / ("a" * 32 + "-%.6f" % (time.time() - 40 * 86400))
    new = trash / ("b" * 32 + "-%.6f" % (time.time() - 86400))
    for folder in (old, new):
        (folder / "TileGroup0").mkdir(parents=True)
    assert empty_trash(str(tmp_path), 30) == [old.name]
    assert not old.exists() and new.exists()
