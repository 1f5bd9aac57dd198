"""Tiles on the filesystem, laid out exactly as Zoomify expects:

    TILE-ROOT/ab/abcdef.../ImageProperties.xml
    TILE-ROOT/ab/abcdef.../TileGroup0/0-0-0.jpg

The directory is named by the image's stable id (not its Zope path, which
changes on rename), so a front-end web server can serve TILE-ROOT as is.

Changes follow the ZODB transaction: a new set is written into a
temporary directory and renamed into place when the transaction commits;
an aborted transaction (or a ConflictError retry) removes it. A removed
image's directory is moved to TILE-ROOT/.trash at commit, so that undoing
the removal in the ZODB finds its tiles again.
"""

import logging
import os
import shutil
import tempfile
import time

import transaction
from persistent import Persistent
from transaction.interfaces import IDataManager
from zope.interface import implementer

from .. import config
from ..pyramid.errors import TilingError
from ..pyramid.sinks import TileSink

logger = logging.getLogger("ZoomifyImage")

PARTIAL = ".partial"
TRASH = ".trash"


class FilesystemTileStore(Persistent):
    kind = "filesystem"

    def __init__(self, uid):
        self.uid = uid

    # where things are; the root comes from zope.conf each time, so that
    # a site can move its tile root
    def root(self):
        return config.tile_root()

    def directory(self):
        return os.path.join(self.root(), self.uid[:2], self.uid)

    def file_path(self, name):
        """The file of a tile (name already validated), or None."""
        folder = self.directory()
        if not os.path.isdir(folder):
            restore_from_trash(self.root(), self.uid, folder)
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
        folder = self.directory()
        out = []
        for here, dirs, files in os.walk(folder):
            for f in files:
                full = os.path.join(here, f)
                out.append(os.path.relpath(full, folder).replace(os.sep, "/"))
        return sorted(out)

    def writer(self):
        return FilesystemTileWriter(self)

    def copy_from(self, other):
        from . import copy_tiles
        copy_tiles(other, self.writer())

    def clear(self):
        """Move the directory to the trash when the transaction commits."""
        transaction.get().join(DirectoryChange(self.root(), None,
                                               self.directory(), self.uid))


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

    def _target(self, name):
        path = os.path.join(self.temp, *name.split("/"))
        folder = os.path.dirname(path)
        if folder not in self.made:
            os.makedirs(folder, exist_ok=True)
            self.made.add(folder)
        return path

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
        transaction.get().join(DirectoryChange(self.root, self.temp,
                                               self.target, self.store.uid))

    def abort(self):
        shutil.rmtree(self.temp, ignore_errors=True)


@implementer(IDataManager)
class DirectoryChange:
    """Puts a new directory in place (or moves the old one to the trash)
    when the transaction commits; removes the new one if it aborts."""

    def __init__(self, root, new, target, uid):
        self.root = root
        self.new = new
        self.target = target
        self.uid = uid
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
            if os.path.exists(self.target):
                trash = os.path.join(self.root, TRASH)
                os.makedirs(trash, exist_ok=True)
                old = os.path.join(trash, "%s-%.6f" % (self.uid, time.time()))
                os.rename(self.target, old)
                if self.new is not None:
                    # a replaced set is not needed for undo: the undone
                    # transaction's tiles are the ones kept in the ZODB
                    shutil.rmtree(old, ignore_errors=True)
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


def restore_from_trash(root, uid, target):
    """Bring back the newest trashed set of ``uid`` (after an undo)."""
    trash = os.path.join(root, TRASH)
    try:
        candidates = sorted(n for n in os.listdir(trash)
                            if n.rsplit("-", 1)[0] == uid)
    except OSError:
        return False
    if not candidates:
        return False
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(os.path.join(trash, candidates[-1]), target)
    except OSError:
        return os.path.isdir(target)
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
