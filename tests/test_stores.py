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


@pytest.fixture(params=["filesystem", "s3"])
def kept(request):
    """A store kind whose sets outlive their transaction (the sweep's)."""
    return Kind(request.param, request)


class TestSweep:

    def sweep(self, db, **kw):
        from ZoomifyImage.sweep import sweep
        kw.setdefault("grace", 0)
        return sweep(db, config.settings().tile_root, **kw)

    def test_unused_sets_go_after_trash_days(self, kept, unique_id, root,
                                             db):
        import time
        store = kept.make(root, "sw" + unique_id)
        fill(store, 2)
        transaction.commit()
        first, first_id = kept.place(store), store.set_id
        fill(store, 3)
        transaction.commit()
        second, second_id = kept.place(store), store.set_id
        # the replaced set waits for an Undo
        assert self.sweep(db, trash_days=30) == []
        assert kept.sets(store) == sorted([first_id, second_id])
        later = time.time() + 31 * 86400
        assert self.sweep(db, trash_days=30, now=later) == [first]
        assert kept.sets(store) == [second_id]
        # the image lets go of its store: its set goes too
        store.clear()
        transaction.commit()
        assert self.sweep(db, trash_days=30, now=later) == []
        assert self.sweep(db, trash_days=30, now=later + 31 * 86400) == [
            second]
        assert kept.sets(store) == []
        if kept.kind == "filesystem":
            assert not os.path.exists(store.image_directory())

    def test_a_set_pointed_at_again_is_kept(self, kept, unique_id, root, db):
        import time
        store = kept.make(root, "sx" + unique_id)
        fill(store, 2)
        transaction.commit()
        first_id, first = store.set_id, kept.place(store)
        fill(store, 3)
        transaction.commit()
        self.sweep(db, trash_days=30)   # marks the first set
        assert kept.marked(store, first_id)
        store.set_id = first_id         # as an Undo does
        transaction.commit()
        later = time.time() + 31 * 86400
        assert self.sweep(db, trash_days=30) == []
        assert not kept.marked(store, first_id)
        removed = self.sweep(db, trash_days=30, now=later)
        assert first not in removed and first_id in kept.sets(store)

    def test_sets_of_uncommitted_transactions_go(self, kept, unique_id, root,
                                                 db):
        # a process killed after the vote, before the commit, leaves a set
        # that names a store which never pointed at it
        store = kept.make(root, "sy" + unique_id)
        fill(store, 2)
        transaction.commit()
        orphan = "0123456789abcdef"
        # without a database name: the main one
        kept.orphan(store, orphan, store._p_oid.hex())
        assert self.sweep(db, trash_days=0) == [kept.place(store, orphan)]
        assert kept.sets(store) == [store.set_id]
        # a young set is left alone: its transaction may be committing
        kept.orphan(store, orphan, store._p_oid.hex())
        assert self.sweep(db, trash_days=0, grace=600) == []
        assert orphan in kept.sets(store)

    def test_two_sites_of_the_same_name_share_a_tile_root(self, kept,
                                                          unique_id, root,
                                                          db, tmp_path):
        """Two sites (databases both named "main", ids of their own) over
        one tile root or bucket: each sweep removes its own unused sets
        only."""
        from ZoomifyImage import identity
        other = ZODB.DB(DemoStorage(changes=BlobStorage(
            str(tmp_path / "blobs2"), MappingStorage())),
            database_name=db.database_name)
        identity.make(db)
        identity.make(other)
        transaction.begin()  # sees the id's commit
        # site one: a live set
        mine = kept.make(root, "sm" + unique_id)
        fill(mine, 2)
        transaction.commit()
        assert kept.owner(mine).split()[2] == identity.make(db)
        # site two: a set replaced by a newer one
        theirs_root = other.open().root()
        theirs = kept.make(theirs_root, "st" + unique_id)
        fill(theirs, 2)
        transaction.commit()
        replaced = kept.place(theirs)
        fill(theirs, 3)
        transaction.commit()
        assert self.sweep(other, trash_days=0) == [replaced]
        assert kept.sets(mine) == [mine.set_id]
        assert not kept.marked(mine, mine.set_id)
        assert self.sweep(db, trash_days=0) == []
        assert kept.sets(theirs) == [theirs.set_id]
        # an owner record of an older release (no id): judged by the
        # name, as before, so its own site keeps it
        kept.orphan(mine, mine.set_id, "%s %s" % (mine._p_oid.hex(),
                                                  db.database_name))
        assert self.sweep(db, trash_days=0) == []
        assert kept.sets(mine) == [mine.set_id]
        transaction.abort()
        theirs_root._p_jar.close()
        other.close()

    def test_a_dead_writers_unfinished_s3_set_goes_in_time(self, seaweedfs,
                                                           s3_settings,
                                                           unique_id, root,
                                                           db):
        """No lock tells a live writer on another machine: an unfinished
        S3 set goes once its writer has not been heard of for hours."""
        import time

        from ZoomifyImage.stores import s3
        store = s3.S3TileStore("sz" + unique_id)
        root["s"] = store
        transaction.commit()
        writer = store.writer()
        writer.put("TileGroup0/0-0-0.jpg", b"a tile")
        writer._wait()  # as a kill -9 would leave it: no abort
        place = s3.location(store.uid, writer.set_id)
        assert self.sweep(db, trash_days=0) == []
        assert self.sweep(db, trash_days=0, now=time.time() + 3600) == []
        later = time.time() + s3.UNFINISHED_SECONDS + 60
        assert self.sweep(db, trash_days=0, now=later) == [place]
        assert seaweedfs.keys(prefix=s3_settings + "/") == []


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


