"""Tile stores: ZODB (an OOBTree of tile records) or the filesystem."""


def make_store(kind, uid):
    if kind == "zodb":
        from .zodb import ZODBTileStore
        return ZODBTileStore()
    if kind == "filesystem":
        from .filesystem import FilesystemTileStore
        return FilesystemTileStore(uid)
    raise ValueError("unknown tile storage %r (zodb or filesystem)" % kind)


def remove_unfinished(uid=None, keep=()):
    """Remove the unfinished sets whose writers died: of the image ``uid``
    whatever their age, else all but those in ``keep``. Only the
    filesystem store leaves any behind (the ZODB's go with their
    transaction)."""
    from .filesystem import remove_unfinished
    remove_unfinished(uid, keep)


def copy_tiles(source, target_writer):
    """Copy every tile of a store through another store's writer (files
    are copied as files, ZODB records as bytes); nothing is decoded."""
    try:
        for name in source.names():
            path = source.file_path(name)
            if path:
                target_writer.put_file(name, path)
            else:
                target_writer.put(name, source.get(name))
    except BaseException:
        target_writer.abort()
        raise
    target_writer.finish()
