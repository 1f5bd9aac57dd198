"""Changes come from this site's own pages, never from another site's.

Every changing method is published for POST only (``zpublish(methods=
"POST")``), so a link or an image tag cannot make a change. A form on
another site can still POST here with the manager's credentials (Basic
auth and cookies go along): browsers name the page's origin in ``Origin``
and, lately, ``Sec-Fetch-Site``, and a request that says it comes from
elsewhere is refused before anything changes. Requests without these
headers (scripts, curl, old browsers) are not cross-site form posts.
"""

from urllib.parse import urlsplit

from .web_errors import Forbidden

POST = "POST"

# what Sec-Fetch-Site says of a request the user made on our own pages or
# typed in
_OWN = ("same-origin", "none")


def _origin(url):
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.scheme.lower(), (parts.hostname or "").lower(), port)


def check_same_origin(REQUEST):
    """Raise Forbidden when the request comes from another site's page."""
    if REQUEST is None:
        return  # called from Python, not published
    fetch_site = REQUEST.get_header("Sec-Fetch-Site", "").strip().lower()
    if fetch_site and fetch_site not in _OWN:
        raise Forbidden("Changes are accepted only from this site's own "
                        "pages.")
    origin = REQUEST.get_header("Origin", "").strip()
    if origin and _origin(origin) != _origin(REQUEST.get("SERVER_URL", "")):
        # "null" (a sandboxed or file: page) is never our origin either
        raise Forbidden("Changes are accepted only from this site's own "
                        "pages.")
