"""The tile stores on their own: a ZODB DemoStorage with blobs, and the
filesystem store with real transactions."""

import os

import pytest
import transaction
import ZODB
from ZODB.blob import BlobStorage
from ZODB.DemoStorage import DemoStorage
from ZODB.MappingStorage import MappingStorage

from tests.zope_fixtures import wsgi_app
from ZoomifyImage import config
from ZoomifyImage.stores.zodb import SAVEPOINT_EVERY
from ZoomifyImage.stores.zodb import TileRecord
from ZoomifyImage.stores.zodb import ZODBTileStore


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


@pytest.fixture
def own_tile_root(tmp_path, monkeypatch):
    """A tile root of the test's own: these stores live in a database of
    their own, whose sweep must not judge the Zope tests' sets."""
    from App.config import getConfiguration
    wsgi_app()
    section = getConfiguration().product_config["zoomifyimage"]
    monkeypatch.setitem(section, "tile-root", str(tmp_path / "tiles"))
    return str(tmp_path / "tiles")


class TestFilesystemTileStore:

    @pytest.fixture(autouse=True)
    def zope_config(self, own_tile_root):
        pass

    def _makeOne(self, uid, root):
        from ZoomifyImage.stores.filesystem import FilesystemTileStore
        root[uid] = store = FilesystemTileStore(uid)
        return store

    def test_layout_on_disk_is_zoomify(self, unique_id, root):
        store = self._makeOne("ab" + unique_id, root)
        fill(store, 2)
        transaction.commit()
        folder = os.path.join(config.settings().tile_root, "ab",
                              "ab" + unique_id, store.set_id)
        assert store.directory() == folder
        # .owner names the store, for the sweep (see sweep.py)
        assert sorted(os.listdir(folder)) == [".owner", "ImageProperties.xml",
                                              "TileGroup0"]
        with open(os.path.join(folder, ".owner")) as f:
            assert f.read() == "%s %s" % (store._p_oid.hex(),
                                          store._p_jar.db().database_name)
        with open(os.path.join(folder, "TileGroup0", "0-0-1.jpg"),
                  "rb") as f:
            assert f.read() == b"tile 1"
        assert store.get("TileGroup0/0-0-1.jpg") == b"tile 1"
        assert store.names() == ["ImageProperties.xml",
                                 "TileGroup0/0-0-0.jpg",
                                 "TileGroup0/0-0-1.jpg"]

    def test_files_and_folders_follow_the_umask(self, unique_id, root):
        # a front-end running as another user must read them (issue 9)
        store = self._makeOne("ac" + unique_id, root)
        fill(store, 2)
        transaction.commit()
        for here, dirs, files in os.walk(store.image_directory()):
            assert os.stat(here).st_mode & 0o777 == 0o755, here
            for name in files:
                mode = os.stat(os.path.join(here, name)).st_mode & 0o777
                assert mode == 0o644, name

    def test_nothing_visible_before_commit(self, unique_id, root):
        store = self._makeOne("cd" + unique_id, root)
        fill(store, 2)
        assert not os.path.exists(store.image_directory())
        transaction.abort()
        assert not os.path.exists(store.image_directory())
        partial = os.path.join(config.settings().tile_root, ".partial")
        assert not [n for n in os.listdir(partial)
                    if n.startswith(store.uid)]

    def test_a_new_set_never_moves_the_old_one(self, unique_id, root):
        store = self._makeOne("ef" + unique_id, root)
        fill(store, 3)
        transaction.commit()
        first = store.directory()
        listing = sorted(os.walk(first))
        fill(store, 1, prefix="TileGroup0/1-0-")
        transaction.commit()
        assert store.directory() != first
        assert store.get("TileGroup0/1-0-0.jpg") == b"tile 0"
        assert store.get("TileGroup0/0-0-2.jpg") is None  # not merged
        assert sorted(os.walk(first)) == listing  # untouched, for Undo
        store.clear()
        transaction.commit()
        assert store.get("TileGroup0/1-0-0.jpg") == b"tile 0"

    def test_failed_vote_leaves_nothing(self, unique_id, root, tmp_path):
        # the set is placed when the transaction votes: a failure there
        # aborts the transaction and removes the set
        store = self._makeOne("fa" + unique_id, root)
        fill(store, 2)
        blocker = os.path.join(store.image_directory())
        os.makedirs(os.path.dirname(blocker), exist_ok=True)
        with open(blocker, "w") as f:  # a file where the folder must go
            f.write("in the way")
        with pytest.raises(OSError):
            transaction.commit()
        transaction.abort()
        os.remove(blocker)
        assert store._p_oid is None or store.set_id is None
        partial = os.path.join(config.settings().tile_root, ".partial")
        assert not [n for n in os.listdir(partial)
                    if n.startswith(store.uid)]

    def test_copy_from_zodb_and_back(self, unique_id, root):
        fs = self._makeOne("gh" + unique_id, root)
        root["z"] = z = ZODBTileStore()
        fill(z, 4)
        fs.copy_from(z)
        transaction.commit()
        assert fs.names() == sorted(z.names())
        again = ZODBTileStore()
        again.copy_from(fs)
        assert again.get("TileGroup0/0-0-3.jpg") == b"tile 3"


