"""The directories all Zope clients of one database share: the tile root
and the upload directory. Each client must see the same directory (a
mount of one network filesystem, at the same path): a client that tiles
into a directory of its own serves tiles the others do not have, and one
that takes an upload's chunks into its own loses the others'.

The first client to start writes a marker file into each, naming the
database (identity.py) and a random id of the directory, and records the
id in the database. Every client checks at start-up, and refuses to
start (a message naming the setting, the path and what is wrong) when
the marker names another database, or is missing or another directory's
while the database has one recorded."""

import logging
import os
import uuid

import transaction
from persistent.mapping import PersistentMapping
from ZODB.POSException import ConflictError
from ZODB.POSException import ReadOnlyError

from . import config
from . import identity

logger = logging.getLogger(__name__)

MARKER = ".zoomifyimage-site"
ROOT_KEY = "zoomifyimage.shared-directories"
SETTINGS = ("tile-root", "upload-dir")


class NotShared(config.ConfigError):
    """A client's view of a shared directory differs from the others'."""


def directories():
    """(setting name, path) of the shared directories, as configured."""
    site = config.settings()
    return [("tile-root", site.tile_root), ("upload-dir", site.upload_dir)]


def read_marker(path):
    """(database id, directory id) of the marker in ``path``, or None."""
    try:
        with open(os.path.join(path, MARKER)) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return None
    fields = dict(line.split(" ", 1) for line in lines if " " in line)
    return fields.get("database", ""), fields.get("directory", "")


def write_marker(path, database, directory):
    """Write the marker unless one is there (two first clients at once:
    one writes it, both read the same); the marker in place."""
    os.makedirs(path, exist_ok=True)
    target = os.path.join(path, MARKER)
    temporary = "%s.%s" % (target, uuid.uuid4().hex)
    with open(temporary, "w") as f:
        f.write("ZoomifyImage: a directory the Zope clients of one database "
                "share (written by the first; do not copy it into another "
                "site's directory)\ndatabase %s\ndirectory %s\n"
                % (database, directory))
    os.chmod(temporary, 0o644)
    try:
        os.link(temporary, target)  # fails if there is one: never replaced
    except FileExistsError:
        pass
    finally:
        os.remove(temporary)
    return read_marker(path)


def check(db, names=None):
    """Check (and for the first client, mark) each shared directory;
    raise NotShared naming what is wrong."""
    ours = identity.make(db)
    if ours is None:
        return  # a read-only database without an id: nothing to compare
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    try:
        for name, path in directories():
            if names is None or name in names:
                _check_one(connection, manager, ours, name, path)
    finally:
        manager.abort()
        connection.close()


def _check_one(connection, manager, ours, name, path):
    marker = read_marker(path)
    for _ in range(3):
        if marker is not None and marker[0] != ours:
            raise NotShared(
                "%s %s belongs to the site of another database (its %s "
                "names database %s; this site's is %s): give each site a "
                "directory of its own" % (name, path, MARKER,
                                          marker[0] or "?", ours))
        manager.begin()
        root = connection.root()
        recorded = root.get(ROOT_KEY, {}).get(name)
        if recorded is None:
            # the first client: this directory is the one
            if marker is None:
                try:
                    marker = write_marker(path, ours, uuid.uuid4().hex)
                except OSError as e:
                    raise NotShared("%s %s: cannot write %s (%s)" % (
                        name, path, MARKER, e.strerror or e)) from None
                if marker is None or marker[0] != ours:
                    continue  # another site's, written meanwhile
            directory = marker[1]
            if ROOT_KEY not in root:
                root[ROOT_KEY] = PersistentMapping()
            root[ROOT_KEY][name] = directory
            manager.get().note("Zoomify Image: the shared %s" % name)
            try:
                manager.commit()
            except ConflictError:  # another client was first: compare
                manager.abort()
                marker = read_marker(path)
                continue
            except ReadOnlyError:
                return
            logger.info("%s %s: marked as this database's (%s)", name, path,
                        MARKER)
            return
        if marker is None:
            raise NotShared(
                "%s %s is not the directory the other Zope clients of this "
                "database use: it has no %s, which the first client wrote "
                "there. Mount the shared directory at %s; a directory moved "
                "on purpose: move its %s with it (docs/cluster.txt)"
                % (name, path, MARKER, path, MARKER))
        if marker[1] != recorded:
            raise NotShared(
                "%s %s is not the directory the other Zope clients of this "
                "database use: its %s is another directory's (%s, not %s). "
                "Mount the shared directory at %s (docs/cluster.txt)"
                % (name, path, MARKER, marker[1], recorded, path))
        return
    raise NotShared("%s %s: could not record it in the database (conflicts)"
                    % (name, path))


def database_opened(event):
    """At start-up, after the settings: a client whose shared directories
    differ from the other clients' stops here."""
    check(event.database)
