"""IIIF Authorization Flow 2.0 through the publisher: the services an
image carries when anonymous may not see it whole, the probe's answers,
the token service's postMessage page and JSON forms, and the tokens:
honoured on tiles, IIIF and the probe; expired, of another origin, of
another user, forged: refused. The flow in Chromium:
test_degraded_browser.py."""

import json
import re
import time

import pytest

from tests.degraded_images import ORIGIN
from tests.degraded_images import RESEARCHER
from tests.degraded_images import VISITOR
from tests.degraded_images import above
from tests.degraded_images import app
from tests.degraded_images import basic
from tests.degraded_images import degraded_image
from tests.images import colourful
from tests.zope_fixtures import put_jpeg
from tests.zope_fixtures import zope_root
from ZoomifyImage import tokens

AUTH = "http://iiif.io/api/auth/2/context.json"
JPEG = b"\xff\xd8"


def posted(page):
    """(message, targetOrigin) the token service's page posts."""
    match = re.search(r"window\.parent\.postMessage\((\{.*\}), (\"[^\"]*\")"
                      r"\);</script>", page)
    assert match, page
    return json.loads(match.group(1)), json.loads(match.group(2))


def token_for(web, user, origin=ORIGIN, message="m1"):
    page = web.get("/@@zoomify-iiif-token", params={
        "messageId": message, "origin": origin},
        headers={"Authorization": basic(user)})
    assert page.headers["Cache-Control"] == "no-store"
    message, target = posted(page.text)
    assert target == origin
    return message["accessToken"]


def bearer(token, origin=ORIGIN):
    return {"Authorization": "Bearer " + token, "Origin": origin}


@pytest.fixture
def image(folder, tmp_path):
    return degraded_image(folder, tmp_path, (2049, 1025))


def test_the_documents_carry_the_services(image, folder, tmp_path):
    path = image[0]
    web = app()
    info = web.get(path + "/iiif/info.json").json
    assert info["@context"] == [AUTH, "http://iiif.io/api/image/3/"
                                "context.json"]
    (probe,) = info["service"]
    assert probe["type"] == "AuthProbeService2"
    assert probe["id"].endswith(path + "/iiif/probe")
    (access,) = probe["service"]
    assert access["type"] == "AuthAccessService2"
    assert access["profile"] == "active"
    assert access["id"].endswith("/@@zoomify-iiif-login")
    for name in ("label", "heading", "note", "confirmLabel"):
        assert access[name]["en"][0]
    kinds = {s["type"]: s for s in access["service"]}
    assert set(kinds) == {"AuthAccessTokenService2", "AuthLogoutService2"}
    assert kinds["AuthLogoutService2"]["label"]["en"][0]
    # the manifest: with the image service, the auth context first
    manifest = web.get(path + "/manifest.json").json
    assert manifest["@context"][0] == AUTH
    body = manifest["items"][0]["items"][0]["items"][0]["body"]
    assert body["service"][0]["service"][0] == probe
    # a public image without a preview size has none of it
    public = put_jpeg(folder, "open", colourful(600, 400, seed=2), tmp_path)
    info = web.get(public + "/iiif/info.json").json
    assert info["@context"] == "http://iiif.io/api/image/3/context.json"
    assert "service" not in info


def test_the_probe_says_who_sees_what(image):
    path, _, layout, cut = image
    web = app()
    result = web.get(path + "/iiif/probe").json
    assert result["@context"] == AUTH
    assert result["type"] == "AuthProbeResult2"
    assert result["status"] == 401
    assert result["heading"]["en"][0] and result["note"]["en"][0]
    (substitute,) = result["substitute"]
    assert substitute["id"].endswith(path + "/iiif-preview")
    assert substitute["type"] == "ImageService3"
    assert (substitute["width"], substitute["height"]) == (cut.width,
                                                          cut.height)
    # logged in (Basic): the researcher sees everything, the visitor not
    got = web.get(path + "/iiif/probe",
                  headers={"Authorization": basic(RESEARCHER)})
    assert got.json == {"@context": AUTH, "type": "AuthProbeResult2",
                        "status": 200}
    assert got.headers["Cache-Control"] == "private, no-store"
    assert web.get(path + "/iiif/probe", headers={
        "Authorization": basic(VISITOR)}).json["status"] == 401
    # CORS: any client page may ask, with its token
    pre = web.options(path + "/iiif/probe", headers={
        "Origin": ORIGIN, "Access-Control-Request-Headers": "authorization"})
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    assert pre.headers["Access-Control-Allow-Origin"] == "*"


