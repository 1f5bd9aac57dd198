"""One permission path for every way to change an image.

The publisher checks only the roles of the last object of a URL: an
editor with Change Images and Files from the root passes that check for
IMAGE/manage_upload in a folder that hides its contents from him (no View,
no Access contents information), and the Edit tab refused him only because
its page could not be drawn. Whatever changes or adds an image on a
user's behalf (the add form, the resumable uploader) asks here instead:
the method is reached as restricted code reaches it, every step from the
root checked as that user, so that what he may not see he may not change.
And every request but a GET or HEAD that the publisher sends to an image
or to anything below it (the Edit tab's methods, WebDAV, the uploader,
the methods of Zope's base classes, any added later) is checked the same
way, for the image, before it runs (``check_request``, registered for
IPubAfterTraversal).
"""

from AccessControl import Unauthorized

from .interfaces import IZoomifyImage
from .web_errors import AnyClientError
from .web_errors import MethodNotAllowed

ADD_METHOD = ("manage_addProduct", "ZoomifyImage", "manage_addZoomifyImage")


def reach(target, names):
    """TARGET's method at NAMES (a tuple of names below it), traversed from
    the root as the current user: each object on the way must be his to
    access, the method his to call. Raises Unauthorized otherwise."""
    path = tuple(target.getPhysicalPath()[1:]) + tuple(names)
    try:
        return target.getPhysicalRoot().restrictedTraverse(path)
    except Unauthorized:
        raise
    except (LookupError, AttributeError, AnyClientError):
        # gone meanwhile, or hidden: the same answer as for no access
        raise Unauthorized("You may not change this.")


def image_method(image, name="manage_upload"):
    """The image's change method NAME, as the current user may reach it."""
    return reach(image, (name,))


def add_method(container):
    """The container's add function of Zoomify Images, as the current
    user may reach it."""
    return reach(container, ADD_METHOD)


READING = ("GET", "HEAD")
# what the publisher calls the image itself for; any other method reaches
# the image itself only when it has no method of that name (PATCH)
OWN_METHODS = ("GET", "HEAD", "POST")


def check_request(event):
    """After traversal, before the call: a request that may change an image
    (any method but GET and HEAD) is refused (401) unless the user may
    reach the image from the root, and with 405 when the image has no
    method for it."""
    request = event.request
    method = request.get("REQUEST_METHOD", "GET").upper()
    if method in READING:
        return
    published = request.get("PUBLISHED")
    for ob in [published] + list(request.get("PARENTS", ())):
        if ob is not None and IZoomifyImage.providedBy(ob):
            reach(ob, ())
            if ob is published and method not in OWN_METHODS:
                # (the text names no method: it is the client's word)
                refused = MethodNotAllowed("Not a method of an image.")
                refused.setHeader("Allow", "GET, HEAD, POST, DELETE, "
                                  "OPTIONS")
                raise refused
            return
