"""Who may see which largest size of an image (degraded access).

An image may have a preview size (its own ``preview_size``, else the
site's ``preview-size``; 0: none): then only a user with the permission
``View Zoomify full resolution`` on it (Manager and Owner by default;
a site grants it to Authenticated, or to a role such as Researcher) sees
every tier; anyone else with View sees the pyramid cut at its largest
tier whose longer side is within the preview size. The tiers count from
the smallest, so the cut pyramid is the layout of that tier's size: its
tiles have the same Zoomify names and IIIF's answers from it are made of
the same stored tiles. Whatever lies above the cut is refused (401) to
him, before any pixel is read (``check_tile``, ``check_tier``).

A request may carry an IIIF access token (Authorization: Bearer,
tokens.py): it is checked on every request of tiles and IIIF that
carries one, and a bad one is refused (401), never ignored; a good one
decides as the user it names.
"""

import functools
from collections import namedtuple

from AccessControl.PermissionRole import rolesForPermissionOn
from AccessControl.Permissions import view as View
from AccessControl.SecurityManagement import getSecurityManager

from . import config
from . import tokens
from .pyramid import Layout
from .pyramid.layout import parse_tile_name

FULL_RESOLUTION = "View Zoomify full resolution"
FULL_RESOLUTION_ROLES = ("Manager", "Owner")


class Refused(Exception):
    """401: what the request asks is above what it may see, or its token
    is not honoured. The text is for the visitor (no server detail)."""


# full: every tier; cut: the Layout seen otherwise (None: no tier fits);
# limited: the image has a preview size (answers differ by user)
Sight = namedtuple("Sight", "full cut limited")
FULL = Sight(True, None, False)


def limit_of(image):
    """The image's preview size (the longer side), or 0 for none."""
    own = getattr(image, "preview_size", None)
    return config.settings().preview_size if own is None else own


@functools.lru_cache(maxsize=1024)
def cut_layout(layout, limit):
    """The Layout of the largest tier of ``layout`` with no side above
    ``limit`` and none zero; ``layout`` itself when the image fits, None
    when no tier does (a very thin image: nothing to show)."""
    if not limit or max(layout.width, layout.height) <= limit:
        return layout
    for width, height in reversed(layout.tiers[:-1]):
        if width and height and max(width, height) <= limit:
            return Layout(width, height, layout.tile_size)
    return None


def bearer_token(REQUEST):
    """The request's IIIF access token (Authorization: Bearer), or None."""
    # Zope takes the header out of the request's environment into _auth
    # (where the user folders read it), so that no page can show it
    auth = getattr(REQUEST, "_auth", None) or ""
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def _own_origin(REQUEST):
    url = REQUEST.get("SERVER_URL", "")
    return url.rstrip("/")


def token_user(image, REQUEST, token):
    """The user a request's token names, wrapped in his user folder;
    Refused when the token is not honoured: forged, expired, of another
    origin than the page's, of a user who is gone, or of another user
    than the one the request is logged in as, or given before the user
    last logged out."""
    try:
        user_id, folder_path, origin, generation = tokens.read(
            tokens.secret_of(image), token)
    except tokens.BadToken as error:
        raise Refused(str(error)) from None
    asked_from = REQUEST.get_header("Origin", "")
    if asked_from:
        if asked_from != origin:
            raise Refused("the token belongs to another site's page")
    elif REQUEST.get_header("Sec-Fetch-Site", "") == "same-origin" and \
            origin != _own_origin(REQUEST):
        raise Refused("the token belongs to another site's page")
    current = getSecurityManager().getUser()
    if current is not None and current.getUserName() != "Anonymous User" \
            and current.getId() != user_id:
        raise Refused("the token belongs to another user")
    return named_user(image, user_id, folder_path, generation)


def named_user(obj, user_id, folder_path, generation):
    """The user a token or the access cookie names, wrapped in his user
    folder; Refused when he is gone or has logged out since it was
    given (his generation moved on: tokens.revoke)."""
    if generation != tokens.generation(obj._p_jar, user_id, folder_path):
        raise Refused("the token's user has logged out since")
    try:
        folder = obj.getPhysicalRoot().unrestrictedTraverse(
            folder_path.strip("/") or "acl_users")
        user = folder.getUserById(user_id)
    except (LookupError, AttributeError):
        user = None
    if user is None:
        raise Refused("the token's user is gone")
    return user.__of__(folder)


def user_allowed(user, permission, image):
    """Whether ``user`` (None: the request's own) has ``permission`` on
    ``image``, local roles and his user folder's reach counted."""
    if user is None:
        return getSecurityManager().checkPermission(permission, image)
    return user.allowed(image, rolesForPermissionOn(permission, image))


def sight(image, tiles, REQUEST=None):
    """What the request may see of ``tiles`` (the image's TileSet)."""
    token = bearer_token(REQUEST)
    limit = tiles.limit
    if token is None and not limit:
        return FULL
    user = token_user(image, REQUEST, token) if token is not None else None
    layout = tiles.layout
    if not limit or layout is None:
        return FULL if user is None or user_allowed(user, View, image) else \
            Sight(False, None, False)
    cut = cut_layout(layout, limit)
    if cut is layout:
        return Sight(True, None, True)
    if user_allowed(user, FULL_RESOLUTION, image) and \
            (user is None or user_allowed(user, View, image)):
        return Sight(True, None, True)
    if user is not None and not user_allowed(user, View, image):
        cut = None
    return Sight(False, cut, True)


def may_see(image, REQUEST=None):
    """The sight of the image's current set for this request."""
    return sight(image, image.tile_set(), REQUEST)


def anonymous_full(image):
    """True if a visitor who is not logged in sees every tier."""
    return "Anonymous" in rolesForPermissionOn(FULL_RESOLUTION, image)


def top_tier(seen):
    """The highest tier index the sight allows (-1: none)."""
    return seen.cut.num_tiers - 1 if seen.cut is not None else -1


def check_tile(seen, name):
    """Refused when the tile ``name`` lies above what ``seen`` allows."""
    if seen.full:
        return
    parsed = parse_tile_name(name)
    if parsed is None or parsed[1] > top_tier(seen):
        raise Refused("This tile is above the preview size of this image; "
                      "log in for full resolution.")


def check_tier(seen, tier):
    if not seen.full and tier > top_tier(seen):
        raise Refused("This request is above the preview size of this "
                      "image; log in for full resolution.")


def guarded(seen, get_tile):
    """``get_tile`` that reads nothing above the sight: the one way IIIF
    reaches pixels, so nothing composed can hold a finer tier."""
    if seen.full:
        return get_tile

    def get(name, *older):
        check_tile(seen, name)
        return get_tile(name, *older)
    # for what reads tiles from elsewhere first (iiif_pixels' decoded
    # tiles): asked before any copy of the tile is used
    get.check = functools.partial(check_tile, seen)
    return get


def refuse(RESPONSE, error):
    """The 401 answer of ``error`` (text/plain, never cached)."""
    RESPONSE.setStatus(401)
    RESPONSE.setHeader("WWW-Authenticate", 'Bearer realm="zoomify"')
    RESPONSE.setHeader("Content-Type", "text/plain; charset=utf-8")
    RESPONSE.setHeader("Cache-Control", "no-store")
    return (str(error) + "\n").encode("utf-8")