def test_a_private_image_probes_401_without_a_substitute(folder, tmp_path):
    path = put_jpeg(folder, "closed", colourful(600, 400, seed=2), tmp_path)
    with zope_root() as root:
        root.unrestrictedTraverse(path.lstrip("/")).manage_permission(
            "View", ["Manager", "Researcher"])
    web = app()
    assert web.get(path + "/iiif/info.json", expect_errors=True) \
        .status_int == 401
    result = web.get(path + "/iiif/probe").json
    assert result["status"] == 401 and "substitute" not in result
    info = web.get(path + "/iiif/info.json",
                   headers={"Authorization": basic(("admin", "secret"))})
    assert info.json["service"][0]["type"] == "AuthProbeService2"


def test_a_token_opens_full_resolution(image):
    path, _, layout, cut = image
    web = app()
    token = token_for(web, RESEARCHER)
    high = path + "/" + above(layout, cut)[-1]
    assert web.get(high, expect_errors=True).status_int == 401
    got = web.get(high, headers=bearer(token))
    assert got.body.startswith(JPEG)
    assert got.headers["Cache-Control"].startswith("private")
    assert web.get(path + "/iiif/full/max/0/default.jpg",
                   headers=bearer(token)).body.startswith(JPEG)
    assert web.get(path + "/iiif/probe", headers=bearer(token)) \
        .json["status"] == 200
    assert web.get(path + "/ImageProperties.xml", headers=bearer(token)) \
        .body == layout.properties_xml()
    # without an Origin (not a browser's cross-origin request) as well
    assert web.get(high, headers={"Authorization": "Bearer " + token}) \
        .body.startswith(JPEG)
    # the visitor's token is his: the preview only
    visitor = token_for(web, VISITOR)
    assert web.get(high, headers=bearer(visitor),
                   expect_errors=True).status_int == 401
    result = web.get(path + "/iiif/probe", headers=bearer(visitor)).json
    assert result["status"] == 401 and result["substitute"]


def _refused(web, path, headers):
    for url in (path + "/TileGroup0/0-0-0.jpg",
                path + "/ImageProperties.xml",
                path + "/iiif/0,0,256,256/256,256/0/default.jpg",
                path + "/iiif/info.json", path + "/manifest.json",
                path + "/iiif-preview/info.json",
                path + "/iiif-preview/full/max/0/default.jpg"):
        got = web.get(url, headers=headers, expect_errors=True)
        assert got.status_int == 401, (url, got.status)
        assert not got.body.startswith(JPEG)
    # the probe does not honour it either (HTTP 200, status 401)
    result = web.get(path + "/iiif/probe", headers=headers).json
    assert result["status"] == 401


def test_bad_tokens_are_refused_everywhere(image):
    path, _, layout, cut = image
    web = app()
    good = token_for(web, RESEARCHER)
    with zope_root() as root:
        secret = tokens.secret_of(root)
    # expired
    old = tokens.issue(secret, "researcher", "/acl_users", ORIGIN,
                       now=time.time() - tokens.LIFETIME - 1)
    _refused(web, path, bearer(old))
    # another origin's page shows it
    _refused(web, path, bearer(good, origin="http://evil.example"))
    # a page of this site shows another site's token
    _refused(web, path, {"Authorization": "Bearer " + good,
                         "Sec-Fetch-Site": "same-origin"})
    # forged: signed with another key; payload changed to another user
    _refused(web, path, bearer(tokens.issue(b"x" * 32, "researcher",
                                            "/acl_users", ORIGIN)))
    version, payload, signature = good.split(".")
    visitor = token_for(web, VISITOR).split(".")
    _refused(web, path, bearer(".".join([version, visitor[1], signature])))
    _refused(web, path, bearer(".".join([version, payload, visitor[2]])))
    _refused(web, path, bearer("not-a-token"))
    # a user who is gone
    with zope_root() as root:
        root.acl_users._doDelUsers(["researcher"])
    _refused(web, path, bearer(good))


