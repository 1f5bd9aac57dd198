"""Zope's lifecycle events drive the tiles (subscribers in configure.zcml),
through the image's declared hooks (interfaces.IZoomifyImage).

- added: tile the new image; an imported one gets its own tiles (and
  its own job, like a copy)
- modified: retile when a new file (or quality) asks for it
- copied: the copy gets its own tile set, copied from the original's,
  and its own job if the original's was still running
(a move or a rename needs nothing: tile paths use a stable id)
- removed: the filesystem tiles go when the transaction commits; a
  running job discards its set
Each also tells IIIF Change Discovery's log (activity.py), as does a new
tile set (tiles_installed) and a move or a rename (moved).
"""

from . import activity
from . import jobs


def added(image, event):
    jobs.copied(image)  # a .zexp import has no copied event
    image.added()
    activity.note(image, changed=False)  # a Create if visible (once)


def modified(image, event):
    image.tile_if_needed()
    activity.note(image)


def moved(image, event):
    """Renamed or moved (not added, not deleted): its URLs changed."""
    if event.oldParent is not None and event.newParent is not None:
        activity.note(image, changed=False)


def tiles_installed(image):
    """A new tile set is served (content.py; a background job too)."""
    activity.note(image)


def copied(image, event):
    jobs.copied(image)
    image.copied()


def removed(image, event):
    jobs.removed(image)
    image.removed()
    activity.forget(image)
