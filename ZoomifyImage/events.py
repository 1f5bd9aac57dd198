"""Zope's lifecycle events drive the tiles (subscribers in configure.zcml).

- added: tile the new image; an imported one gets its own tiles (and
  its own job, like a copy)
- modified: retile when a new file (or quality) asks for it
- copied: the copy gets its own tile set, copied from the original's,
  and its own job if the original's was still running
- moved or renamed: nothing to do (tile paths use a stable id)
- removed: the filesystem tiles go when the transaction commits; a
  running job discards its set
"""

from zope.lifecycleevent.interfaces import IObjectAddedEvent
from zope.lifecycleevent.interfaces import IObjectRemovedEvent

from . import jobs


def added(image, event):
    jobs.copied(image)  # a .zexp import has no copied event
    image._added()


def modified(image, event):
    image._tile_if_needed()


def copied(image, event):
    jobs.copied(image)
    image._copied()


def removed(image, event):
    jobs.removed(image)
    image._removed()


def moved(image, event):
    # added and removed events are moved events too; they have their own
    # subscribers. A real move keeps the same tiles.
    if IObjectAddedEvent.providedBy(event) or \
            IObjectRemovedEvent.providedBy(event):
        return