# The store contract: every store kind through the same tests -------------

KINDS = ["zodb", "filesystem", "s3"]


class Kind:
    """What a test asks of a store kind beyond ITileStore: where its sets
    are, for the assertions (None for the ZODB, whose sets are records)."""

    def __init__(self, kind, request):
        self.kind = kind
        if kind == "filesystem":
            request.getfixturevalue("own_tile_root")
        elif kind == "s3":
            # the filesystem's sweep runs too: over a root of its own
            request.getfixturevalue("own_tile_root")
            self.prefix = request.getfixturevalue("s3_settings")
            self.server = request.getfixturevalue("seaweedfs")

    def make(self, root, uid):
        from ZoomifyImage.stores import make_store
        root[uid] = store = make_store(self.kind, uid)
        return store

    def sets(self, store):
        """The sets of the image in the store (placed or not), or None."""
        if self.kind == "filesystem":
            partial = os.path.join(config.settings().tile_root, ".partial")
            unfinished = [n for n in os.listdir(partial)
                          if n.startswith(store.uid)] \
                if os.path.isdir(partial) else []
            try:
                placed = os.listdir(store.image_directory())
            except OSError:
                placed = []
            return sorted(placed + unfinished)
        if self.kind == "s3":
            keys = self.server.keys(prefix=self.prefix + "/")
            return sorted({k.split("/")[-1] for k in keys
                           if "/.sets/%s/" % store.uid in k} |
                          {k.split("/")[-3] for k in keys
                           if "/%s/" % store.uid in k and
                           k.endswith(".jpg")})
        return None

    def place(self, store, set_name=None):
        """The place of a set, as the sweep names it."""
        if self.kind == "filesystem":
            return store.directory(set_name)
        return store.location(set_name)

    def owner(self, store, set_name=None):
        """The text that names the store that wrote a set."""
        if self.kind == "filesystem":
            with open(os.path.join(store.directory(set_name),
                                   ".owner")) as f:
                return f.read()
        from ZoomifyImage.stores import s3
        text = s3.read_record(store.uid, set_name or store.set_id)
        return text.splitlines()[0]

    def orphan(self, store, set_name, owner):
        """A placed set ``set_name`` whose record names ``owner`` (made
        now), as a vote leaves it."""
        import time
        if self.kind == "filesystem":
            folder = store.directory(set_name)
            os.makedirs(os.path.join(folder, "TileGroup0"), exist_ok=True)
            with open(os.path.join(folder, "TileGroup0", "0-0-0.jpg"),
                      "wb") as f:
                f.write(b"a tile")
            with open(os.path.join(folder, ".owner"), "w") as f:
                f.write(owner)
            return
        from ZoomifyImage.stores import s3
        s3.client().put_object(Bucket=s3.bucket(),
                               Key=store.key("TileGroup0/0-0-0.jpg",
                                             set_name), Body=b"a tile")
        s3.write_record(store.uid, set_name,
                        s3.record_text(owner, time.time()))

    def marked(self, store, set_name):
        """Whether the sweep found the set unused (and waits)."""
        if self.kind == "filesystem":
            return os.path.exists(os.path.join(store.directory(set_name),
                                               ".unreferenced"))
        from ZoomifyImage.stores import s3
        return s3.parse_record(s3.read_record(store.uid, set_name))[2] \
            is not None


@pytest.fixture(params=KINDS)
def kind(request):
    return Kind(request.param, request)


