"""IIIF Authorization Flow 2.0 on Zope's own users and permissions.

    IMAGE/iiif/probe              AuthProbeService2 of IMAGE/iiif
    SITE/@@zoomify-iiif-login     AuthAccessService2 (profile active):
                                  the site's login (Zope's Basic
                                  challenge, or the cookie login of a
                                  PAS site), then a page that closes
    SITE/@@zoomify-iiif-token     AuthAccessTokenService2 (postMessage
                                  page; JSON without messageId)
    SITE/@@zoomify-iiif-logout    AuthLogoutService2

An image carries them (info.json, the manifest) when anonymous may not
see all of it: a private image, or one with a preview size (resolution
.py) whose full resolution anonymous lacks. The probe says 200 to whom
sees it all, else 401 with a heading and a note, and names the preview
service (IMAGE/iiif-preview) as the substitute to whom may see it.

The services live at the site's root so that a browser's Basic
credentials, once given there, are sent for every path of the site.
"""

import json
import re
from urllib.parse import urlsplit

from AccessControl import Unauthorized
from AccessControl.class_init import InitializeClass
from AccessControl.PermissionRole import rolesForPermissionOn
from AccessControl.Permissions import view as View
from AccessControl.SecurityInfo import ClassSecurityInfo
from AccessControl.SecurityManagement import getSecurityManager
from Acquisition import Implicit
from Acquisition import aq_parent
from Products.Five.browser import BrowserView
from zope.interface import implementer
from zope.publisher.interfaces.browser import IBrowserPublisher
from ZPublisher import zpublish

from . import resolution
from . import tokens
from .listing import read_only
from .viewer import script_json
from .web_errors import NotFound

AUTH_CONTEXT = "http://iiif.io/api/auth/2/context.json"
LOGIN = "@@zoomify-iiif-login"
TOKEN = "@@zoomify-iiif-token"
LOGOUT = "@@zoomify-iiif-logout"
# the access service's cookie: what the token service's iframe carries
# when the client's page is on another site (browsers send no Basic
# credentials to a cross-site frame). Sent to the token service's path
# only, HttpOnly, SameSite=None (a cross-site frame) and so Secure:
# browsers keep it on https and on loopback http only
COOKIE = "zoomify_iiif_access"
# an origin as postMessage takes it: scheme, host, port; nothing more
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|"
                     r"https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")

HEADING = "Full resolution needs a login"
NOTE = ("Log in with an account of this site that may see this image at "
        "full resolution.")
PREVIEW_NOTE = ("You see a preview of this image. Log in with an account "
                "of this site that may see it at full resolution.")
PRIVATE_HEADING = "This image is not public"


def _en(text):
    return {"en": [text]}


def text_of(value):
    return value["en"][0]


def anonymous_sees_all(image, tiles):
    """True when a visitor who is not logged in sees every tier: then
    the image's documents carry no authorization services."""
    if "Anonymous" not in rolesForPermissionOn(View, image):
        return False
    if not tiles.limit or tiles.layout is None:
        return True
    return resolution.cut_layout(tiles.layout, tiles.limit) is \
        tiles.layout or resolution.anonymous_full(image)


def site_url(image):
    return image.getPhysicalRoot().absolute_url()


def probe_service(image, service_url):
    """The AuthProbeService2 of the image service at ``service_url``,
    with its access, token and logout services (no @context: the
    document's own lists the auth context first)."""
    site = site_url(image)
    return {
        "id": service_url + "/probe",
        "type": "AuthProbeService2",
        "errorHeading": _en(HEADING),
        "errorNote": _en(NOTE),
        "service": [{
            "id": site + "/" + LOGIN,
            "type": "AuthAccessService2",
            "profile": "active",
            "label": _en("Log in to this site"),
            "heading": _en(HEADING),
            "note": _en(NOTE),
            "confirmLabel": _en("Log in"),
            "service": [
                {"id": site + "/" + TOKEN,
                 "type": "AuthAccessTokenService2",
                 "errorHeading": _en("No access token"),
                 "errorNote": _en("This site could not give an access "
                                  "token: log in first.")},
                {"id": site + "/" + LOGOUT,
                 "type": "AuthLogoutService2",
                 "label": _en("Log out of this site")},
            ],
        }],
    }


