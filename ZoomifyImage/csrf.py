"""Changes come from this site's own pages, never from another site's.

Every changing method is published for POST only (``zpublish(methods=
"POST")``), so a link or an image tag cannot make a change. A form on
another site can still POST here with the manager's credentials (Basic
auth and cookies go along): browsers name the page's origin in ``Origin``
and, lately, ``Sec-Fetch-Site``, and a request that says it comes from
elsewhere is refused before anything changes. Requests without these
headers (scripts, curl, old browsers) are not cross-site form posts.
"""

from types import MethodType
from urllib.parse import urlsplit

from AccessControl.Permission import getPermissionIdentifier
from AccessControl.Permissions import access_contents_information
from AccessControl.Permissions import view
from AccessControl.SimpleObjectPolicies import _noroles
from Acquisition import aq_base

from . import config
from .web_errors import Forbidden

POST = "POST"

# what Sec-Fetch-Site says of a request the user made on our own pages or
# typed in
_OWN = ("same-origin", "none")


def _origin(url):
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.scheme.lower(), (parts.hostname or "").lower(), port)


def from_another_site(REQUEST):
    """True when the browser says the request comes from another site's
    page (Sec-Fetch-Site, or an Origin that is not ours)."""
    fetch_site = REQUEST.get_header("Sec-Fetch-Site", "").strip().lower()
    if fetch_site:
        # the browser's own word, which no page can change: trusted over
        # comparing Origin with the URL Zope believes it has (a proxy that
        # changes the scheme or port without VirtualHostBase would make
        # every form of the ZMI look foreign)
        return fetch_site not in _OWN
    origin = REQUEST.get_header("Origin", "").strip()
    # "null" (a sandboxed or file: page) is never our origin either
    return bool(origin) and \
        _origin(origin) != _origin(REQUEST.get("SERVER_URL", ""))


def check_same_origin(REQUEST):
    """Raise Forbidden when the request comes from another site's page."""
    if REQUEST is None:
        return  # called from Python, not published
    if from_another_site(REQUEST):
        raise Forbidden("Changes are accepted only from this site's own "
                        "pages.")


def _management_name(name):
    return name == "manage" or name.startswith("manage_")


# What a page of another site may ask for: what visitors see and traverse.
# Zope publishes changes for GET under other names than manage_* too
# (the user folder's setDomainAuthenticationMode, an ordered folder's
# moveObjectsByDelta, ZCacheable_setEnabled, ...: issue 23, review), so
# whatever is protected by any other permission is management as well.
VISITORS = frozenset(getPermissionIdentifier(p) for p in (
    view, access_contents_information))


def _roles_object(container, name, value):
    """What protects ``value``, found where the publisher finds it (the
    object's own __roles__, else its container's NAME__roles__), but
    read from the class, unwrapped: through an acquisition wrapper a
    permission turns into the roles that have it here."""
    if isinstance(value, MethodType):
        container, value = value.__self__, None
    roles = _noroles
    if value is not None:
        base = aq_base(value)
        roles = getattr(base, "__dict__", {}).get("__roles__", _noroles)
        if roles is _noroles:
            roles = getattr(type(base), "__roles__", _noroles)
    if roles is _noroles and name and container is not None:
        roles = getattr(type(aq_base(container)), name + "__roles__",
                        _noroles)
    return roles


def _for_visitors(request):
    """Whether what the request publishes is protected by a visitor's
    permission (View, Access contents information) or by none. A private
    image's tiles are for visitors too: the permission counts, not who
    has it here."""
    steps = list(getattr(request, "steps", ()) or ())
    roles = _roles_object((request.get("PARENTS") or [None])[0],
                          str(steps[-1]) if steps else "",
                          request.get("PUBLISHED"))
    if roles is _noroles or roles is None:
        return True   # what Zope itself treats as public
    if isinstance(roles, (tuple, list)):
        return "Anonymous" in roles
    return getattr(roles, "_p", None) in VISITORS


def guard_management(event):
    """Any management name of the whole site (manage, manage_*: Zope's own
    too), asked from another site's page, is refused (403) before it runs.

    Zope publishes many changing methods for GET (manage_delObjects,
    manage_changeProperties, ...), so an <img> on another site could make
    a logged-in manager's browser delete or change things (issue 23, M3).
    So is anything published under another name that needs more than a
    visitor's permissions (View, Access contents information).
    Browsers say where such a request comes from; a management page opened
    from a link elsewhere is refused too (the message says to open it
    here). Requests that say nothing (scripts, curl) pass. The setting
    cross-site-guard off turns the guard off (IPubAfterTraversal)."""
    request = event.request
    if not config.settings().cross_site_guard:
        return
    if not from_another_site(request):
        return
    steps = list(getattr(request, "steps", ()) or ())
    if any(_management_name(str(step)) for step in steps) or \
            not _for_visitors(request):
        raise Forbidden("Management pages open only from this site's own "
                        "pages: type the address or use the ZMI.")
