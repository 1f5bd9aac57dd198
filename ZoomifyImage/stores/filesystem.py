"""Tiles on the filesystem, laid out exactly as Zoomify expects:

    TILE-ROOT/ab/abcdef.../ImageProperties.xml
    TILE-ROOT/ab/abcdef.../TileGroup0/0-0-0.jpg

The directory is named by the image's stable id (not its Zope path, which
changes on rename), so a front-end web server can serve TILE-ROOT as is.

Changes follow the ZODB transaction: a new set is written into a
temporary directory and renamed into place when the transaction commits;
an aborted transaction (or a ConflictError retry) removes it. A removed
image's directory, or one replaced by a retile, is moved to
TILE-ROOT/.trash at commit. Each set carries its id in a small file,
``.set``, and the store in the ZODB knows the id of its own set: when an
Undo has brought back an older store, the first request swaps its set
back in from the trash.
"""

import logging
import os
import shutil
import tempfile
import time
import uuid

import transaction
from persistent import Persistent
from transaction.interfaces import IDataManager
from zope.interface import implementer

from .. import config
from ..pyramid.errors import TilingError
from ..pyramid.sinks import TileSink, tile_path

logger = logging.getLogger("ZoomifyImage")

PARTIAL = ".partial"
TRASH = ".trash"
SET_FILE = ".set"


class FilesystemTileStore(Persistent):
    kind = "filesystem"
    set_id = None    # stores made before sets had ids: never swapped

    def __init__(self, uid):
        self.uid = uid
        self.set_id = uuid.uuid4().hex

    # where things are; the root comes from zope.conf each time, so that
    # a site can move its tile root
    def root(self):
        return config.tile_root()

    def directory(self):
        return os.path.join(self.root(), self.uid[:2], self.uid)

    def current_directory(self):
        """The directory, holding this store's own set: after an Undo it
        may hold another set of the image, or none, and this store's set
        is then brought back from the trash."""
        folder = self.directory()
        found = set_of(folder)
        if self.set_id is None:   # an older store: any set will do
            if found is None:
                restore_from_trash(self.root(), self.uid, folder)
        elif found != self.set_id:
            restore_from_trash(self.root(), self.uid, folder, self.set_id)
        return folder

    def file_path(self, name):
        """The file of a tile (name already validated), or None."""
        # should our set be gone from the trash too (trash-days), the set
        # in place is served: better than none
        folder = self.current_directory()
        path = os.path.join(folder, *name.split("/"))
        return path if os.path.isfile(path) else None

    def get(self, name):
        path = self.file_path(name)
        if path is None:
            return None
        with open(path, "rb") as f:
            return f.read()

    def size(self, name):
        path = self.file_path(name)
        return None if path is None else os.path.getsize(path)

    def names(self):
        folder = self.current_directory()
        out = []
        for here, dirs, files in os.walk(folder):
            for f in files:
                if here == folder and f == SET_FILE:
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
        """Move this store's set to the trash when the transaction
        commits."""
        transaction.get().join(DirectoryChange(
            self.root(), None, self.directory(), self.uid, self.set_id))


class FilesystemTileWriter(TileSink):

    def __init__(self, store):
        self.store = store
        self.root = store.root()
        self.target = store.directory()
        partial = os.path.join(self.root, PARTIAL)
        try:
            os.makedirs(partial, exist_ok=True)
            self.temp = tempfile.mkdtemp(prefix=store.uid + "-", dir=partial)
        except OSError as e:
            raise TilingError(self.root, "cannot write tiles under the tile "
                              "root (%s)" % (e.strerror or e))
        self.made = set()
        self.set_id = uuid.uuid4().hex

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
        shutil.copyfile(path, self._target(name))

    def finish(self):
        with open(os.path.join(self.temp, SET_FILE), "w") as f:
            f.write(self.set_id)
        # in the same transaction as the new facts: an Undo of it brings
        # back the old id, and with it the old set
        self.store.set_id = self.set_id
        transaction.get().join(DirectoryChange(self.root, self.temp,
                                               self.target, self.store.uid))

    def abort(self):
        shutil.rmtree(self.temp, ignore_errors=True)