def with_auth(doc, context, image, tiles, service_url, holder=None):
    """``doc`` with the probe service added to ``holder`` (default: the
    document itself) and the auth context first, when anonymous may not
    see the whole image."""
    if anonymous_sees_all(image, tiles):
        return doc
    doc["@context"] = [AUTH_CONTEXT, context]
    target = doc if holder is None else holder
    target.setdefault("service", []).append(
        probe_service(image, service_url))
    return doc


def preview_service(image, tiles):
    """The substitute of the full image service: IMAGE/iiif-preview, as
    a reference (None when no tier fits the preview size)."""
    cut = resolution.cut_layout(tiles.layout, tiles.limit) \
        if tiles.limit else None
    if cut is None or cut is tiles.layout:
        return None
    return {"id": image.absolute_url() + "/iiif-preview",
            "type": "ImageService3", "profile": "level2",
            "width": cut.width, "height": cut.height,
            "label": _en("Preview, %d x %d pixels" % (cut.width,
                                                      cut.height))}


def probe_result(image, tiles, REQUEST):
    """The AuthProbeResult2 for this request (a dict)."""
    result = {"@context": AUTH_CONTEXT, "type": "AuthProbeResult2"}
    try:
        if tiles.layout is None:
            raise resolution.Refused("This image has no tiles.")
        seen = resolution.sight(image, tiles, REQUEST)
        token = resolution.bearer_token(REQUEST)
        user = getSecurityManager().getUser() if token is None else \
            resolution.token_user(image, REQUEST, token)
        may_view = resolution.user_allowed(None if token is None else user,
                                       View, image)
    except resolution.Refused as error:
        result.update(status=401, heading=_en(PRIVATE_HEADING),
                      note=_en(str(error)))
        return result
    if may_view and seen.full:
        result["status"] = 200
        return result
    result["status"] = 401
    substitute = preview_service(image, tiles) if may_view else None
    if substitute is not None:
        result.update(heading=_en(HEADING), note=_en(PREVIEW_NOTE),
                      substitute=[substitute])
    else:
        result.update(heading=_en(PRIVATE_HEADING), note=_en(NOTE))
    return result


@zpublish
@implementer(IBrowserPublisher)
class Probe(Implicit):
    """IMAGE/iiif/probe: public (its answer is a status, for anyone), so
    that a client learns what a private image asks of it."""

    security = ClassSecurityInfo()
    security.declareObjectPublic()

    def browserDefault(self, request):
        return self, ("index_html",)

    def publishTraverse(self, request, name):
        if name == "index_html":
            return self.index_html
        raise NotFound("not found")

    @security.public
    @zpublish
    def index_html(self, REQUEST=None, RESPONSE=None):
        """The probe's answer (GET, HEAD; OPTIONS for CORS)."""
        image = aq_parent(self)
        method = REQUEST.get("REQUEST_METHOD", "GET")
        # any page may ask (the spec's clients run anywhere): the answer
        # is a status, and the token it reads is bound to its origin
        RESPONSE.setHeader("Access-Control-Allow-Origin", "*")
        if method == "OPTIONS":
            RESPONSE.setHeader("Access-Control-Allow-Methods",
                               "GET, HEAD, OPTIONS")
            RESPONSE.setHeader("Access-Control-Allow-Headers",
                               "Authorization, Accept")
            RESPONSE.setHeader("Access-Control-Max-Age", "600")
            RESPONSE.setStatus(204)
            return b""
        if method not in ("GET", "HEAD"):
            RESPONSE.setStatus(405)
            RESPONSE.setHeader("Allow", "GET, HEAD, OPTIONS")
            return b""
        body = json.dumps(probe_result(image, image.tile_set(), REQUEST),
                          indent=2).encode("utf-8")
        RESPONSE.setHeader("Content-Type", "application/ld+json;profile="
                           '"%s"' % AUTH_CONTEXT)
        RESPONSE.setHeader("Cache-Control", "private, no-store")
        RESPONSE.setHeader("Vary", "Authorization, Cookie")
        RESPONSE.setHeader("Content-Length", str(len(body)))
        return b"" if method == "HEAD" else body


