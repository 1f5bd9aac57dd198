"""The sweep: removes the filesystem and S3 tile sets that nothing
points at.

A set (TILE-ROOT/ab/UID/SETID, see stores/filesystem.py) names the store
that wrote it in ``.owner``. The sweep reads that store's last committed
state: while it points at the set and the image has not let go of it, the
set is kept. Otherwise (a retile or a new file replaced it, the image was
deleted, or the transaction that made it never committed) the sweep
writes the time into ``.unreferenced`` and removes the set once that is
``trash-days`` old; an Undo within that window points at the set again,
and the mark goes. Nothing else ever removes a complete set.

The S3 store's sets are judged alike, by their records (stores/s3.py:
the owner, and the mark, are in PREFIX/.sets/UID/SETID), and its
unfinished sets (no lock can tell a live writer on another machine) when
their writer has not been heard of for s3.UNFINISHED_SECONDS.

It runs when the database opens and then every ``sweep-minutes``. The
first start of this version also moves the sets of the first layout
(TILE-ROOT/ab/UID/ImageProperties.xml, and TILE-ROOT/.trash) into set
directories, once.
"""

import logging
import os
import re
import shutil
import time

import transaction
from ZODB.POSException import POSKeyError

from . import config
from . import identity
from . import lease
from .cache import BoundedCache
from .maintenance import scheduler
from .stores.filesystem import LEGACY_SET
from .stores.filesystem import OWNER_FILE
from .stores.filesystem import FilesystemTileStore
from .stores.filesystem import owner_of

logger = logging.getLogger("ZoomifyImage")

MARK_FILE = ".unreferenced"
OLD_TRASH = ".trash"
OLD_SET_FILE = ".set"
# a set younger than this is never removed: its transaction may still be
# committing (it is placed when the transaction votes)
GRACE_SECONDS = 600
FOREIGN = "foreign"


def set_directories(root):
    """(uid, set name, path) of every set under the tile root."""
    try:
        prefixes = sorted(os.listdir(root))
    except OSError:
        return
    for prefix in prefixes:
        if prefix.startswith(".") or len(prefix) != 2:
            continue
        base = os.path.join(root, prefix)
        try:
            uids = sorted(os.listdir(base))
        except OSError:
            continue
        for uid in uids:
            image_dir = os.path.join(base, uid)
            if uid.startswith(".") or not os.path.isdir(image_dir):
                continue
            for name in sorted(os.listdir(image_dir)):
                path = os.path.join(image_dir, name)
                if not name.startswith(".") and os.path.isdir(path):
                    yield uid, name, path


def is_referenced(connection, uid, name, path):
    """True if the set's store points at it; False if not; None if the
    set names no owner (a set of the first layout, never let go of);
    FOREIGN if its owner is a database of the same name but another id
    (another site sharing the tile root). An owner record without an id
    (older releases) is judged by the database's name alone."""
    owner = owner_of(path)
    if owner is None:
        return None
    return judge(connection, owner, uid, name, FilesystemTileStore)


def judge(connection, owner, uid, name, kind):
    """True if the store named by ``owner`` (oid, database name, database
    id or None), a ``kind`` of store, points at the set ``name`` of the
    image ``uid``; False, None or FOREIGN as is_referenced says."""
    oid, database, ident = owner
    try:
        if database and database != connection.db().database_name:
            # a database mounted into the site
            connection = connection.get_connection(database)
    except KeyError:
        return None  # a database this process does not know: keep it
    if ident is not None and ident != identity.of(connection):
        return FOREIGN  # another site's, of the same name: not ours
    try:
        store = connection.get(oid)
        if not isinstance(store, kind):
            return False
        return (store.uid == uid and store.set_name() == name
                and not store.released)
    except (POSKeyError, KeyError):
        return False  # packed away with its image


def _mark_time(path):
    try:
        with open(os.path.join(path, MARK_FILE)) as f:
            return float(f.read().strip())
    except (OSError, ValueError):
        return None