@implementer(IDataManager)
class DirectoryChange:
    """Puts a new directory in place, the one it replaces going to the
    trash, when the transaction commits; removes the new one if it aborts.
    Without a new directory it moves the set ``set_id`` to the trash, if
    that is the one in place (a retile's new set may already be)."""

    def __init__(self, root, new, target, uid, set_id=None):
        self.root = root
        self.new = new
        self.target = target
        self.uid = uid
        self.set_id = set_id
        self.transaction_manager = transaction.manager

    def sortKey(self):
        # after the ZODB's own data managers: the database has the change
        # before the files move
        return "~zoomifyimage:%s:%s" % (self.target, self.new)

    def abort(self, txn):
        self._discard()

    def tpc_begin(self, txn):
        pass

    def commit(self, txn):
        pass

    def tpc_vote(self, txn):
        if self.new is not None and not os.path.isdir(self.new):
            raise OSError("the new tile directory %s has gone" % self.new)

    def tpc_finish(self, txn):
        try:
            found = set_of(self.target)
            replaced = self.new is not None
            ours = self.set_id is None or found in ("", self.set_id)
            if found is not None and (replaced or ours):
                # kept in the trash for an Undo, until trash-days
                to_trash(self.root, self.uid, self.target)
            if self.new is not None:
                os.makedirs(os.path.dirname(self.target), exist_ok=True)
                os.rename(self.new, self.target)
        except OSError:
            logger.exception("could not move tiles into %s", self.target)

    def tpc_abort(self, txn):
        self._discard()

    def savepoint(self):
        return NoRollback()

    def _discard(self):
        if self.new is not None:
            shutil.rmtree(self.new, ignore_errors=True)


class NoRollback:
    def rollback(self):
        pass


def set_of(folder):
    """The id of the set in ``folder``; "" for a set from before sets had
    ids; None when there is no directory."""
    try:
        with open(os.path.join(folder, SET_FILE)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return "" if os.path.isdir(folder) else None
    except OSError:
        return ""


def to_trash(root, uid, folder):
    trash = os.path.join(root, TRASH)
    os.makedirs(trash, exist_ok=True)
    os.rename(folder, os.path.join(trash, "%s-%.6f" % (uid, time.time())))


def restore_from_trash(root, uid, target, set_id=None):
    """Bring back a trashed set of ``uid`` (after an Undo): the one with
    ``set_id``, or the newest when that is None. Whatever set is in the
    way goes to the trash."""
    trash = os.path.join(root, TRASH)
    try:
        candidates = sorted(n for n in os.listdir(trash)
                            if n.rsplit("-", 1)[0] == uid)
    except OSError:
        return False
    if set_id is not None:
        candidates = [n for n in candidates
                      if set_of(os.path.join(trash, n)) == set_id]
    if not candidates:
        return False
    try:
        if os.path.exists(target):
            to_trash(root, uid, target)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(os.path.join(trash, candidates[-1]), target)
    except OSError:
        # another thread may have swapped it in first
        found = set_of(target)
        return found is not None and set_id in (None, found)
    logger.info("restored the tiles of %s from the trash", uid)
    return True


def empty_trash(root, max_age_days):
    """Remove trashed tile sets older than ``max_age_days`` (their images
    were deleted that long ago: an undo is no longer expected)."""
    trash = os.path.join(root, TRASH)
    try:
        names = os.listdir(trash)
    except OSError:
        return []
    limit = time.time() - max_age_days * 86400
    removed = []
    for name in names:
        try:
            when = float(name.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            continue
        if when < limit:
            shutil.rmtree(os.path.join(trash, name), ignore_errors=True)
            removed.append(name)
    return removed