class TestEveryStore:
    """What serving, copies and retiles rely on, for every kind."""

    def test_put_and_get(self, kind, root, unique_id):
        store = kind.make(root, "ab" + unique_id)
        assert store.get("ImageProperties.xml") is None
        fill(store, 3)
        transaction.commit()
        assert store.get("TileGroup0/0-0-1.jpg") == b"tile 1"
        assert store.size("TileGroup0/0-0-1.jpg") == 6
        assert store.get("TileGroup0/9-9-9.jpg") is None
        assert store.size("TileGroup0/9-9-9.jpg") is None
        assert store.names() == ["ImageProperties.xml",
                                 "TileGroup0/0-0-0.jpg",
                                 "TileGroup0/0-0-1.jpg",
                                 "TileGroup0/0-0-2.jpg"]
        assert store.set_id
        assert store.file_path("TileGroup0/0-0-1.jpg") is None or \
            kind.kind == "filesystem"

    def test_the_old_set_is_served_whole_until_the_commit(self, kind, root,
                                                         unique_id, db):
        uid = "ac" + unique_id
        store = kind.make(root, uid)
        fill(store, 3)
        transaction.commit()
        first = store.set_id
        writer = store.writer()
        writer.put("TileGroup0/0-0-0.jpg", b"new")
        # until finish(), readers see the old set, whole
        assert store.get("TileGroup0/0-0-0.jpg") == b"tile 0"
        assert store.get("TileGroup0/0-0-2.jpg") == b"tile 2"
        writer.put("ImageProperties.xml", b"<IMAGE_PROPERTIES />")
        writer.finish()
        # and other connections until the commit
        other = db.open()
        assert other.root()[uid].get("TileGroup0/0-0-0.jpg") == \
            b"tile 0"
        other.close()
        transaction.commit()
        assert store.set_id != first
        assert store.get("TileGroup0/0-0-0.jpg") == b"new"
        assert store.get("TileGroup0/0-0-2.jpg") is None  # not merged

    def test_an_aborted_writer_leaves_the_old_set_and_nothing_else(
            self, kind, root, unique_id):
        store = kind.make(root, "ad" + unique_id)
        fill(store, 3)
        transaction.commit()
        before = kind.sets(store)
        writer = store.writer()
        writer.put("TileGroup0/0-0-0.jpg", b"new")
        writer.abort()
        assert store.get("TileGroup0/0-0-0.jpg") == b"tile 0"
        assert kind.sets(store) == before
        # a finished set of an aborted transaction goes too
        fill(store, 2)
        transaction.abort()
        assert store.get("TileGroup0/0-0-2.jpg") == b"tile 2"
        assert kind.sets(store) == before

    def test_a_writer_aborted_after_its_commit_changes_nothing(
            self, kind, root, unique_id):
        """A job's clean-up may abort its writer after the transaction
        that installed the set committed (a step after the commit
        failed): the committed set stays whole."""
        store = kind.make(root, "ce" + unique_id)
        writer = store.writer()
        writer.put("TileGroup0/0-0-0.jpg", b"tile 0")
        writer.put("ImageProperties.xml", b"<IMAGE_PROPERTIES />")
        writer.finish()
        transaction.commit()
        before = kind.sets(store)
        writer.abort()
        assert kind.sets(store) == before
        from ZoomifyImage.stores.filesystem import TILE_CACHE
        TILE_CACHE.clear()
        assert store.get("TileGroup0/0-0-0.jpg") == b"tile 0"

    def test_nothing_visible_before_commit(self, kind, root, unique_id, db):
        uid = "cd" + unique_id
        store = kind.make(root, uid)
        transaction.commit()
        fill(store, 2)
        other = db.open()
        assert other.root()[uid].get("ImageProperties.xml") is None
        other.close()
        transaction.abort()
        assert store.get("ImageProperties.xml") is None
        assert kind.sets(store) in (None, [])

    def test_a_new_set_never_changes_the_old_one(self, kind, root,
                                                 unique_id):
        store = kind.make(root, "ef" + unique_id)
        fill(store, 3)
        transaction.commit()
        first = store.set_id
        fill(store, 1, prefix="TileGroup0/1-0-")
        transaction.commit()
        assert store.get("TileGroup0/1-0-0.jpg") == b"tile 0"
        assert store.get("TileGroup0/0-0-2.jpg") is None
        if kind.kind == "zodb":
            assert store.older_set(first) is None  # one tree, not kept
            return
        # a page built before the new set still gets its own, whole
        assert store.older_set(first) == first
        assert store.get("TileGroup0/0-0-2.jpg", first) == b"tile 2"
        assert store.get("TileGroup0/1-0-0.jpg", first) is None
        assert kind.sets(store) == sorted([first, store.set_id])
        store.clear()
        transaction.commit()
        # let go of: waits for the sweep (an Undo), still readable
        assert store.get("TileGroup0/1-0-0.jpg") == b"tile 0"

    def test_copy_from_zodb_and_back(self, kind, root, unique_id):
        store = kind.make(root, "gh" + unique_id)
        root["z"] = z = ZODBTileStore()
        fill(z, 4)
        store.copy_from(z)
        transaction.commit()
        assert store.names() == sorted(z.names())
        again = ZODBTileStore()
        again.copy_from(store)
        assert again.get("TileGroup0/0-0-3.jpg") == b"tile 3"

    def test_a_copy_of_the_image_gets_its_own_set(self, kind, root,
                                                  unique_id):
        store = kind.make(root, "gi" + unique_id)
        fill(store, 2)
        transaction.commit()
        copy = store.for_copy("gj" + unique_id)
        root["copy"] = copy
        transaction.commit()
        assert copy.get("TileGroup0/0-0-1.jpg") == b"tile 1"
        if kind.kind != "zodb":  # the ZODB's tree comes along itself
            assert copy is not store and copy.uid == "gj" + unique_id
            # a retile of the copy leaves the original's set alone
            fill(copy, 1, prefix="TileGroup0/5-0-")
            transaction.commit()
            assert store.get("TileGroup0/0-0-1.jpg") == b"tile 1"