def test_the_token_service(image):
    web = app()
    # anonymous: missingAspect, posted to the origin that asked
    page = web.get("/@@zoomify-iiif-token",
                   params={"messageId": "a1", "origin": ORIGIN})
    message, target = posted(page.text)
    assert target == ORIGIN
    assert message["type"] == "AuthAccessTokenError2"
    assert message["profile"] == "missingAspect"
    assert message["messageId"] == "a1" and message["@context"] == AUTH
    assert message["heading"]["en"][0]
    # a token: the spec's message
    page = web.get("/@@zoomify-iiif-token", params={
        "messageId": "</script><b>", "origin": ORIGIN},
        headers={"Authorization": basic(RESEARCHER)})
    assert "</script><b>" not in page.text  # escaped inside the script
    message, _ = posted(page.text)
    assert message["type"] == "AuthAccessToken2"
    assert message["messageId"] == "</script><b>"
    assert message["expiresIn"] == tokens.LIFETIME
    # no origin: invalidRequest; a malformed one: nothing is posted
    page = web.get("/@@zoomify-iiif-token", params={"messageId": "a2"},
                   headers={"Authorization": basic(RESEARCHER)})
    assert "postMessage" not in page.text and "no origin" in page.text
    page = web.get("/@@zoomify-iiif-token", params={
        "messageId": "a3", "origin": "javascript:alert(1)"},
        headers={"Authorization": basic(RESEARCHER)})
    assert "postMessage" not in page.text
    # the JSON form, without messageId
    got = web.get("/@@zoomify-iiif-token", expect_errors=True)
    assert got.status_int == 401
    assert got.json["profile"] == "missingAspect"
    got = web.get("/@@zoomify-iiif-token", params={"origin": ORIGIN},
                  headers={"Authorization": basic(RESEARCHER)})
    assert got.json["type"] == "AuthAccessToken2"
    assert got.headers["Cache-Control"] == "no-store"


def test_login_and_logout_pages(image):
    path = image[0]
    web = app()
    got = web.get("/@@zoomify-iiif-login", params={"origin": ORIGIN},
                  expect_errors=True)
    assert got.status_int == 401
    assert got.headers["WWW-Authenticate"].lower().startswith("basic")
    page = web.get("/@@zoomify-iiif-login", params={"origin": ORIGIN},
                   headers={"Authorization": basic(RESEARCHER)})
    assert "window.close()" in page.text and "researcher" in page.text
    # the viewer page's link comes back to it; never to another host
    back = web.get("/@@zoomify-iiif-login", params={"came_from": path},
                   headers={"Authorization": basic(RESEARCHER)})
    assert back.status_int == 302 and back.headers["Location"].endswith(path)
    # browsers drop tab and newline inside a URL ('/<TAB>/host' is
    # '//host'), and so does the publisher's redirect
    for evil in ("//evil.example/x", "http://evil.example/",
                 "/\\evil.example", "/\t/evil.example/x",
                 "/\n/evil.example", "/\r\n/evil.example",
                 "/\x0b/evil.example"):
        page = web.get("/@@zoomify-iiif-login", params={"came_from": evil},
                       headers={"Authorization": basic(RESEARCHER)})
        assert page.status_int == 200, (evil, page.headers.get("Location"))
    got = web.get("/@@zoomify-iiif-logout", expect_errors=True)
    assert got.status_int == 401
    assert got.headers["WWW-Authenticate"].lower().startswith("basic")
    assert "logged out" in got.text


def test_a_token_of_another_user_than_the_logged_in_one(image):
    """A site that logs users in by cookie (PAS) can see a request that
    is logged in as one user and carries another's token: refused. (A
    plain Zope's Basic login and a token share the Authorization header,
    so the request here is made in process, logged in as the manager.)"""
    from ZoomifyImage import resolution
    path = image[0]
    web = app()
    token = token_for(web, RESEARCHER)
    with zope_root(commit=False) as root:
        target = root.unrestrictedTraverse(path.lstrip("/"))
        request = root.REQUEST
        request._auth = "Bearer " + token
        request.environ["HTTP_ORIGIN"] = ORIGIN
        with pytest.raises(resolution.Refused, match="another user"):
            resolution.sight(target, target.tile_set(), request)
        # his own token is his
        request._auth = "Bearer " + token_for(web, ("admin", "secret"))
        assert resolution.sight(target, target.tile_set(), request).full


def test_a_token_opens_the_probe_of_a_private_image(image, folder,
                                                    tmp_path):
    path = put_jpeg(folder, "closed", colourful(600, 400, seed=2), tmp_path)
    with zope_root() as root:
        root.unrestrictedTraverse(path.lstrip("/")).manage_permission(
            "View", ["Manager"])
    web = app()
    assert web.get(path + "/iiif/probe").json["status"] == 401
    admin = token_for(web, ("admin", "secret"))
    assert web.get(path + "/iiif/probe", headers=bearer(admin)) \
        .json["status"] == 200
    visitor = token_for(web, VISITOR)
    assert web.get(path + "/iiif/probe", headers=bearer(visitor)) \
        .json["status"] == 401


