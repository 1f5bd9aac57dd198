"""IIIF access tokens (Authorization Flow 2.0): short-lived, bound to the
user and to the origin of the page that asked, signed with HMAC-SHA256
by a secret of the site's own.

The secret is made once, at the first start, and kept in the database's
root (as identity.py keeps the database's id): every Zope client of one
database signs and checks alike, and nothing on disc outside it holds
the key. A token is no credential elsewhere: it names a user, and is
honoured only while it is unexpired, its signature holds, the page that
shows it is of its origin, the user still exists, and he has not logged
out since it was given: each user has a generation number (a BTree in
the database's root, made at start-up like the secret), signed into his
tokens and bumped by the logout service, which revokes every token he
was given before at once, on every Zope client of the database.
"""

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
import weakref

from BTrees.OOBTree import OOBTree

from . import identity

ROOT_KEY = "zoomifyimage.token-secret"
LIFETIME = 300      # seconds; the spec's expiresIn
VERSION = "zt1"
# the access service's cookie (iiif_auth.py): signed alike, but of its
# own kind, so that neither is ever taken for the other
COOKIE_VERSION = "zc1"
COOKIE_LIFETIME = 8 * 3600
GENERATIONS_KEY = "zoomifyimage.token-generations"

_known = weakref.WeakKeyDictionary()   # DB -> its secret


class BadToken(Exception):
    """A token that is not honoured; the text says why (for the log and
    the 401's text: it names nothing of the server)."""


def make_secret(db):
    """The secret of ``db``, made and committed (in a transaction of its
    own) if it has none; None for a read-only database without one."""
    secret = _known.get(db)
    if secret is None:
        secret = identity.made_once(db, ROOT_KEY,
                                    lambda: secrets.token_bytes(32),
                                    "Zoomify Image: the IIIF token key")
        if secret is not None:
            _known[db] = secret
    return secret


def secret_of(obj):
    """The secret of the database ``obj`` lives in."""
    connection = obj._p_jar
    db = connection.db()
    secret = _known.get(db)
    if secret is None:
        secret = connection.root().get(ROOT_KEY) or make_secret(db)
        if secret is None:
            raise BadToken("this site cannot sign tokens")
        _known[db] = secret
    return secret


def database_opened(event):
    """At start-up: the secret and the generations exist before the
    first token is asked (a logout then changes a BTree, never the
    root, where other start-up writes would conflict)."""
    make_secret(event.database)
    identity.made_once(event.database, GENERATIONS_KEY, OOBTree,
                       "Zoomify Image: the IIIF token generations")


def generation(connection, user_id, folder_path):
    """The user's token generation in ``connection``'s database (0 until
    his first logout)."""
    tree = connection.root().get(GENERATIONS_KEY)
    return 0 if tree is None else tree.get((folder_path, user_id), 0)


def revoke(connection, user_id, folder_path):
    """Every token given to the user so far is refused from now on (in
    the caller's transaction)."""
    root = connection.root()
    tree = root.get(GENERATIONS_KEY)
    if tree is None:  # a database opened before the tree existed
        tree = root[GENERATIONS_KEY] = OOBTree()
    key = (folder_path, user_id)
    tree[key] = tree.get(key, 0) + 1


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret, body):
    return hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest()


def issue(secret, user_id, folder_path, origin, now=None, lifetime=None,
          generation=0, kind=VERSION):
    """A token for the user ``user_id`` of the user folder at
    ``folder_path`` (its physical path as text), the page origin
    ``origin`` and the user's current ``generation``."""
    lifetime = LIFETIME if lifetime is None else lifetime
    expires = int(now if now is not None else time.time()) + lifetime
    payload = json.dumps({"u": user_id, "f": folder_path, "o": origin,
                          "e": expires, "g": generation},
                         separators=(",", ":"), sort_keys=True)
    body = kind + "." + _b64(payload.encode("utf-8"))
    return body + "." + _b64(_sign(secret, body))


# tokens whose signature held: a viewer sends the same one with every
# tile, and checking it again (base64, JSON, HMAC) was most of what a
# token cost a tile (benchmarks/bench_auth.py); the expiry is still
# read every time. Bounded: emptied when full.
_verified = {}
VERIFIED_MAX = 4096


def read(secret, token, now=None, kind=VERSION):
    """(user id, user folder path, origin, generation) of a token that
    is signed by ``secret`` and unexpired; BadToken otherwise (the
    generation is the caller's to compare: it changes at logout)."""
    now = time.time() if now is None else now
    known = _verified.get((secret, token))
    if known is not None:
        if known[3] <= now:
            raise BadToken("the token has expired")
        return known[:3] + known[4:]
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != kind or len(token) > 2048:
        raise BadToken("not a token of this site")
    body = parts[0] + "." + parts[1]
    try:
        signature = _unb64(parts[2])
        payload = json.loads(_unb64(parts[1]))
    except (ValueError, binascii.Error):
        raise BadToken("not a token of this site") from None
    if not hmac.compare_digest(signature, _sign(secret, body)):
        raise BadToken("the token's signature does not hold")
    try:
        user, folder, origin = payload["u"], payload["f"], payload["o"]
        expires, generation = int(payload["e"]), payload["g"]
    except (KeyError, TypeError, ValueError):
        raise BadToken("not a token of this site") from None
    if expires <= now:
        raise BadToken("the token has expired")
    if not all(isinstance(v, str) for v in (user, folder, origin)) or \
            type(generation) is not int:
        raise BadToken("not a token of this site")
    if len(_verified) >= VERIFIED_MAX:
        _verified.clear()
    _verified[(secret, token)] = (user, folder, origin, expires, generation)
    return user, folder, origin, generation
