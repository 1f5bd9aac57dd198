"""What a folder shows of its contents to one requester: the images he
may view that have tiles, the sub-folders he may view, in the folder's
order, a page at a time; and a thumbnail of an image, always one of its
stored tiers (never the original). The IIIF collection
(iiif_collection.py), the gallery (gallery.py) and the ZMI listing
(zmi_listing.py) read folders only through here.

Images are known by their face (interfaces.IDeepZoomImage): tile_set(),
current_status(), title_or_id()."""

import dataclasses
import math
import threading

from AccessControl.Permissions import view as View
from AccessControl.SecurityManagement import getSecurityManager
from Acquisition import aq_base
from DateTime import DateTime
from OFS.interfaces import IFolder

from . import resolution
from .interfaces import IDeepZoomImage
from .serving import anonymous_may_view
from .web_errors import BadRequest
from .web_errors import MethodNotAllowed
from .web_errors import NotFound
from .web_errors import ServiceUnavailable

try:  # Plone's (CMF's) content, where it is installed
    from Products.CMFCore.interfaces import IContentish
    from Products.CMFCore.interfaces import IFolderish
    from Products.CMFCore.interfaces import ISiteRoot
except ImportError:  # bare Zope
    IContentish = IFolderish = ISiteRoot = None

# CMF's (Plone's) permission to list content out of its publication
# dates; by name, so that a plain Zope needs no CMF (Manager only there)
ACCESS_INACTIVE = "Access inactive portal content"
# a folder of at least BIG_FOLDER objects is listed by at most
# BIG_LISTINGS threads at once (list_folder); one more waits LISTING_WAIT
# seconds for one of them, then is 503
BIG_FOLDER = 2000
BIG_LISTINGS = threading.BoundedSemaphore(2)
LISTING_WAIT = 0.5
LISTING_RETRY_AFTER = 5
# entries of one page of a collection or a gallery: a page is built from
# the folder's records of that many objects
PAGE_SIZE = 100
# the longer side of a thumbnail in CSS pixels: the gallery's and the
# IIIF collection's; the ZMI's row is smaller
THUMBNAIL_SIDE = 200


@dataclasses.dataclass(frozen=True)
class Entry:
    kind: str       # "image" or "folder"
    obj: object     # the image or folder, wrapped in its folder


@dataclasses.dataclass(frozen=True)
class Listing:
    entries: tuple  # the Entries the requester may see, in order
    public: bool    # anonymous sees the same (and the folder): shared
                    # caches may keep it


def _kind(obj, content_only=False):
    if IDeepZoomImage.providedBy(obj):
        return "image"
    if IFolder.providedBy(obj) and (
            not content_only or IContentish.providedBy(obj)):
        return "folder"
    return None


def is_site_root(folder):
    """A CMF (Plone) site: the top of what its listings show."""
    return ISiteRoot is not None and ISiteRoot.providedBy(folder)


def _content_only(folder):
    """A CMF (Plone) site or folder holds its machinery beside its
    content, as OFS folders too (acl_users, portal_catalog...; anonymous
    may View most): only its content folders are listed."""
    return IFolderish is not None and IFolderish.providedBy(folder)


def _same_for_anonymous(kind, obj):
    """Anonymous gets what anyone gets of ``obj``: he may view it and, for
    an image with a preview size, sees it whole (the thumbnail is the
    same)."""
    if not anonymous_may_view(obj):
        return False
    # (the preview size itself, not tile_set(): that would load every
    # image's store, not only those of the page)
    if kind == "image" and resolution.limit_of(obj):
        return resolution.anonymous_full(obj)
    return True


def _active(obj, now):
    """False for content whose publication dates hide it now (CMF's and
    Plone's effective and expiration dates: an embargo, an expired
    item). View is no guide there: a published item is viewable by its
    URL before its date, and only listings leave it out (Plone's
    catalog), so ours do too."""
    is_effective = getattr(aq_base(obj), "isEffective", None)
    return is_effective is None or bool(is_effective(now))


def _size(folder):
    count = getattr(folder, "objectCount", None)  # BTreeFolder2: stored
    return count() if count is not None else len(folder.objectIds())


