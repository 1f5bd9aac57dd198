"""The item's lifecycle (zope.lifecycleevent, subscribers in
configure.zcml) keeps its tiles in step, as ../events.py does for the
Zope class: added (the add form, a paste: a copy gets its own set),
modified (a new image, quality or storage: new tiles), removed (the
filesystem set goes after the sweep's wait, so an Undo finds it). A
rename or move needs nothing: tile paths use the item's stable uid."""

from .. import jobs


def added(item, event):
    jobs.copied(item)
    item.tile_if_needed()


def modified(item, event):
    item.tile_if_needed()


def copied(item, event):
    jobs.copied(item)
    item.copied()


def removed(item, event):
    jobs.removed(item)
    item.removed()
