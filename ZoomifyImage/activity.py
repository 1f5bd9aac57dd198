"""The log of IIIF Change Discovery (activity_feed.py publishes it): which
image manifests anonymous may see came, changed and went, in the order
their transactions committed.

One ActivityLog in the database's root. ``events`` is a Sequence: a
BTree from a counter (0, 1, 2...) to (type, path, time), so that no
persistent object grows with the log; the counter lives on the Sequence,
so that two transactions that both add an event conflict and one is
tried again: keys follow the commits' order, with no gap. ``folders``
has a Sequence of the same events for each folder above an image, so
that a folder's feed reads its own pages only (an event is kept once
per folder above it: a few times, not once per page read).
``published`` holds the path of each image (by uid) while anonymous may
see it, ``paths`` the last known path of every image (a background job
holds the image without its folders: it finds it again from the root by
this path).

What is noted (events.py calls note and forget; each change only says
which image to look at again, and the log is written after the commit
from what was committed, in a transaction of its own): an image that
becomes visible to anonymous (its first tiles, or View given back) is a
Create; a change of a visible one (title, new file, retile) an Update;
a visible image deleted or made private a Delete; a rename or a move a
Delete of the old URL and a Create of the new one. A change of who may
view (the Security and Local roles tabs, on the image or any folder
above it) and an Undo are found by their request (after_request): Zope
sends no event for them.
"""

import logging
import time

import transaction
from Acquisition import aq_parent
from BTrees.Length import Length
from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from persistent import Persistent
from ZODB.POSException import ConflictError
from ZODB.POSException import ReadOnlyError

from .interfaces import IDeepZoomImage
from .serving import anonymous_may_view

logger = logging.getLogger(__name__)

ROOT_KEY = "zoomifyimage.activity"
CREATE, UPDATE, DELETE = "Create", "Update", "Delete"


class Sequence(Persistent):
    """Values under the keys 0, 1, 2... in the order of their commits."""

    count = 0  # the next value's key

    def __init__(self):
        self.items = LOBTree()
        self.size = Length()  # how many values (an Undo takes some out)

    def append(self, value):
        key = self.count
        self.items[key] = value
        self.count = key + 1
        self.size.change(1)
        return key

    def last(self):
        return self.items.get(self.count - 1)

    def page(self, number, size):
        """The values of keys [number * size, (number + 1) * size)."""
        return list(self.items.values(number * size,
                                      (number + 1) * size - 1))

    def _p_resolveConflict(self, old, committed, new):
        # Two transactions that add events both write key ``count`` into
        # ``events``, a conflict the BTree refuses: one of them is tried
        # again. What reaches here is an Undo of a transaction that added
        # events (the BTree takes them out): the counter never goes back,
        # so that no key is used twice.
        state = dict(committed)
        state["count"] = max(committed.get("count", 0),
                             new.get("count", 0))
        return state


class ActivityLog(Persistent):
    """Change Discovery's events, oldest first."""

    def __init__(self):
        self.events = Sequence()    # (type, path, time)
        self.folders = OOBTree()    # folder path -> Sequence of events
        self.published = OOBTree()  # uid -> path, while anonymous sees it
        self.paths = OOBTree()      # uid -> last known path

    def add(self, kind, path, when=None):
        when = when or time.time()
        previous = self.events.last()
        if previous is not None and previous[2] > when:
            # newest last, also by endTime: a ZEO client whose clock is
            # behind the previous commit's takes that time
            when = previous[2]
        event = (kind, path, when)
        key = self.events.append(event)
        names = path.split("/")
        for depth in range(2, len(names)):  # each folder above it
            folder = "/".join(names[:depth])
            events = self.folders.get(folder)
            if events is None:
                events = self.folders[folder] = Sequence()
            events.append(event)
        return key


def log_of(connection, create=True):
    """The log in the root of ``connection``'s database (made at the
    first event), or None."""
    root = connection.root()
    log = root.get(ROOT_KEY)
    if log is None and create:
        log = root[ROOT_KEY] = ActivityLog()
    return log


def _connection(obj):
    jar = getattr(obj, "_p_jar", None)
    parent = aq_parent(obj) if jar is None else None
    while jar is None and parent is not None:
        jar = getattr(parent, "_p_jar", None)
        parent = aq_parent(parent)
    return jar


def _path(obj):
    return "/".join(obj.getPhysicalPath())


def _visible(image):
    """Anonymous may see the image's manifest: it has tiles and View."""
    return image.tile_set().layout is not None and anonymous_may_view(image)


# ----------------------------------------------- during the transaction
#
# The changes only say what to look at again; the log is written after
# the commit, in a transaction of its own (_write), from what was
# committed. So an Undo of a change never has to take the log back (it
# failed once the log's BTree had split since), the endTime is after
# the change is visible, and a transaction that aborts notes nothing.

def _pending(obj):
    """This transaction's list of things to note, made (with its
    after-commit hook) at the first; None outside any database."""
    connection = _connection(obj)
    if connection is None:
        return None
    txn = transaction.get()
    for hook, args, kws in txn.getAfterCommitHooks():
        if hook is _write:
            return args[1]
    pending = []
    txn.addAfterCommitHook(_write, (connection.db(), pending))
    return pending