def list_folder(folder):
    """The Listing of ``folder`` (_listing): of a big folder at most
    BIG_LISTINGS at once. A listing reads every object of the folder
    (who may view it, its status), about 0.3 ms each: 2.8 s for 10,000
    images, and anyone may ask for the gallery or collection of a public
    folder. So a flood of them holds BIG_LISTINGS threads, not all of
    Zope's: the others are 503 with Retry-After."""
    if _size(folder) < BIG_FOLDER:
        return _listing(folder)
    if not BIG_LISTINGS.acquire(timeout=LISTING_WAIT):
        error = ServiceUnavailable("This folder is being listed for other "
                                   "visitors; try again in a moment.")
        error.setHeader("Retry-After", str(LISTING_RETRY_AFTER))
        raise error
    try:
        return _listing(folder)
    finally:
        BIG_LISTINGS.release()


def _listing(folder):
    """The Listing of ``folder`` for the current user: images with a tile
    set to show (not those queued, being tiled or failed: they have no
    manifest or thumbnail yet) and sub-folders, each one he may View.
    ``public`` is False as soon as anyone might be shown something else:
    the folder or any image or sub-folder in it is hidden from anonymous,
    or an image shows anonymous only its preview (resolution.py).
    Content out of its publication dates is left out, but for those who
    may see inactive content (Plone's permission)."""
    check = getSecurityManager().checkPermission
    public = anonymous_may_view(folder)
    now = DateTime()
    inactive_seen = check(ACCESS_INACTIVE, folder)
    entries = []
    content_only = _content_only(folder)
    for obj in folder.objectValues():
        kind = _kind(obj, content_only)
        if kind is None:
            continue
        active = _active(obj, now)
        if public and not (active and _same_for_anonymous(kind, obj)):
            public = False
        if not check(View, obj) or not (active or inactive_seen):
            continue
        if kind == "image" and obj.current_status() != "ready":
            continue
        entries.append(Entry(kind, obj))
    return Listing(tuple(entries), public)


def read_only(request):
    """The folder's pages answer GET and HEAD only (a view's own
    zpublish(methods=...) is not checked by the publisher: Five publishes
    its bound __call__)."""
    method = request.get("REQUEST_METHOD", "GET").upper()
    if method not in ("GET", "HEAD"):
        request.response.setHeader("Allow", "GET, HEAD")
        raise MethodNotAllowed("%s is not allowed here (GET, HEAD)"
                               % method)


def page_count(count, size=PAGE_SIZE):
    return max(1, math.ceil(count / size))


def page_number(text, count, size=PAGE_SIZE):
    """The page (1, 2, ...) a request's ``page`` names: BadRequest for
    what is not a number, NotFound past the last page."""
    if text in (None, ""):
        return 1
    try:
        number = int(str(text))
    except ValueError:
        raise BadRequest("page must be a number")
    if not 1 <= number <= page_count(count, size):
        raise NotFound("there is no such page")
    return number


def page_of(entries, number, size=PAGE_SIZE):
    start = (number - 1) * size
    return entries[start:start + size]


@dataclasses.dataclass(frozen=True)
class Thumbnail:
    path: str       # IMAGE/iiif/full/W,H/0/default.jpg, from the image
    tier: tuple     # (W, H) of the stored tier it is
    shown: tuple    # (width, height) in CSS pixels, within side x side
    set_id: str     # the tile set (?v=: immutable in caches)


def thumbnail(image, side=THUMBNAIL_SIDE):
    """The Thumbnail of a ready ``image``: the smallest stored tier whose
    longer side is at least ``side`` (the full size for a smaller image),
    asked of the image's IIIF service at exactly that tier's size, which
    it makes from that tier's stored tiles (one tile is sent as it is);
    None when the image has no tile set."""
    tiles = image.tile_set()
    layout = tiles.layout
    if layout is None:
        return None
    tiers = layout.tiers
    # an image with a preview size: never a tier the user may not see
    # (his IIIF answer would be a 401), at most the preview's top tier
    seen = resolution.sight(image, tiles)
    if not seen.full:
        if seen.cut is None:
            return None
        tiers = tiers[:seen.cut.num_tiers]
    tier = next(((w, h) for w, h in tiers if w and h and max(w, h) >= side),
                tiers[-1])
    scale = min(1.0, side / max(tier))
    shown = (max(1, round(tier[0] * scale)), max(1, round(tier[1] * scale)))
    return Thumbnail("iiif/full/%d,%d/0/default.jpg" % tier, tier, shown,
                     tiles.set_id)
