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
    if ident is not None:
        return ident
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    try:
        for _ in range(3):
            manager.begin()
            root = connection.root()
            ident = root.get(ROOT_KEY)
            if ident is None:
                ident = root[ROOT_KEY] = uuid.uuid4().hex
                manager.get().note("Zoomify Image: the database's id")
                try:
                    manager.commit()
                except ConflictError:  # another client made it: read it
                    manager.abort()
                    ident = None
                    continue
            break
    except ReadOnlyError:
        ident = None
    finally:
        manager.abort()
        connection.close()
    if ident is not None:
        _known[db] = ident
    return ident


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
