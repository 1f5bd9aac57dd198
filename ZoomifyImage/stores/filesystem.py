"""Tiles on the filesystem, laid out exactly as Zoomify expects, one
directory per tile set:

    TILE-ROOT/ab/abcdef.../SETID/ImageProperties.xml
    TILE-ROOT/ab/abcdef.../SETID/TileGroup0/0-0-0.jpg

``abcdef...`` is the image's stable id (not its Zope path, which changes
on rename) and SETID the id of one complete set. A set is never renamed
or rewritten once it is in place: a retile or a new file writes a new set
beside the old one, and the store's ``set_id`` (in the ZODB, changed in
the same transaction as the image's facts) is the one pointer that says
which set is served. Undo switches the pointer back; a GET never touches
a file. A front-end can serve TILE-ROOT as it is, and cache a set's URLs
for ever.

A new set is written under TILE-ROOT/.partial and moved to its place
when the transaction votes (an aborted transaction removes it), with a
file ``.owner`` naming the store's database record. Sets that no store
points at any more are removed by the sweep (sweep.py) after trash-days,
so that an Undo finds them until then.
"""

import fcntl
import logging
import os
import shutil
import time
import uuid

import transaction
from persistent import Persistent
from transaction.interfaces import IDataManager
from zope.interface import implementer

from .. import config
from .. import identity
from ..cache import BoundedCache
from ..interfaces import ITileStore
from ..interfaces import ITileWriter
from ..pyramid.errors import TilingError
from ..pyramid.sinks import TileSink
from ..pyramid.sinks import new_directory
from ..pyramid.sinks import tile_path

logger = logging.getLogger("ZoomifyImage")

PARTIAL = ".partial"
# the store that wrote the set: its oid (hex) and its database's name
# (a site may mount several databases over one tile root)
OWNER_FILE = ".owner"
# the set of a store from before sets had ids (see migrate_layout)
LEGACY_SET = "0"
# how long a page built for the previous set still gets its tiles
OLDER_SET_SECONDS = 600
# in a set's directory under .partial: locked (flock) for as long as its
# writer lives; the kernel lets go of the lock when the process dies
WRITER_LOCK = ".writer"


