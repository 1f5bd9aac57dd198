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
"""

from . import jobs


def added(image, event):
    jobs.copied(image)  # a .zexp import has no copied event
    image.added()


def modified(image, event):
    image.tile_if_needed()


def copied(image, event):
    jobs.copied(image)
    image.copied()


def removed(image, event):
    jobs.removed(image)
    image.removed()