InitializeClass(Probe)


# ------------------------------------------------------ site-wide views

_CLOSE_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8" />
<title>%(title)s</title><link rel="icon" href="data:," /></head>
<body><h1>%(title)s</h1><p>%(text)s</p>
<script>window.close();</script></body></html>
"""


def _page(RESPONSE, title, text, status=200):
    from html import escape
    RESPONSE.setStatus(status)
    RESPONSE.setHeader("Content-Type", "text/html; charset=utf-8")
    RESPONSE.setHeader("Cache-Control", "no-store")
    return _CLOSE_PAGE % {"title": escape(title), "text": escape(text)}


def local_path(value):
    """``value`` if it is a path of this site (the viewer page's link),
    else None: never a host. Browsers drop tab, CR and LF anywhere in a
    URL, and so does the publisher's redirect (urlsplit): '/<TAB>/host'
    is '//host', so no control character passes, nor a backslash
    (read as '/')."""
    if not isinstance(value, str) or not value.startswith("/") or \
            len(value) >= 2000 or "\\" in value or \
            any(ord(c) < 0x20 or ord(c) == 0x7f for c in value):
        return None
    return None if value.startswith("//") else value


def _logged_in(user):
    return user is not None and user.getUserName() != "Anonymous User"


def _cookie_path(context):
    return urlsplit(site_url(context) + "/" + TOKEN).path


def _cookie_user(context, request):
    """The user the access cookie names, or None (no cookie, forged,
    expired, of a user who is gone or has logged out since)."""
    value = request.cookies.get(COOKIE)
    if not isinstance(value, str) or not value:
        return None
    try:
        user_id, folder, _, generation = tokens.read(
            tokens.secret_of(context), value, kind=tokens.COOKIE_VERSION)
        return resolution.named_user(context, user_id, folder, generation)
    except (tokens.BadToken, resolution.Refused):
        return None


def _give_cookie(context, response, user):
    path = _folder_path(user)
    try:
        secret = tokens.secret_of(context)
    except tokens.BadToken:
        return
    value = tokens.issue(
        secret, user.getId(), path, "", lifetime=tokens.COOKIE_LIFETIME,
        generation=tokens.generation(context._p_jar, user.getId(), path),
        kind=tokens.COOKIE_VERSION)
    response.setCookie(COOKIE, value, path=_cookie_path(context),
                       max_age=tokens.COOKIE_LIFETIME, secure=True,
                       http_only=True, same_site="None")


class LoginView(BrowserView):
    """The access service: anonymous is asked to log in (Zope's
    challenge: 401 and the browser's Basic dialog, or the login form of
    a cookie site); a logged-in user gets a page that closes itself."""

    def __call__(self):
        read_only(self.request)  # a page to look at: GET and HEAD
        user = getSecurityManager().getUser()
        if not _logged_in(user):
            raise Unauthorized("Log in to see full resolution.")
        _give_cookie(self.context, self.request.response, user)
        back = local_path(self.request.form.get("came_from"))
        if back is not None:
            self.request.response.redirect(back)
            return ""
        return _page(self.request.response, "Logged in",
                     "You are logged in as %s. This window closes itself; "
                     "close it if it stays." % user.getUserName())


def _folder_path(user):
    """The physical path of the user folder of ``user``, as text."""
    folder = aq_parent(user)
    return "/".join(folder.getPhysicalPath()) if folder is not None \
        else "/acl_users"


class LogoutView(BrowserView):
    """The logout service: every token the user was given is revoked at
    once (tokens.revoke), the browser forgets its Basic credentials
    (Zope's own way: a 401 with a new challenge), and the page says so.
    (A GET changes the database here: the spec opens the service as a
    page, and what a forged link could do is log a user out.)"""

    def __call__(self):
        read_only(self.request)
        response = self.request.response
        for user in (getSecurityManager().getUser(),
                     _cookie_user(self.context, self.request)):
            if _logged_in(user):
                tokens.revoke(self.context._p_jar, user.getId(),
                              _folder_path(user))
        response.expireCookie(COOKIE, path=_cookie_path(self.context),
                              secure=True, http_only=True, same_site="None")
        response.setHeader("WWW-Authenticate",
                           'basic realm="%s"' % response.realm, 1)
        return _page(response, "Logged out",
                     "You are logged out of this site. This window closes "
                     "itself.", status=401)


def token_message(context, request, message_id, origin):
    """The AuthAccessToken2 or AuthAccessTokenError2 for this request."""
    def error(profile, heading, note):
        doc = {"@context": AUTH_CONTEXT, "type": "AuthAccessTokenError2",
               "profile": profile, "heading": _en(heading),
               "note": _en(note)}
        if message_id is not None:
            doc["messageId"] = message_id
        return doc
    if message_id is not None and not origin:
        return error("invalidRequest", "Bad request",
                     "The request names no origin.")
    if origin and not _ORIGIN.fullmatch(origin):
        return error("invalidOrigin", "Bad origin",
                     "The origin is not one a page can have.")
    user = getSecurityManager().getUser()
    if not _logged_in(user):
        user = _cookie_user(context, request)
    if not _logged_in(user):
        return error("missingAspect", "Not logged in",
                     "Log in to this site first.")
    path = _folder_path(user)
    try:
        secret = tokens.secret_of(context)
    except tokens.BadToken:
        return error("unavailable", "Not available",
                     "This site cannot give tokens now.")
    generation = tokens.generation(context._p_jar, user.getId(), path)
    doc = {"@context": AUTH_CONTEXT, "type": "AuthAccessToken2",
           "accessToken": tokens.issue(secret, user.getId(), path,
                                       origin or "", generation=generation),
           "expiresIn": tokens.LIFETIME}
    if message_id is not None:
        doc["messageId"] = message_id
    return doc


_TOKEN_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8" /><title>Token</title></head>
<body>%s<script>if (!window.askingAccess) \
window.parent.postMessage(%s, %s);</script></body></html>
"""
# Browsers that block third-party cookies (Safari, Firefox, Chromium)
# send the access cookie to no frame of another site's page: the frame
# asks for its own cookies (the Storage Access API; granted at once
# where the user allowed it, or after a prompt) and loads again, once,
# to post what it then knows
_ASK_ACCESS = """<script>
if (window.parent !== window && document.requestStorageAccess) {
  window.askingAccess = true;
  var again = function (v) {
    location.replace(location.href + "&zoomify-access=" + v); };
  document.requestStorageAccess().then(function () { again("1"); },
                                        function () { again("0"); });
}
</script>"""


class TokenView(BrowserView):
    """The access token service. With messageId and origin (a browser
    client's iframe): an HTML page that posts the token, or the error,
    to that origin only. Without messageId: the same object as JSON
    (for clients that are not in a browser). Never cached."""

    def __call__(self):
        read_only(self.request)
        form = self.request.form
        response = self.request.response
        message_id = form.get("messageId")
        origin = form.get("origin")
        if not isinstance(message_id, (str, type(None))) or \
                not isinstance(origin, (str, type(None))):
            message_id = origin = None
        doc = token_message(self.context, self.request, message_id, origin)
        response.setHeader("Cache-Control", "no-store")
        if message_id is None:
            response.setHeader("Content-Type", "application/json")
            if doc["type"] == "AuthAccessTokenError2":
                response.setStatus(401 if doc["profile"] == "missingAspect"
                                   else 400)
            return json.dumps(doc, indent=2)
        response.setHeader("Content-Type", "text/html; charset=utf-8")
        if doc.get("profile") in ("invalidOrigin", "invalidRequest"):
            # no origin it could be posted to: a page that posts nothing
            return _page(response, text_of(doc["heading"]),
                         text_of(doc["note"]))
        ask = _ASK_ACCESS if doc.get("profile") == "missingAspect" and \
            "zoomify-access" not in form else ""
        return _TOKEN_PAGE % (ask, script_json(doc), script_json(origin))