class TileCache(BoundedCache):
    """The bytes of recently served tiles, by path, up to ``limit`` bytes.

    A set never changes once it is in place, and a path names its set:
    an entry is never stale. Opening a file is what a tile of this store
    costs most (more than the rest of serving it, on this project's
    machine), and a viewer asks the same few tiles of a set again and
    again."""

    def __init__(self, limit):
        # never one big file for all
        super().__init__(limit, len, largest=limit // 64)

    def load(self, key, path):
        """The bytes of the file at ``path``, kept under ``key`` (None if
        there is no such file)."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        self.put(key, data)
        return data


TILE_CACHE = TileCache(32 << 20)


@implementer(ITileStore)
class FilesystemTileStore(Persistent):
    kind = "filesystem"
    set_id = None    # stores made before sets had ids: LEGACY_SET
    released = 0.0   # when the image let go of this store (sweep.py)
    previous = (None, 0.0)  # the set pointed at before, and until when

    def __init__(self, uid):
        self.uid = uid
        self.set_id = None

    # where things are; the root comes from zope.conf each time, so that
    # a site can move its tile root
    def root(self):
        return config.settings().tile_root

    def image_directory(self):
        return os.path.join(self.root(), self.uid[:2], self.uid)

    def set_name(self):
        return self.set_id or LEGACY_SET

    def directory(self, set_name=None):
        """The directory of the set this store points at (or of another
        set of the image, by its name)."""
        return os.path.join(self.image_directory(),
                            set_name or self.set_name())

    def front_end_path(self, set_name=None):
        """directory() relative to the tile root, with '/' (tile-url,
        X-Accel-Redirect)."""
        return "%s/%s/%s" % (self.uid[:2], self.uid,
                             set_name or self.set_name())

    def _path(self, name, set_name=None):
        return os.path.join(self.directory(set_name), *name.split("/"))

    def file_path(self, name, set_name=None):
        """The file of a tile (name already validated), or None."""
        path = self._path(name, set_name)
        return path if os.path.isfile(path) else None

    def older_set(self, set_name):
        """``set_name`` if it names the set this store pointed at until a
        few minutes ago (a page built before a retile or a new file asks
        for it), else None: a replaced picture is not served for long."""
        previous, since = self.previous
        if not (previous and set_name == previous and
                _now() - since < OLDER_SET_SECONDS):
            return None
        folder = self.directory(set_name)
        if os.path.isfile(os.path.join(folder, OWNER_FILE)):
            return set_name
        return None

    def get(self, name, set_name=None):
        """The bytes of a tile (name already validated), or None."""
        set_name = set_name or self.set_name()
        # uid and set name are unique and a set's files never change: the
        # key needs no tile root, which is read (zope.conf) on a miss only
        key = (self.uid, set_name, name)
        data = TILE_CACHE.get(key)
        if data is None:
            data = TILE_CACHE.load(key, self._path(name, set_name))
        return data

    def size(self, name):
        path = self.file_path(name)
        return None if path is None else os.path.getsize(path)

    def names(self):
        folder = self.directory()
        out = []
        for here, dirs, files in os.walk(folder):
            for f in files:
                if here == folder and f.startswith("."):
                    continue
                full = os.path.join(here, f)
                out.append(os.path.relpath(full, folder).replace(os.sep, "/"))
        return sorted(out)

    def writer(self):
        return FilesystemTileWriter(self)

    def copy_from(self, other):
        from . import copy_tiles
        copy_tiles(other, self.writer())

    def clear(self):
        """The image lets go of this store (deleted, or its tiles moved to
        another store): its sets wait for the sweep, for an Undo."""
        self.released = _now()
        claim(self.directory(), self)

    def release(self):
        """The image is deleted: its sets wait for the sweep (an Undo of
        the deletion finds them until trash-days)."""
        self.clear()

    def for_copy(self, uid):
        """A copy's own store (its own directory), or None when the set
        stayed behind (another site's tile root)."""
        if self.file_path("ImageProperties.xml") is None:
            return None
        new = FilesystemTileStore(uid)
        new.copy_from(self)
        return new


def _now():
    return time.time()


@implementer(ITileWriter)
class FilesystemTileWriter(TileSink):
    """Writes a new set under .partial; finish() points the store at it
    and has it moved to its place when the transaction votes."""

    def __init__(self, store):
        self.store = store
        self.root = store.root()
        partial = os.path.join(self.root, PARTIAL)
        try:
            os.makedirs(partial, exist_ok=True)
            self.temp, self.lock = _locked_directory(partial, store.uid)
        except OSError as e:
            raise TilingError(self.root, "cannot write tiles under the tile "
                              "root (%s)" % (e.strerror or e))
        self.made = set()
        self.set_id = uuid.uuid4().hex[:16]
        # a background job tries its last transaction again after a
        # conflict: an aborted transaction then keeps the set for it
        self.keep_on_abort = False

    @property
    def unfinished(self):
        return self.temp

    def _target(self, name):
        return tile_path(self.temp, name, self.made)

    def file_for(self, name):
        try:
            return self._target(name)
        except OSError as e:
            raise TilingError(self.root, "cannot write %s (%s)"
                              % (name, e.strerror or e))

    def put(self, name, data):
        try:
            with open(self._target(name), "wb") as f:
                f.write(data)
        except OSError as e:
            raise TilingError(self.root, "cannot write %s (%s)"
                              % (name, e.strerror or e))

    def put_file(self, name, path):
        try:
            shutil.copyfile(path, self._target(name))
        except OSError as e:
            raise TilingError(self.root, "cannot write %s (%s)"
                              % (name, e.strerror or e))

    def finish(self):
        # a set from before owners were written (migrated) gets one now,
        # so that the sweep can tell when nothing points at it
        claim(self.store.directory(), self.store)
        if self.store.set_id:
            self.store.previous = (self.store.set_id, _now())
        # the pointer moves in the same transaction as the new facts: an
        # Undo of it brings back the old id, and with it the old set
        self.store.set_id = self.set_id
        self.store.released = 0.0
        transaction.get().join(SetPlacement(
            self, os.path.join(self.store.image_directory(), self.set_id)))

    def abort(self):
        # harmless after a commit: the set has left self.temp by then
        shutil.rmtree(self.temp, ignore_errors=True)
        self.release()

    def release(self):
        """This writer is done: its directory no longer says it lives."""
        if self.lock is not None:
            self.lock.close()
            self.lock = None


def _locked_directory(partial, uid):
    """A new directory under .partial with its writer's lock held: made
    under a hidden name and locked before it gets its name (UID-...), so
    that a named directory without a lock is never a live writer's."""
    # with the umask's modes: a front-end reads the set as another user
    hidden = new_directory(partial, ".new-%s-" % uid)
    try:
        lock = open(os.path.join(hidden, WRITER_LOCK), "a+b")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            named = os.path.join(partial, os.path.basename(hidden)[5:])
            os.rename(hidden, named)
        except BaseException:
            lock.close()
            raise
    except BaseException:
        shutil.rmtree(hidden, ignore_errors=True)
        raise
    return named, lock


# an unfinished set without a lock (written before locks) is removed
# after this long
UNFINISHED_SECONDS = 600.0


def remove_unfinished(uid=None, keep=()):
    """Remove the unfinished sets under the tile root whose writers are
    dead (a job's, a request's, zoomify-import's): of the image ``uid``
    whatever their age (a job taken over from a dead worker), else all
    but those in ``keep`` (the scan)."""
    root = config.settings().tile_root
    if uid is None:
        clean_partial(root, keep=keep)
    else:
        clean_partial(root, max_age=-1, keep=keep, prefix=uid + "-")


def clean_partial(root_dir, max_age=None, keep=(), prefix=""):
    """Remove the temporary tile directories whose writers are dead: each
    writer holds a lock in its directory for its whole life, in whatever
    process (a job, a request, zoomify-import over ZEO), and the kernel
    lets go of it when that process dies; a held lock is never removed,
    however old. A directory without a lock (written before locks) goes
    when it is older than ``max_age`` seconds (-1: whatever its age).
    None in ``keep``; ``prefix``: only those whose names begin with it
    (an image's uid and a dash)."""
    if max_age is None:
        max_age = UNFINISHED_SECONDS
    partial = os.path.join(root_dir, PARTIAL)
    try:
        names = os.listdir(partial)
    except OSError:
        return
    now = time.time()
    for name in names:
        path = os.path.join(partial, name)
        if path in keep or not name.startswith(prefix):
            continue
        state = writer_state(path)
        if state == "alive":
            continue
        try:
            if (state == "dead" or max_age < 0 or
                    now - os.path.getmtime(path) > max_age):
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def writer_state(folder):
    """"alive" while the writer of a directory under .partial holds its
    lock, "dead" once it let go (finished, or its process died), None if
    the directory has no lock (written by a version before locks, or a
    hidden one still being made)."""
    try:
        lock = open(os.path.join(folder, WRITER_LOCK), "r+b")
    except OSError:  # none (or gone meanwhile), not a directory, not ours
        return None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return "alive"
    return "dead"


# the phases of a placement, in the order of the two-phase commit
JOINED, BEGUN, VOTED, FINISHED, ENDED = (
    "joined", "begun", "voted", "finished", "ended")


@implementer(IDataManager)
class SetPlacement:
    """Puts a new set in its place exactly when the transaction commits,
    following transaction's resource-manager contract (IDataManager in
    transaction/interfaces.py) phase by phase:

    - tpc_vote moves the set from .partial to its own directory, so that a
      failure there (a full disc, a file in the way) votes no;
    - abort, outside the two-phase commit (before tpc_begin, a rollback to
      a savepoint made before we joined, or another participant failed
      before our vote), removes the set from .partial;
    - tpc_abort, after tpc_begin, removes it from wherever it is, unless
      the database has committed pointing at it (a participant failed in
      the second phase after the ZODB had finished);
    - after tpc_finish nothing undoes it: transaction 5.1 calls abort() on
      every participant once the after-commit hooks have run (issue 23,
      H2: that removed every set placed beside an after-commit hook).
    """

    def __init__(self, writer, target):
        self.writer = writer
        self.store = writer.store
        self.temp = writer.temp
        self.set_id = writer.set_id
        self.target = target
        self.placed = False
        self.phase = JOINED
        self.transaction_manager = transaction.manager

    def sortKey(self):
        # after the ZODB's own data managers: by our vote the store has
        # its oid
        return "~zoomifyimage:%s" % self.target

    def abort(self, txn):
        if self.phase in (JOINED, BEGUN):
            self._discard()
        elif self.phase == VOTED:  # not seen from transaction 5.1
            self.tpc_abort(txn)

    def tpc_begin(self, txn):
        self.phase = BEGUN

    def commit(self, txn):
        pass

    def tpc_vote(self, txn):
        owner = owner_text(self.store)
        if owner is None:
            raise ValueError("the tile store of %s is not in the database"
                             % self.target)
        with open(os.path.join(self.temp, OWNER_FILE), "w") as f:
            f.write(owner)
        os.makedirs(os.path.dirname(self.target), exist_ok=True)
        os.rename(self.temp, self.target)
        self.placed = True
        self.phase = VOTED

    def tpc_finish(self, txn):
        # the set is in place since the vote, and nothing may be undone
        # from now on; the writer's lock is no part of the set
        self.phase = FINISHED
        try:
            os.remove(os.path.join(self.target, WRITER_LOCK))
        except OSError:
            pass
        self.writer.release()

    def tpc_abort(self, txn):
        if self.phase in (FINISHED, ENDED):
            return
        if self.placed and self._database_points_here():
            logger.warning("kept the tile set %s: the database committed "
                           "it before the transaction failed", self.target)
            self.phase = ENDED
            return
        self._discard()

    def savepoint(self):
        # a rollback to a savepoint made after finish() keeps the set;
        # one made before it aborts us (AbortSavepoint) and removes it
        return NoRollback()

    def _database_points_here(self):
        """Whether the store's last committed state points at our set
        (read in a connection of its own). In doubt, yes: a set nothing
        points at is the sweep's, a lost set is the user's."""
        jar = self.store._p_jar
        if jar is None or self.store._p_oid is None:
            return False
        manager = transaction.TransactionManager()
        try:
            connection = jar.db().open(transaction_manager=manager)
        except Exception:
            logger.exception("cannot tell whether %s was committed",
                             self.target)
            return True
        try:
            committed = connection.get(self.store._p_oid)
            return committed.set_id == self.set_id
        except (KeyError, AttributeError):  # POSKeyError: a new store
            return False
        except Exception:
            logger.exception("cannot tell whether %s was committed",
                             self.target)
            return True
        finally:
            manager.abort()
            connection.close()

    def _discard(self):
        if self.writer.keep_on_abort:
            # back to .partial, for the next attempt (or writer.abort())
            if self.placed:
                os.rename(self.target, self.temp)
                os.remove(os.path.join(self.temp, OWNER_FILE))
        else:
            shutil.rmtree(self.target if self.placed else self.temp,
                          ignore_errors=True)
            self.writer.release()
        self.placed = False
        self.phase = ENDED


class NoRollback:
    def rollback(self):
        pass


def owner_text(store):
    """"OID-HEX DATABASE-NAME DATABASE-ID" of a store in the database
    (identity.py: names repeat between sites, ids do not; a database
    without an id yet writes the first two), else None."""
    jar = store._p_jar
    if store._p_oid is None or jar is None:
        return None
    owner = "%s %s" % (store._p_oid.hex(), jar.db().database_name)
    ident = identity.of(jar)
    return owner if ident is None else "%s %s" % (owner, ident)


def owner_of(set_dir):
    """(oid, database name, database id or None) of the store that wrote
    a set, or None. Records of older releases name no id."""
    try:
        with open(os.path.join(set_dir, OWNER_FILE)) as f:
            oid, name, ident = (f.read().split() + [None] * 3)[:3]
        return bytes.fromhex(oid), name or "", ident
    except (OSError, ValueError, TypeError):
        return None


def claim(set_dir, store):
    """Write the owner of a set that has none (sets from the first
    layout); harmless if the set is not there or the store is new."""
    owner = owner_text(store)
    if owner is None or not os.path.isdir(set_dir):
        return
    path = os.path.join(set_dir, OWNER_FILE)
    if not os.path.exists(path):
        try:
            with open(path, "w") as f:
                f.write(owner)
        except OSError:
            logger.warning("cannot write %s", path)
