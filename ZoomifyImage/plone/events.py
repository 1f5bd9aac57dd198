"""The item's lifecycle (zope.lifecycleevent, subscribers in
configure.zcml) keeps its tiles in step, as ../events.py does for the
Zope class: added (the add form, a paste: a copy gets its own set),
modified (a new image, quality or storage: new tiles), removed (the
filesystem set goes after the sweep's wait, so an Undo finds it). A
rename or move needs nothing: tile paths use the item's stable uid.

Each also tells IIIF Change Discovery's log (../activity.py), as the
Zope class's do, and so does a workflow transition (it changes who may
View: published is a Create, retracted a Delete) and a new tile set
(content.py, a background job's too)."""

import contextlib

import transaction
from z3c.form.interfaces import WidgetActionExecutionError

from .. import activity
from .. import jobs
from ..pyramid import TilingError
from ..viewer import without_server_paths
from .schema import NotTileable


@contextlib.contextmanager
def _refused_on_the_form():
    """A file whose header is sound (schema.tileable passed) but whose
    data is damaged is found only by the cut: the add or edit form shows
    the reason on its image field, and the whole change is dropped (a
    doomed transaction is aborted, not committed), so the previous
    original and tiles stay, as the Zope class keeps them."""
    try:
        yield
    except TilingError as e:
        transaction.doom()
        raise WidgetActionExecutionError("image", NotTileable(
            without_server_paths(str(e)))) from None


def added(item, event):
    jobs.copied(item)
    with _refused_on_the_form():
        item.tile_if_needed()
    activity.note(item, changed=False)  # a Create if visible (once)


def modified(item, event):
    with _refused_on_the_form():
        item.tile_if_needed()
    activity.note(item)


def moved(item, event):
    """Renamed or moved (not added, not deleted): its URLs changed."""
    if event.oldParent is not None and event.newParent is not None:
        activity.note(item, changed=False)


def transitioned(item, event):
    """A workflow transition: who may View it may have changed."""
    activity.note(item, changed=False)


def copied(item, event):
    jobs.copied(item)
    item.copied()


def removed(item, event):
    jobs.removed(item)
    item.removed()
    activity.forget(item)