def test_the_site_services_answer_get_and_head_only(image):
    """The login, token and logout services are read only: any other
    method is 405 (they ran for all, a DELETE gave a token)."""
    web = app()
    for name in ("/@@zoomify-iiif-login", "/@@zoomify-iiif-token",
                 "/@@zoomify-iiif-logout"):
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS",
                       "PROPFIND"):
            got = web.request(name, method=method, expect_errors=True,
                              headers={"Authorization": basic(RESEARCHER)})
            assert got.status_int == 405, (name, method, got.status)
            assert "accessToken" not in got.text
        got = web.request(name, method="HEAD", expect_errors=True,
                          headers={"Authorization": basic(RESEARCHER)})
        assert got.status_int in (200, 401), (name, got.status)


def test_logout_revokes_the_users_tokens_at_once(image):
    """A token given before the user logs out is refused right after,
    long before it would expire; another user's token still holds, and
    a token given after a new login is honoured."""
    path, _, layout, cut = image
    web = app()
    token = token_for(web, RESEARCHER)
    other = token_for(web, ("admin", "secret"))
    high = path + "/" + above(layout, cut)[-1]
    assert web.get(path + "/iiif/probe", headers=bearer(token)) \
        .json["status"] == 200
    got = web.get("/@@zoomify-iiif-logout", expect_errors=True,
                  headers={"Authorization": basic(RESEARCHER)})
    assert got.status_int == 401 and "logged out" in got.text
    assert web.get(path + "/iiif/probe", headers=bearer(token)) \
        .json["status"] == 401
    _refused(web, path, bearer(token))
    assert web.get(high, headers=bearer(token),
                   expect_errors=True).status_int == 401
    assert web.get(path + "/iiif/probe", headers=bearer(other)) \
        .json["status"] == 200
    fresh = token_for(web, RESEARCHER)
    assert web.get(high, headers=bearer(fresh)).body.startswith(JPEG)


def test_a_client_on_another_site_is_answered_by_cors(image):
    """What a client page of another origin needs: the preflight of an
    image request allows its Authorization header, and the answers it
    reads with its token say Access-Control-Allow-Origin (never with
    credentials: no cookie or Basic login goes with '*')."""
    path, _, layout, cut = image
    web = app()
    url = path + "/iiif/full/max/0/default.jpg"
    pre = web.options(url, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert pre.status_int == 204
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    assert pre.headers["Access-Control-Allow-Origin"] == "*"
    token = token_for(web, RESEARCHER)
    got = web.get(url, headers=bearer(token))
    assert got.body.startswith(JPEG)
    assert got.headers["Access-Control-Allow-Origin"] == "*"
    assert got.headers["Cache-Control"].startswith("private")
    for answer in (pre, got, web.get(path + "/iiif/info.json"),
                   web.get(path + "/iiif/probe", headers=bearer(token))):
        assert "Access-Control-Allow-Credentials" not in answer.headers
        assert answer.headers["Access-Control-Allow-Origin"] == "*"


def test_the_access_cookie_opens_the_token_service(image):
    """The access service leaves a cookie for the token service only
    (another site's frame gets no Basic credentials); logout revokes
    and clears it."""
    web = app()
    login = web.get("/@@zoomify-iiif-login", params={"origin": ORIGIN},
                    headers={"Authorization": basic(RESEARCHER)})
    (cookie,) = [v for k, v in login.headerlist if k == "Set-Cookie"]
    attributes = {a.strip().split("=")[0].lower() for a in
                  cookie.split(";")[1:]}
    assert {"path", "secure", "httponly", "samesite"} <= attributes
    assert "Path=/@@zoomify-iiif-token" in cookie
    assert "SameSite=None" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    # the cookie alone gets a token; it is no token itself
    jar = {"Cookie": "zoomify_iiif_access=" + value}
    message, _ = posted(web.get("/@@zoomify-iiif-token", params={
        "messageId": "c1", "origin": ORIGIN}, headers=jar).text)
    assert message["type"] == "AuthAccessToken2"
    assert web.get(image[0] + "/iiif/probe", headers=bearer(
        value)).json["status"] == 401
    # logout with the cookie: it is revoked, and so is the token
    out = web.get("/@@zoomify-iiif-logout", headers=jar,
                  expect_errors=True)
    assert "zoomify_iiif_access=deleted" in out.headers["Set-Cookie"]
    assert web.get(image[0] + "/iiif/probe", headers=bearer(
        message["accessToken"])).json["status"] == 401
    again, _ = posted(web.get("/@@zoomify-iiif-token", params={
        "messageId": "c2", "origin": ORIGIN}, headers=jar).text)
    assert again["profile"] == "missingAspect"
