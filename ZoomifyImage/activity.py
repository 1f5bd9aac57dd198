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

What is noted (events.py calls these): an image that becomes visible to
anonymous (its first tiles, or View given back) is a Create; a change of
a visible one (title, new file, retile) an Update; a visible image
deleted, made private, or whose tiling failed, a Delete; a rename or a
move a Delete of the old URL and a Create of the new one. A change of
who may view (the Security and Local roles tabs, on the image or any
folder above it) is found after the request (reconcile): Zope sends no
event for it.
"""

import time

from Acquisition import aq_parent
from BTrees.Length import Length
from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from persistent import Persistent

from .interfaces import IZoomifyImage
from .serving import anonymous_may_view

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


def _path(image):
    return "/".join(image.getPhysicalPath())


def _visible(image):
    """Anonymous may see the image's manifest: it has tiles and View."""
    return image.tile_set().layout is not None and anonymous_may_view(image)


def _once(log, kind, path, when=None):
    """Add the event unless this transaction added the same one (a new
    file is an edit and a new set: one Update)."""
    import transaction
    txn = transaction.get()
    noted = getattr(log, "_v_noted", None)
    if noted is None or noted[0] is not txn:
        noted = log._v_noted = (txn, set())
    if (kind, path) not in noted[1]:
        noted[1].add((kind, path))
        log.add(kind, path, when)


def _wrapped(image, log, connection):
    """The image with its folders: as given, or found again from the root
    by its last known path (a background job's image has none)."""
    if aq_parent(image) is not None:
        return image
    path = log.paths.get(image.uid)
    app = connection.root().get("Application")
    if path is None or app is None:
        return None
    found = app.unrestrictedTraverse(path.lstrip("/"), None)
    if found is None or getattr(found, "uid", None) != image.uid:
        return None
    return found


def note(image, changed=True):
    """The image was added, changed, moved, or may have become visible or
    invisible to anonymous: the events that says, if any. ``changed``:
    its manifest or pixels changed (an Update when it stays visible)."""
    connection = _connection(image)
    if connection is None:
        return
    log = log_of(connection)
    image = _wrapped(image, log, connection)
    if image is None:
        return
    uid, path = image.uid, _path(image)
    if log.paths.get(uid) != path:
        log.paths[uid] = path
    was = log.published.get(uid)
    if _visible(image):
        if was is None:
            _once(log, CREATE, path)
        elif was != path:  # renamed or moved: the old URL is gone
            _once(log, DELETE, was)
            _once(log, CREATE, path)
        elif changed:
            _once(log, UPDATE, path)
        if was != path:
            log.published[uid] = path
    elif was is not None:
        _once(log, DELETE, was)
        del log.published[uid]


def forget(image):
    """The image is deleted: a Delete if anonymous saw it."""
    connection = _connection(image)
    if connection is None:
        return
    log = log_of(connection, create=False)
    if log is None:
        return
    was = log.published.get(image.uid)
    if was is not None:
        _once(log, DELETE, was)
        del log.published[image.uid]
    if image.uid in log.paths:
        del log.paths[image.uid]


def reconcile(obj):
    """Who may view ``obj`` (an image or a folder) may have changed: note
    every image in it again."""
    for image in images_in(obj):
        note(image, changed=False)


def images_in(obj):
    """``obj`` if it is an image, or every image below it (wrapped)."""
    if IZoomifyImage.providedBy(obj):
        yield obj
        return
    values = getattr(obj, "objectValues", None)
    if values is None:
        return
    for child in values():
        yield from images_in(child)


# names of the methods that change who may do what (AccessControl's
# RoleManager: Security and Local roles tabs, Ownership)
_SECURITY_WORDS = ("permission", "role", "owner", "acquire")


def after_request(event):
    """Before the request's transaction commits (IPubBeforeCommit): a
    request that changed permissions or roles of an object notes the
    images in it again (an image made private is a Delete, public again
    a Create)."""
    request = event.request
    if request.get("REQUEST_METHOD", "GET") in ("GET", "HEAD"):
        return
    published = request.get("PUBLISHED")
    name = getattr(published, "__name__", "") or ""
    if not name.startswith("manage_") or not any(
            word in name.lower() for word in _SECURITY_WORDS):
        return
    target = getattr(published, "__self__", None)
    if target is not None:
        reconcile(target)


def database_opened(event):
    """At start-up: a site that has no log yet (new, or older than the
    feed) gets one, with a Create for each image anonymous may see, so
    that a harvester finds what was there before (in a transaction of
    its own; a walk of the whole site, once)."""
    import transaction
    from ZODB.POSException import ConflictError
    from ZODB.POSException import ReadOnlyError
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
            note(image, changed=False)
        manager.get().note("Zoomify Image: the IIIF Change Discovery log "
                           "(%d images)" % len(log.published))
        manager.commit()
    except (ConflictError, ReadOnlyError):
        manager.abort()  # another client made it, or it cannot be made
    finally:
        manager.abort()
        connection.close()
