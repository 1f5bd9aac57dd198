"""The database's identity: a random id made once, at the first start,
and kept in the database's root. Database names repeat ("main" in every
site); this id does not, so that what a site writes outside its database
(the owner records of tile sets, a tile root that two sites share) says
whose it is."""

import logging
import uuid
import weakref

import transaction
from ZODB.POSException import ConflictError
from ZODB.POSException import ReadOnlyError

logger = logging.getLogger(__name__)

ROOT_KEY = "zoomifyimage.database-id"

_known = weakref.WeakKeyDictionary()   # DB -> its id


def make(db):
    """The id of ``db``, made and committed (in a transaction of its own)
    if it has none; None for a read-only database without one."""
    ident = _known.get(db)
    if ident is None:
        ident = made_once(db, ROOT_KEY, lambda: uuid.uuid4().hex,
                          "Zoomify Image: the database's id")
        if ident is not None:
            _known[db] = ident
    return ident


def made_once(db, key, new, note):
    """The value under ``key`` in ``db``'s root: ``new()`` committed there
    in a transaction of its own if there is none (two clients starting at
    once: the one that loses reads the other's); None for a read-only
    database without one. The database's id, the token key."""
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    try:
        for _ in range(3):
            manager.begin()
            root = connection.root()
            value = root.get(key)
            if value is None:
                value = root[key] = new()
                manager.get().note(note)
                try:
                    manager.commit()
                except ConflictError:  # another client made it: read it
                    manager.abort()
                    value = None
                    continue
            return value
        return None
    except ReadOnlyError:
        return None
    finally:
        manager.abort()
        connection.close()


def of(connection):
    """The id of the database of ``connection`` as it reads it (no
    commit: safe inside another transaction's commit), or None."""
    db = connection.db()
    ident = _known.get(db)
    if ident is None:
        ident = connection.root().get(ROOT_KEY)
        if ident is not None:
            _known[db] = ident
    return ident