def sweep(db, root=None, trash_days=None, grace=GRACE_SECONDS, now=None):
    """One sweep of the tile root; the paths of the sets removed."""
    root = root or config.settings().tile_root
    if trash_days is None:
        trash_days = config.settings().trash_days
    now = time.time() if now is None else now
    removed = []
    identity.make(db)
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    try:
        manager.begin()  # the last committed state
        for uid, name, path in set_directories(root):
            referenced = is_referenced(connection, uid, name, path)
            if referenced is FOREIGN:
                continue  # its own site's sweep judges it
            marked = _mark_time(path)
            if referenced:
                if marked is not None:  # an Undo pointed at it again
                    os.remove(os.path.join(path, MARK_FILE))
                continue
            if referenced is None and marked is None:
                continue  # an old set in use: never guess
            placed = _placed_at(path)
            if marked is None:
                marked = now
                _write_mark(path, now)
            if now - marked < trash_days * 86400 or now - placed < grace:
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
            _remove_empty(os.path.dirname(path))
        if config.settings().s3_bucket:
            try:
                removed += sweep_s3(connection, trash_days, grace, now)
            except Exception:  # the filesystem's sweep stands
                logger.exception("could not sweep the S3 bucket")
        manager.abort()
    finally:
        connection.close()
    for path in removed:
        logger.info("removed the tile set %s (unused for %s days)",
                    path, trash_days)
    return removed


def sweep_s3(connection, trash_days, grace, now):
    """One sweep of the S3 store's sets, by their records; the places
    (s3://...) of the sets removed."""
    from .stores import s3
    removed = []
    versions = {}
    for uid, name in list(s3.records(versions)):
        text = _record_text(s3, uid, name, versions.get((uid, name)))
        if text is None:
            continue
        since = s3.writing_since(text)
        if since is not None:
            # an unfinished set: its writer puts the record again while
            # it lives (and removes the set when it fails)
            if now - since > s3.UNFINISHED_SECONDS:
                s3.remove_set(uid, name)
                removed.append(s3.location(uid, name))
            continue
        parsed = s3.parse_record(text)
        if parsed is None:
            continue  # not a record of ours
        owner, placed, marked = parsed
        referenced = judge(connection, owner, uid, name, s3.S3TileStore)
        if referenced is FOREIGN:
            continue
        if referenced:
            if marked is not None:  # an Undo pointed at it again
                s3.write_record(uid, name, s3.record_text(
                    " ".join(_owner_words(owner)), placed))
            continue
        if referenced is None:
            continue  # a database this process does not know
        if marked is None:
            marked = now
            s3.write_record(uid, name, s3.record_text(
                " ".join(_owner_words(owner)), placed, now))
        if now - marked < trash_days * 86400 or now - placed < grace:
            continue
        s3.remove_set(uid, name)
        removed.append(s3.location(uid, name))
    return removed


# the records' texts read by earlier sweeps, by bucket, key and ETag: a
# placed set's record is written twice in its life (placed, marked), so
# a sweep over many sets lists them and reads only those that changed
_RECORDS = BoundedCache(8 << 20, lambda text: len(text) + 100)


def _record_text(s3, uid, name, etag):
    key = (config.settings().s3_bucket, s3.record_key(uid, name), etag)
    text = _RECORDS.get(key) if etag else None
    if text is None:
        text = s3.read_record(uid, name)
        if text is not None and etag:
            _RECORDS.put(key, text)
    return text


def _owner_words(owner):
    oid, database, ident = owner
    return [oid.hex(), database] + ([ident] if ident else [])


def _placed_at(path):
    """When the set was put in place (its owner written at the vote)."""
    try:
        return os.path.getmtime(os.path.join(path, OWNER_FILE))
    except OSError:
        return os.path.getmtime(path)


def _write_mark(path, when):
    try:
        with open(os.path.join(path, MARK_FILE), "w") as f:
            f.write("%.6f" % when)
    except OSError:
        logger.warning("cannot mark %s", path)