class TestSweep:

    @pytest.fixture(autouse=True)
    def zope_config(self, own_tile_root):
        pass

    def sweep(self, db, **kw):
        from ZoomifyImage.sweep import sweep
        kw.setdefault("grace", 0)
        return sweep(db, config.settings().tile_root, **kw)

    def test_unused_sets_go_after_trash_days(self, unique_id, root, db):
        import time

        from ZoomifyImage.stores.filesystem import FilesystemTileStore
        root["s"] = store = FilesystemTileStore("sw" + unique_id)
        fill(store, 2)
        transaction.commit()
        first = store.directory()
        fill(store, 3)
        transaction.commit()
        second = store.directory()
        # the replaced set waits for an Undo
        assert self.sweep(db, trash_days=30) == []
        assert os.path.isdir(first) and os.path.isdir(second)
        later = time.time() + 31 * 86400
        assert self.sweep(db, trash_days=30, now=later) == [first]
        assert os.path.isdir(second)
        # the image lets go of its store: its set goes too
        store.clear()
        transaction.commit()
        assert self.sweep(db, trash_days=30, now=later) == []
        assert self.sweep(db, trash_days=30, now=later + 31 * 86400) == [
            second]
        assert not os.path.exists(store.image_directory())

    def test_a_set_pointed_at_again_is_kept(self, unique_id, root, db):
        import time

        from ZoomifyImage.stores.filesystem import FilesystemTileStore
        root["s"] = store = FilesystemTileStore("sx" + unique_id)
        fill(store, 2)
        transaction.commit()
        first_id, first = store.set_id, store.directory()
        fill(store, 3)
        transaction.commit()
        self.sweep(db, trash_days=30)   # marks the first set
        store.set_id = first_id         # as an Undo does
        transaction.commit()
        later = time.time() + 31 * 86400
        assert self.sweep(db, trash_days=30) == []
        assert not os.path.exists(os.path.join(first, ".unreferenced"))
        removed = self.sweep(db, trash_days=30, now=later)
        assert first not in removed and os.path.isdir(first)

    def test_sets_of_uncommitted_transactions_go(self, unique_id, root, db):
        # a process killed after the vote, before the commit, leaves a set
        # that names a store which never pointed at it
        from ZoomifyImage.stores.filesystem import FilesystemTileStore
        root["s"] = store = FilesystemTileStore("sy" + unique_id)
        fill(store, 2)
        transaction.commit()
        orphan = os.path.join(store.image_directory(), "0123456789abcdef")
        os.makedirs(orphan)
        with open(os.path.join(orphan, ".owner"), "w") as f:
            f.write(store._p_oid.hex())  # without a name: the main one
        assert self.sweep(db, trash_days=0) == [orphan]
        assert os.path.isdir(store.directory())
        # a young set is left alone: its transaction may be committing
        os.makedirs(orphan)
        with open(os.path.join(orphan, ".owner"), "w") as f:
            f.write(store._p_oid.hex())  # without a name: the main one
        assert self.sweep(db, trash_days=0, grace=600) == []


    def test_two_sites_of_the_same_name_share_a_tile_root(self, unique_id,
                                                          root, db,
                                                          tmp_path):
        """Two sites (databases both named "main", ids of their own) over
        one tile root: each sweep removes its own unused sets only."""
        from ZoomifyImage import identity
        from ZoomifyImage.stores.filesystem import FilesystemTileStore
        other = ZODB.DB(DemoStorage(changes=BlobStorage(
            str(tmp_path / "blobs2"), MappingStorage())),
            database_name=db.database_name)
        identity.make(db)
        identity.make(other)
        transaction.begin()  # sees the id's commit
        # site one: a live set
        root["s"] = mine = FilesystemTileStore("sm" + unique_id)
        fill(mine, 2)
        transaction.commit()
        with open(os.path.join(mine.directory(), ".owner")) as f:
            assert f.read().split()[2] == identity.make(db)
        # site two: a set replaced by a newer one
        theirs_root = other.open().root()
        theirs_root["s"] = theirs = FilesystemTileStore("st" + unique_id)
        fill(theirs, 2)
        transaction.commit()
        replaced = theirs.directory()
        fill(theirs, 3)
        transaction.commit()
        assert self.sweep(other, trash_days=0) == [replaced]
        assert os.path.isdir(mine.directory())
        assert not os.path.exists(os.path.join(mine.directory(),
                                               ".unreferenced"))
        assert self.sweep(db, trash_days=0) == []
        assert os.path.isdir(theirs.directory())
        # an owner record of an older release (no id): judged by the
        # name, as before, so its own site keeps it
        with open(os.path.join(mine.directory(), ".owner"), "w") as f:
            f.write("%s %s" % (mine._p_oid.hex(), db.database_name))
        assert self.sweep(db, trash_days=0) == []
        assert os.path.isdir(mine.directory())
        transaction.abort()
        theirs_root._p_jar.close()
        other.close()


