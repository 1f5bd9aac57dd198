"""The maintenance lease: of the Zope clients of one database, exactly one
runs the periodic maintenance (the sweep of the tile root, the expiry of
abandoned uploads): the one whose process id the lease in the database
names. Its holder renews it every third of maintenance-lease-seconds;
another client takes it once the holder is known dead (a process of this
machine whose lock is free) or its last renewal is older than
maintenance-lease-seconds by the database's clock (a commit's transaction
id, as the jobs' heartbeats: never a local clock, never a host name).
Two clients taking it at once both write the one record: the database
lets one commit and the other gets a ConflictError."""

import logging
import threading
import weakref

import transaction
from persistent import Persistent
from ZODB.POSException import ConflictError
from ZODB.POSException import ReadOnlyError

from . import config
from .jobs import records
from .jobs.worker import pool

logger = logging.getLogger(__name__)

ROOT_KEY = "zoomifyimage.maintenance-lease"
NOTE = "Zoomify Image: the maintenance lease (%s)"


class Lease(Persistent):
    """Who runs the maintenance; the commit time of its last write is the
    time of the last renewal."""

    holder = None   # a process id (records.process_id)
    renewals = 0


_held = weakref.WeakKeyDictionary()   # DB -> last answer (for the log)
_lock = threading.Lock()


def lease_seconds():
    return config.settings().maintenance_lease_seconds


def holds(db):
    """True if this process holds the maintenance lease of ``db`` now:
    renewed if it held it, taken if nobody holds it (none yet, its holder
    dead, or not renewed within maintenance-lease-seconds). Never in a
    command that runs no jobs (zoomify-import): it would exit holding the
    lease, and the servers of other machines would wait for it to run
    out."""
    if not pool.enabled:
        return False
    with _lock:
        held = _hold(db)
        if held != _held.get(db):
            if held:
                logger.info("this process (%s) holds the maintenance lease "
                            "and runs the periodic maintenance",
                            records.process_id())
            elif db in _held:
                logger.info("another process holds the maintenance lease")
            _held[db] = held
        return held


def _hold(db):
    me = records.process_id()
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    try:
        for _ in range(3):
            manager.begin()
            root = connection.root()
            lease = root.get(ROOT_KEY)
            if lease is not None and lease.holder != me and \
                    not records.owner_is_dead("%s:" % lease.holder):
                now = _db_now(connection, manager)
                if now is None:
                    return False
                manager.begin()
                lease = root.get(ROOT_KEY)
                if lease.holder != me and now - records.commit_time(
                        lease) <= lease_seconds():
                    return False  # its holder renewed it in time
            if lease is None:
                lease = root[ROOT_KEY] = Lease()
            taken = lease.holder != me
            lease.holder = me
            lease.renewals += 1
            manager.get().note(NOTE % ("taken" if taken else "renewed"))
            try:
                manager.commit()
                return True
            except ConflictError:  # another client wrote it: read again
                manager.abort()
        return False
    except ReadOnlyError:
        return False
    finally:
        manager.abort()
        connection.close()


def _db_now(connection, manager):
    """The database's time: that of a commit of our own (records.db_now
    in this connection's transaction manager)."""
    root = connection.root()
    for _ in range(3):
        manager.begin()
        if records.CLOCK not in root:
            root[records.CLOCK] = records.Clock()
        root[records.CLOCK].ticks += 1
        manager.get().note("Zoomify Image: the database's time "
                           "(maintenance lease)")
        try:
            manager.commit()
        except ConflictError:
            manager.abort()
            continue
        return records.commit_time(root[records.CLOCK])
    return None


def leased(function):
    """``function`` as a chore that runs only in the holder of the lease
    of the database it was given (the first argument, or _db)."""
    def chore(*args):
        db = _db.get("db")
        if db is None or holds(db):
            return function(*args)
    chore.__name__ = getattr(function, "__name__", "chore")
    return chore


_db = {}


def renew_seconds():
    return lease_seconds() / 3.0


def _renew():
    db = _db.get("db")
    if db is not None:
        holds(db)


def database_opened(event):
    """At start-up (before the sweep and the uploads' expiry): take the
    lease if it is free, and look at it every third of its length."""
    from .maintenance import scheduler
    db = event.database
    _db["db"] = db
    try:
        holds(db)
    except Exception:
        logger.exception("could not read the maintenance lease")
    scheduler.every("maintenance lease", renew_seconds, _renew)
