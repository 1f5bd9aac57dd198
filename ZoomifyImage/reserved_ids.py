"""Ids an image may not take in a folder: the names of the folder's own
pages. Zope's traversal finds a folder's item before its views, so an
image called "gallery" would hide FOLDER/gallery (and "collection.json"
the folder's IIIF collection, "iiif-activity" its Change Discovery
feed...). The names are looked up in the registered views of the folder
(not the ++namespace++ traversers, registered alike), not listed here,
so a page added later is covered by itself; a name beginning with @@ or
++ is a traversal namespace and never reaches the item at all.

Used by every way an image gets an id: the add form and import
(content.add_image), the uploader's check before any byte (uploads.py)
and, for rename, cut/paste and copy/paste, a subscriber to the image's
will-be-moved event (events.py), which OFS sends before anything moves.
"""

from zope.component import getSiteManager
from zope.interface import Interface
from zope.interface import providedBy
from zope.publisher.interfaces.browser import IDefaultBrowserLayer
from zope.traversing.interfaces import ITraversable


def refusal(container, id):
    """Why ``id`` cannot name an image in ``container``, or None."""
    id = str(id)
    if id.startswith(("@@", "++")):
        return ('The id "%s" is reserved: a name beginning with @@ or ++ '
                "is never an item's URL. Choose another id." % id)
    view = getSiteManager().adapters.lookup(
        (providedBy(container), IDefaultBrowserLayer), Interface, id)
    # ++view++, ++etc++...: namespaces, registered alike, never an URL's
    # plain segment
    if view is not None and not ITraversable.implementedBy(view):
        return ('The id "%s" is reserved: it is the name of a page of the '
                "folder (%s), which the image would hide. Choose another "
                "id." % (id, id))
    return None


def check(container, id):
    """``id``, or ValueError saying why the folder keeps it."""
    message = refusal(container, id)
    if message:
        raise ValueError(message)
    return id


def refuse_move(image, event):
    """An image about to be added, pasted or renamed into a folder under
    one of the folder's page names: refused before anything moves (OFS
    sends this event before it deletes or sets anything)."""
    from .web_errors import BadRequest
    if event.newParent is not None and event.newName:
        message = refusal(event.newParent, event.newName)
        if message:
            raise BadRequest(message)
