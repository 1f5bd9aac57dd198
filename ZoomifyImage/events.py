"""Zope's lifecycle events drive the tiles (subscribers in configure.zcml).

- added: tile the new image; an imported one gets its own tiles (and
  its own job, like a copy)
- modified: retile when a new file (or quality) asks for it
- copied: the copy gets its own tile set, copied from the original's,
  and its own job if the original's was still running
(a move or a rename needs nothing: tile paths use a stable id)
- removed: the filesystem tiles go when the transaction commits; a
  running job discards its set
"""

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