def test_the_first_layout_is_moved_once(tmp_path):
    import time

    from ZoomifyImage.sweep import MARK_FILE
    from ZoomifyImage.sweep import migrate_layout
    root = tmp_path
    uid = "ab" * 16
    live = root / uid[:2] / uid
    (live / "TileGroup0").mkdir(parents=True)
    (live / "ImageProperties.xml").write_text("<IMAGE_PROPERTIES />")
    (live / ".set").write_text("1234")
    gone = "cd" * 16
    trashed = root / ".trash" / ("%s-%.6f" % (gone, time.time() - 86400))
    (trashed / "TileGroup0").mkdir(parents=True)
    (trashed / "ImageProperties.xml").write_text("<IMAGE_PROPERTIES />")
    moves = migrate_layout(str(root))
    assert sorted(moves) == sorted([str(live / "1234"),
                                    str(root / gone[:2] / gone / "0")])
    assert (live / "1234" / "ImageProperties.xml").is_file()
    assert (root / gone[:2] / gone / "0" / MARK_FILE).is_file()
    assert not (root / ".trash").exists()
    assert migrate_layout(str(root)) == []
    from ZoomifyImage.stores.filesystem import FilesystemTileStore
    store = FilesystemTileStore(uid)
    store.set_id = "1234"
    store.root = lambda: str(root)
    assert store.get("ImageProperties.xml") == b"<IMAGE_PROPERTIES />"


def test_the_migration_touches_nothing_that_is_not_ours(tmp_path):
    from ZoomifyImage.sweep import migrate_layout
    root = tmp_path
    theirs = [root / "maps" / "harbour" / "ImageProperties.xml",
              root / "ab" / "notes" / "ImageProperties.xml",
              root / ".trash" / "photos" / "family.jpg",
              root / ".trash" / "old-notes" / "n.txt"]
    for path in theirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not a tile set of ours")
    assert migrate_layout(str(root)) == []
    for path in theirs:
        assert path.read_text() == "not a tile set of ours"
    assert not (root / "ol").exists()


def test_the_tile_cache_keeps_recent_tiles_within_its_limit(tmp_path):
    from ZoomifyImage.stores.filesystem import TileCache
    cache = TileCache(64 * 1000)
    paths = []
    for i in range(200):
        path = tmp_path / ("%d.jpg" % i)
        path.write_bytes(bytes([i % 256]) * 900)
        paths.append(str(path))
    for path in paths:
        assert cache.load(path, path) == open(path, "rb").read()
        assert cache.get(path) == open(path, "rb").read()
    assert cache.size <= 64 * 1000 and len(cache.items) == 71
    # a set never changes: what is cached is served as it is
    assert paths[-1] in cache.items and paths[0] not in cache.items
    assert cache.get(paths[0]) is None
    for missing in (tmp_path / "missing.jpg", tmp_path / "missing" / "0.jpg"):
        assert cache.load("k", str(missing)) is None
        assert cache.get("k") is None