def note(image, changed=True):
    """The image was added, changed, moved, or may have become visible or
    invisible to anonymous: noted after the commit. ``changed``: its
    manifest or pixels changed (an Update when it stays visible)."""
    pending = _pending(image)
    if pending is not None:
        path = _path(image) if aq_parent(image) is not None else None
        pending.append(("note", image.uid, path, changed))


def forget(image):
    """The image is deleted: a Delete if anonymous saw it."""
    pending = _pending(image)
    if pending is not None:
        pending.append(("forget", image.uid, None, False))


def reconcile(obj):
    """Who may view ``obj`` (an image or a folder, wrapped) may have
    changed: every image in it is looked at again after the commit."""
    pending = _pending(obj)
    if pending is not None:
        pending.append(("reconcile", None, _path(obj), False))


# ----------------------------------------------------- after the commit

def _write(committed, db, pending, attempts=5):
    """The after-commit hook: the events of ``pending`` into the log, in
    a transaction of its own (tried again after a conflict with another
    writer of the log)."""
    if not committed or not pending:
        return
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    try:
        for attempt in range(attempts):
            manager.begin()
            try:
                apply(connection, pending)
                manager.get().note("Zoomify Image: IIIF Change Discovery")
                manager.commit()
                return
            except ConflictError:
                manager.abort()
        logger.error("IIIF Change Discovery: %d changes not noted after "
                     "%d conflicts", len(pending), attempts)
    except ReadOnlyError:
        manager.abort()
    finally:
        manager.abort()
        connection.close()


def apply(connection, pending):
    """Note ``pending`` [(what, uid, path, changed)] in the log of
    ``connection``, from the committed state: each image once, changed
    if any of its changes says so."""
    log = log_of(connection)
    app = connection.root().get("Application")
    seen = {}
    for what, uid, path, changed in pending:
        if what == "reconcile":
            found = _find(app, path)
            for image in images_in(found) if found is not None else ():
                seen.setdefault(image.uid, [image, False])
            continue
        entry = seen.setdefault(uid, [None, False])
        entry[1] = entry[1] or changed
        if what == "forget":
            entry[0] = "gone"
        elif entry[0] is None or entry[0] == "gone":
            # where it is now (a new image has no last known path yet)
            image = _find(app, path or log.paths.get(uid))
            if image is None or getattr(image, "uid", None) != uid:
                image = "gone"
            entry[0] = image
    for uid, (image, changed) in seen.items():
        if image == "gone":
            _gone(log, uid)
        elif image is not None:
            _look_again(log, image, changed)


def _find(app, path):
    if app is None or path is None:
        return None
    path = path.strip("/")
    return app.unrestrictedTraverse(path, None) if path else app


def _gone(log, uid):
    was = log.published.get(uid)
    if was is not None:
        log.add(DELETE, was)
        del log.published[uid]
    if uid in log.paths:
        del log.paths[uid]


def _look_again(log, image, changed):
    uid, path = image.uid, _path(image)
    if log.paths.get(uid) != path:
        log.paths[uid] = path
    was = log.published.get(uid)
    if _visible(image):
        if was is None:
            log.add(CREATE, path)
        elif was != path:  # renamed or moved: the old URL is gone
            log.add(DELETE, was)
            log.add(CREATE, path)
        elif changed:
            log.add(UPDATE, path)
        if was != path:
            log.published[uid] = path
    elif was is not None:
        log.add(DELETE, was)
        del log.published[uid]


def images_in(obj):
    """``obj`` if it is an image (the Zope class or the Plone item), or
    every image below it (wrapped)."""
    if IDeepZoomImage.providedBy(obj):
        yield obj
        return
    values = getattr(obj, "objectValues", None)
    if values is None:
        return
    for child in values():
        yield from images_in(child)


# names of the methods that change who may do what (AccessControl's
# RoleManager: Security and Local roles tabs, Ownership), and Undo
_SECURITY_WORDS = ("permission", "role", "owner", "acquire", "undo")


def after_request(event):
    """Before the request's transaction commits (IPubBeforeCommit): a
    request that changed permissions or roles of an object has the
    images in it looked at again (an image made private is a Delete,
    public again a Create); an Undo, every image of the site (Zope sends
    no event for either)."""
    request = event.request
    if request.get("REQUEST_METHOD", "GET") in ("GET", "HEAD"):
        return
    published = request.get("PUBLISHED")
    name = getattr(published, "__name__", "") or ""
    if not name.startswith("manage_") or not any(
            word in name.lower() for word in _SECURITY_WORDS):
        return
    target = getattr(published, "__self__", None)
    if target is None:
        return
    if "undo" in name.lower():
        target = target.getPhysicalRoot()
    reconcile(target)


def database_opened(event):
    """At start-up: a site that has no log yet (new, or older than the
    feed) gets one, with a Create for each image anonymous may see, so
    that a harvester finds what was there before (in a transaction of
    its own; a walk of the whole site, once)."""
    manager = transaction.TransactionManager()
    connection = event.database.open(transaction_manager=manager)
    try:
        manager.begin()
        root = connection.root()
        app = root.get("Application")
        if ROOT_KEY in root or app is None:
            return
        log = log_of(connection)
        for image in images_in(app):
            _look_again(log, image, False)
        manager.get().note("Zoomify Image: the IIIF Change Discovery log "
                           "(%d images)" % len(log.published))
        manager.commit()
    except (ConflictError, ReadOnlyError):
        manager.abort()  # another client made it, or it cannot be made
    finally:
        manager.abort()
        connection.close()
