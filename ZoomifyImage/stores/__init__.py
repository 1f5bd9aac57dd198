"""Tile stores: ZODB (an OOBTree of tile records) or the filesystem."""


def make_store(kind, uid):
    if kind == "zodb":
        from .zodb import ZODBTileStore
        return ZODBTileStore()
    if kind == "filesystem":
        from .filesystem import FilesystemTileStore
        return FilesystemTileStore(uid)
    raise ValueError("unknown tile storage %r (zodb or filesystem)" % kind)