# Issue 23, L7: a writer's directory under .partial is removed only when
# its writer is provably dead ------------------------------------------------

# A synchronous writer in a process of its own (as zoomify-import
# --foreground over ZEO is): it writes a tile, says where, and waits.
OTHER_WRITER = r"""
import sys
from App.config import getConfiguration
getConfiguration().product_config = {"zoomifyimage": {"tile-root":
                                                      sys.argv[1]}}
from ZoomifyImage.stores.filesystem import FilesystemTileStore
writer = FilesystemTileStore(sys.argv[2]).writer()
writer.put("TileGroup0/0-0-0.jpg", b"a tile")
print(writer.temp, flush=True)
sys.stdin.read()
"""


def age(path, seconds):
    import time
    then = time.time() - seconds
    for here, dirs, files in os.walk(path):
        for name in dirs + files:
            os.utime(os.path.join(here, name), (then, then))
    os.utime(path, (then, then))


def test_a_live_writer_of_another_process_keeps_its_directory(tmp_path):
    import subprocess
    import sys

    from ZoomifyImage.stores.filesystem import clean_partial
    root = str(tmp_path / "tiles")
    uid = "cd" * 16
    other = subprocess.Popen([sys.executable, "-c", OTHER_WRITER, root, uid],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        temp = other.stdout.readline().strip()
        assert os.path.isfile(os.path.join(temp, "TileGroup0", "0-0-0.jpg"))
        # a long decode: nothing written for an hour
        age(temp, 3600)
        # the minute's scan, and a claim's takeover of the same image
        clean_partial(root, keep=set())
        clean_partial(root, max_age=-1, prefix=uid + "-")
        assert os.path.isfile(os.path.join(temp, "TileGroup0", "0-0-0.jpg"))
    finally:
        other.kill()  # kill -9: no clean-up of its own
        other.wait()
    clean_partial(root, prefix=uid + "-")  # now provably dead: at once
    assert not os.path.exists(temp)


def test_a_writer_that_is_done_or_gone_leaves_nothing_to_guess(own_tile_root,
                                                               root):
    from ZoomifyImage.stores.filesystem import FilesystemTileStore
    from ZoomifyImage.stores.filesystem import clean_partial
    partial = os.path.join(own_tile_root, ".partial")
    root["s"] = store = FilesystemTileStore("ce" * 16)
    live = store.writer()
    live.put("TileGroup0/0-0-0.jpg", b"live")
    # a directory of a version before locks: by its age, as before
    unlocked = os.path.join(partial, store.uid + "-old")
    os.makedirs(unlocked)
    clean_partial(own_tile_root)
    assert os.path.isdir(unlocked) and os.path.isdir(live.temp)
    age(unlocked, 3600)
    clean_partial(own_tile_root)
    assert not os.path.exists(unlocked) and os.path.isdir(live.temp)
    # a writer dropped without a word (its lock closes with it)
    dropped = store.writer()
    temp = dropped.temp
    del dropped
    import gc
    gc.collect()
    clean_partial(own_tile_root)
    assert not os.path.exists(temp) and os.path.isdir(live.temp)
    # a committed set carries no lock, and nothing stays under .partial
    live.finish()
    transaction.commit()
    assert os.listdir(partial) == []
    assert sorted(os.listdir(store.directory())) == [
        ".owner", "TileGroup0"]


def test_the_clean_up_goes_on_past_what_it_cannot_read(tmp_path):
    """A stranger's entries under .partial (a file, a .writer that is no
    file) neither stop the clean-up nor count as a live writer."""
    from ZoomifyImage.stores.filesystem import clean_partial
    partial = tmp_path / ".partial"
    (partial / "stray-file").parent.mkdir()
    (partial / "stray-file").write_bytes(b"x")
    (partial / "odd" / ".writer").mkdir(parents=True)
    (partial / "old").mkdir()
    for name in ("stray-file", "odd", "old"):
        age(str(partial / name), 3600)
    clean_partial(str(tmp_path))
    assert sorted(os.listdir(partial)) == ["stray-file"]
