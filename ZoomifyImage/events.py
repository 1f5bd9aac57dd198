"""Zope's lifecycle events drive the tiles (subscribers in configure.zcml).

- added: tile the new image; an imported one gets its own tiles
- modified: retile when a new file (or quality) asks for it
- copied: the copy gets its own tile set, copied from the original's
- moved or renamed: nothing to do (tile paths use a stable id)
- removed: the filesystem tiles go when the transaction commits
"""

from zope.lifecycleevent.interfaces import IObjectAddedEvent
from zope.lifecycleevent.interfaces import IObjectRemovedEvent


def added(image, event):
    image._added()


def modified(image, event):
    image._tile_if_needed()


def copied(image, event):
    image._copied()


def removed(image, event):
    image._removed()


def moved(image, event):
    # added and removed events are moved events too; they have their own
    # subscribers. A real move keeps the same tiles.
    if IObjectAddedEvent.providedBy(event) or \
            IObjectRemovedEvent.providedBy(event):
        return