def _remove_empty(folder):
    for _ in range(2):  # the image's directory, then its prefix
        try:
            os.rmdir(folder)
        except OSError:
            return
        folder = os.path.dirname(folder)


# ---------------------------------------------------------------- layout

MIGRATED_FILE = ".layout-sets"   # written once the first layout is moved
_UID = re.compile(r"^[0-9a-f]{32}$")
_TRASHED = re.compile(r"^([0-9a-f]{32})-[0-9]+\.[0-9]+$")


def migrate_layout(root=None):
    """Move sets of the first layout into set directories, once (a crash
    in the middle is finished at the next start). Only our own names are
    touched (ab/<32 hex>, .trash/<32 hex>-<time>), nothing is deleted.
    Returns the moves."""
    root = root or config.settings().tile_root
    moves = []
    if os.path.exists(os.path.join(root, MIGRATED_FILE)):
        return moves
    try:
        prefixes = sorted(os.listdir(root))
    except OSError:
        return moves
    for prefix in prefixes:
        base = os.path.join(root, prefix)
        if not re.match(r"^[0-9a-f]{2}$", prefix) or not os.path.isdir(base):
            continue
        for uid in sorted(os.listdir(base)):
            image_dir = os.path.join(base, uid)
            moving = os.path.join(base, ".migrating-" + uid)
            if uid.startswith(".migrating-"):
                # left by a crash between the two renames below
                uid = uid[len(".migrating-"):]
                image_dir, moving = os.path.join(base, uid), image_dir
                if not _UID.match(uid):
                    continue
            elif not (_UID.match(uid) and uid[:2] == prefix and
                      os.path.isfile(os.path.join(image_dir,
                                                  "ImageProperties.xml"))):
                continue
            else:
                os.rename(image_dir, moving)
            os.makedirs(image_dir, exist_ok=True)
            target = os.path.join(image_dir, _old_set_name(moving))
            os.rename(moving, target)
            moves.append(target)
    trash = os.path.join(root, OLD_TRASH)
    try:
        names = sorted(os.listdir(trash))
    except OSError:
        names = []
    left = []
    for entry in names:
        match = _TRASHED.match(entry)
        path = os.path.join(trash, entry)
        if not match:
            left.append(entry)  # not ours: left alone
            continue
        uid = match.group(1)
        deleted = float(entry.rsplit("-", 1)[1])
        target = os.path.join(root, uid[:2], uid, _old_set_name(path))
        if os.path.exists(target):
            left.append(entry)  # an older copy of a set: left for a human
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        # deleted then: the sweep counts trash-days from that time
        _write_mark(path, deleted)
        os.rename(path, target)
        moves.append(target)
    try:
        os.rmdir(trash)
    except OSError:
        pass
    if left:
        logger.warning("left %d entries of %s as they were (not tile sets "
                       "of this product, or older copies)", len(left), trash)
    if moves:
        logger.info("moved %d tile sets into the set layout", len(moves))
    try:
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, MIGRATED_FILE), "w") as f:
            f.write("tile sets in TILE-ROOT/ab/UID/SETID\n")
    except OSError:
        logger.warning("cannot write %s", os.path.join(root, MIGRATED_FILE))
    return moves


def _old_set_name(folder):
    try:
        with open(os.path.join(folder, OLD_SET_FILE)) as f:
            name = f.read().strip()
    except OSError:
        name = ""
    return name or LEGACY_SET


# --------------------------------------------------------- in the server

def database_opened(event):
    """At start-up: migrate the first layout, sweep, and sweep again every
    sweep-minutes (maintenance.py); only in the client that holds the
    maintenance lease (lease.py)."""
    db = event.database
    try:
        identity.make(db)  # before the first set names its owner
        if lease.holds(db):  # one client of the database sweeps
            migrate_layout()
            sweep(db)
    except Exception:
        logger.exception("could not sweep the tile root")
    scheduler.every("sweep of the tile root", sweep_seconds,
                    lease.leased(sweep), db)


def sweep_seconds():
    return config.settings().sweep_minutes * 60
