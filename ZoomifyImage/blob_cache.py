"""The bound of this Zope client's blob cache, and the warning for a job
whose original does not fit in it.

With ZEO or RelStorage (blobs in the database) a worker copies the whole
original it tiles into the client's blob cache, which blob-cache-size
bounds: an original bigger than that is fetched anyway, and the cache's
cleanup then removes it from under the tiler, or removes every other
blob; the job is slow or fails with no word why. A cheap check when a
job starts says it in the log and on the image's Edit tab."""

import logging

logger = logging.getLogger("ZoomifyImage")


def cache_size(db):
    """blob-cache-size of the database ``db`` in this Zope's zope.conf
    (its <clientstorage> or <relstorage> section), or None: not set, no
    blob cache (FileStorage), or not run by Zope's configuration."""
    try:
        from App.config import getConfiguration
        databases = getConfiguration().databases or ()
    except (ImportError, AttributeError):
        return None
    for factory in databases:
        section = getattr(factory, "config", None)
        # <zodb_db main>: the section's name, unless database-name says
        name = getattr(section, "database_name", None) or getattr(
            factory, "name", None)
        if name != db.database_name:
            continue
        storage = getattr(getattr(section, "storage", None), "config", None)
        size = getattr(storage, "blob_cache_size", None)
        return int(size) if size else None
    return None


def warning(db, original_size):
    """The warning for a job on an original of ``original_size`` bytes,
    or '' when it fits in the blob cache (or there is no bound)."""
    bound = cache_size(db)
    if not bound or not original_size or original_size <= bound:
        return ""
    return ("the original (%s) is bigger than this Zope client's blob "
            "cache (blob-cache-size %s): it is tiled all the same, but the "
            "cache cannot keep it; set blob-cache-size to at least twice "
            "the biggest original (docs/cluster.txt)"
            % (_size(original_size), _size(bound)))


def _size(n):
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return ("%d %s" % (n, unit) if unit == "bytes"
                    else "%.1f %s" % (n, unit))
        n /= 1024.0
