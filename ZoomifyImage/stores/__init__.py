"""Tile stores: ZODB (an OOBTree of tile records) or the filesystem."""


def make_store(kind, uid):
    if kind == "zodb":
        from .zodb import ZODBTileStore
        return ZODBTileStore()
    if kind == "filesystem":
        from .filesystem import FilesystemTileStore
        return FilesystemTileStore(uid)
    raise ValueError("unknown tile storage %r (zodb or filesystem)" % kind)


def copy_tiles(source, target_writer):
    """Copy every tile of a store through another store's writer (files
    are copied as files, ZODB records as bytes); nothing is decoded."""
    file_path = getattr(source, "file_path", None)
    try:
        for name in source.names():
            path = file_path(name) if file_path else None
            if path:
                target_writer.put_file(name, path)
            else:
                target_writer.put(name, source.get(name))
    except BaseException:
        target_writer.abort()
        raise
    target_writer.finish()
