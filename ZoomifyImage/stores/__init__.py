"""Tile stores: ZODB (an OOBTree of tile records), the filesystem, or an
S3 bucket."""

import logging
import os

from .. import config

logger = logging.getLogger("ZoomifyImage")


def make_store(kind, uid):
    if kind == "zodb":
        from .zodb import ZODBTileStore
        return ZODBTileStore()
    if kind == "filesystem":
        from .filesystem import FilesystemTileStore
        return FilesystemTileStore(uid)
    if kind == "s3":
        from .s3 import S3TileStore
        return S3TileStore(uid)
    raise ValueError("unknown tile storage %r (zodb, filesystem or s3)"
                     % kind)


def remove_unfinished(uid=None, keep=(), owner=None):
    """Remove the unfinished sets whose writers died: of the image ``uid``
    whatever their age, else all but those in ``keep``. The filesystem
    store's writers hold a lock that tells; the ZODB's sets go with their
    transaction; the S3 store's records name their writer, so a job taken
    from a dead worker (``owner``) removes that worker's sets of the image
    at once (other dead writers' go by their age, in the sweep)."""
    from .filesystem import remove_unfinished
    remove_unfinished(uid, keep)
    if uid and owner and config.settings().s3_bucket:
        from . import s3
        try:
            for set_name in s3.remove_unfinished(uid, owner):
                logger.info("removed the unfinished tile set %s of a "
                            "dead worker", s3.location(uid, set_name))
        except Exception:
            logger.exception("could not remove the unfinished tile sets "
                             "of %s in the S3 bucket (the sweep will)", uid)


def relative_to_root(path):
    """A path under the tile root as the database keeps it: relative to
    the root, so that clients that mount the shared root elsewhere read
    the same; a path outside it (or None) as it is."""
    if not path:
        return path
    root = config.settings().tile_root
    relative = os.path.relpath(path, root)
    return path if relative.startswith(os.pardir) else relative


def under_root(path):
    """The path on this client of one the database keeps: relative ones
    under this client's tile root; absolute ones (older releases) as
    they are."""
    return os.path.join(config.settings().tile_root, path)


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
