"""Tiles in the ZODB: an OOBTree from tile name to one small persistent
record per tile, so serving a tile loads that tile's record only."""

import uuid

import transaction
from BTrees.OOBTree import OOBTree
from persistent import Persistent
from zope.interface import implementer

from ..interfaces import ITileStore
from ..interfaces import ITileWriter
from ..pyramid.sinks import TileSink

SAVEPOINT_EVERY = 300  # tiles between savepoints while writing


class TileRecord(Persistent):
    """The bytes of one tile."""

    def __init__(self, data):
        self.data = data


@implementer(ITileStore)
class ZODBTileStore(Persistent):
    kind = "zodb"
    set_id = None  # the id of the tree in ``tiles`` (ETag, the viewer's ?v=)

    def __init__(self):
        self.tiles = OOBTree()
        self._building = None

    def writer(self):
        return ZODBTileWriter(self)

    def get(self, name):
        record = self.tiles.get(name)
        return None if record is None else record.data

    def size(self, name):
        data = self.get(name)
        return None if data is None else len(data)

    def names(self):
        return list(self.tiles.keys())

    def copy_from(self, other):
        from . import copy_tiles
        copy_tiles(other, self.writer())

    def clear(self):
        self.tiles = OOBTree()
        self.set_id = None

    def release(self):
        pass  # the records go (and an Undo comes back) with the image's

    def for_copy(self, uid):
        return self  # it came along with the copy (export and import)

    def older_set(self, set_name):
        return None  # one tree: the set before is not kept

    def file_path(self, name, set_name=None):
        return None

    def front_end_path(self, set_name=None):
        return None


@implementer(ITileWriter)
class ZODBTileWriter(TileSink):
    """Builds a new tree beside the current one and swaps it in at the end.

    The new tree hangs off the store while it grows, so that savepoints
    write its records out and the connection's cache can drop them again:
    memory stays bounded whatever the number of tiles.
    """

    unfinished = None     # its records hang off the store (_building)
    keep_on_abort = False  # an aborted transaction forgets them anyway

    def __init__(self, store):
        self.store = store
        self.tree = OOBTree()
        store._building = self.tree
        self.count = 0
        self.recent = []

    def put(self, name, data):
        record = TileRecord(bytes(data))
        self.tree[name] = record
        self.recent.append(record)
        self.count += 1
        if self.count % SAVEPOINT_EVERY == 0:
            transaction.savepoint(optimistic=True)
            # the records are written out now: let their bytes go (the
            # cache would keep thousands of them, counted as objects)
            for record in self.recent:
                record._p_deactivate()
            self.recent = []
            jar = self.store._p_jar
            if jar is not None:
                jar.cacheGC()

    def finish(self):
        # one pointer swaps the whole set in (and an Undo back out)
        self.store.tiles = self.tree
        self.store.set_id = uuid.uuid4().hex[:16]
        self.store._building = None

    def put_file(self, name, path):
        with open(path, "rb") as f:
            self.put(name, f.read())

    def abort(self):
        if self.store._building is self.tree:  # not a newer writer's
            self.store._building = None
