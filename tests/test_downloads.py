"""Download control through the real publisher (zope.testbrowser): the
original takes "Download Zoomify originals" (Manager and Owner, not given
with View); who may only view gets the site's public-download at
IMAGE/download.jpg, made from the tiles; the viewer page's link says
which. Anonymous, a viewer (View only), an Owner and a Manager, on a
public and a private image."""

import base64
import io
import re

import pytest
from PIL import Image

from tests.test_viewer_pages import Elements
from tests.zope_fixtures import ADMIN
from tests.zope_fixtures import BASE
from tests.zope_fixtures import add
from tests.zope_fixtures import body
from tests.zope_fixtures import browser
from tests.zope_fixtures import status
from tests.zope_fixtures import zope_root

PHOTO = {"width": 700, "height": 500, "name": "harbour.png"}
VIEWER = ("viewer", "viewer-secret")
OWNER = ("owner", "owner-secret")
EDITOR = ("editor", "editor-secret")
DOWNLOAD = "Download Zoomify originals"


def get(url, user=None):
    b = browser(login=False)
    if user is not None:
        token = base64.b64encode(("%s:%s" % user).encode()).decode()
        b.addHeader("Authorization", "Basic " + token)
    b.open(url)
    return b


def link(b):
    """The viewer page's download link: (path, text), or None."""
    found = Elements(b.contents).find("a", id="zoomify-download")
    if not found:
        return None
    text = re.search(r'id="zoomify-download"[^>]*>([^<]*)</a>',
                     b.contents).group(1)
    return found[0]["href"], text


def jpeg_size(b):
    assert b.headers["Content-Type"] == "image/jpeg"
    return Image.open(io.BytesIO(body(b))).size


@pytest.fixture
def site(folder, photo):
    """pub (anonymous may view) and priv (View for Manager, Owner and
    Viewer only) in ``folder``; the viewer has View at the root, the owner
    is the local Owner of both images, the editor may change images and
    see the ZMI but has no download permission."""
    with zope_root() as app:
        for role, permissions in (
                ("Viewer", ["View"]),
                ("Editor", ["View", "View management screens",
                            "Access contents information",
                            "Change Images and Files"])):
            if role not in app.valid_roles():
                app._addRole(role)
            app.manage_role(role, permissions=permissions)
        for (name, password), roles in ((VIEWER, ["Viewer"]),
                                        (OWNER, []), (EDITOR, ["Editor"])):
            if app.acl_users.getUser(name) is None:
                app.acl_users._doAddUser(name, password, roles, [])
    add(folder, photo, "pub")
    add(folder, photo, "priv")
    with zope_root() as app:
        for id in ("pub", "priv"):
            app[folder][id].manage_addLocalRoles(OWNER[0], ["Owner"])
        app[folder]["priv"].manage_permission(
            "View", ["Manager", "Owner", "Viewer"], acquire=0)
    return "%s/%s" % (BASE, folder)


def _private(control):
    return "private" in control and "public" not in control


def test_who_gets_what(site, photo, zope_settings):
    zope_settings(**{"public-download": "tier 400"})
    original = open(photo, "rb").read()
    path = site[len(BASE):]
    for who, user in (("anonymous", None), ("viewer", VIEWER),
                      ("owner", OWNER), ("manager", ADMIN)):
        for id in ("pub", "priv"):
            image = "%s/%s" % (site, id)
            page = get(image, user)
            what = (who, id)
            if who == "anonymous" and id == "priv":
                for name in ("", "/download", "/download.jpg"):
                    assert status(get(image + name, user)) == 401, name
                continue
            assert status(page) == 200, what
            download = get(image + "/download", user)
            reduced = get(image + "/download.jpg", user)
            if who in ("anonymous", "viewer"):
                # the original: refused (a login may give it)
                assert status(download) in (401, 403), what
                assert body(download) != original
                assert link(page) == ("%s/%s/download.jpg" % (path, id),
                                      "Download 350 x 250 JPEG"), what
            else:
                assert status(download) == 200, what
                assert body(download) == original, what
                # the original is this user's, never a shared cache's
                assert _private(download.headers["Cache-Control"]), what
                assert link(page) == ("%s/%s/download" % (path, id),
                                      "Download original (%s PNG)"
                                      % _kb(len(original))), what
                assert _private(page.headers["Cache-Control"]), what
            # the reduced download, for anyone who may view
            assert status(reduced) == 200, what
            assert jpeg_size(reduced) == (350, 250)
            assert reduced.headers["Content-Disposition"].startswith(
                "attachment;")
            assert "harbour-350x250.jpg" in \
                reduced.headers["Content-Disposition"]
            control = reduced.headers["Cache-Control"]
            if id == "priv":
                assert _private(control), what
                assert _private(page.headers["Cache-Control"]), what
            else:
                assert "public" in control, what
                if who in ("anonymous", "viewer"):
                    assert page.headers["Cache-Control"] == "no-cache"


def _kb(size):
    return "%.1f KB" % (size / 1e3) if size < 1e5 else \
        "%d KB" % (size / 1e3)


def test_no_public_download(site, zope_settings):
    zope_settings(**{"public-download": "none"})
    for user in (None, VIEWER):
        page = get(site + "/pub", user)
        assert status(page) == 200
        assert link(page) is None
        assert "zoomify-download" not in page.contents
        assert status(get(site + "/pub/download.jpg", user)) == 404
        assert status(get(site + "/pub/download", user)) in (401, 403)
    assert link(get(site + "/pub", ADMIN))[1].startswith(
        "Download original (")


def test_public_download_as_a_iiif_size(site, zope_settings):
    zope_settings(**{"public-download": "iiif !300,300"})
    b = get(site + "/pub/download.jpg")
    assert status(b) == 200 and jpeg_size(b) == (300, 214)
    assert link(get(site + "/pub"))[1] == "Download 300 x 214 JPEG"
    # a size above the image gives the image's own, never more
    zope_settings(**{"public-download": "iiif !3000,3000"})
    assert jpeg_size(get(site + "/pub/download.jpg")) == (700, 500)
    # by default, the largest tier up to 2000 pixels: here the image
    zope_settings(**{"public-download": "tier 2000"})
    assert jpeg_size(get(site + "/pub/download.jpg")) == (700, 500)
    zope_settings(**{"public-download": "tier 100"})  # the smallest tier
    assert jpeg_size(get(site + "/pub/download.jpg")) == (175, 125)


def test_a_site_may_give_anonymous_the_original(site, photo, folder):
    with zope_root() as app:
        app[folder].manage_permission(DOWNLOAD, ["Anonymous"], acquire=1)
    b = get(site + "/pub/download")
    assert status(b) == 200 and body(b) == open(photo, "rb").read()
    assert "public" in b.headers["Cache-Control"]
    page = get(site + "/pub")
    assert link(page)[1].startswith("Download original (")
    assert page.headers["Cache-Control"] == "no-cache"
    # a private image's original stays private to those who may view it
    assert status(get(site + "/priv/download")) == 401


def test_no_way_to_the_originals_bytes_without_the_permission(
        folder, tmp_path):
    """A JPEG original the size of its full tier: a IIIF full/max is
    made from the tiles, never the original's bytes; nor does any name
    of the image hand them to a viewer."""
    from tests.images import save
    from tests.images import smooth
    jpeg = save(smooth(600, 400), tmp_path / "exact.jpg", quality=92)
    original = open(jpeg, "rb").read()
    add(folder, jpeg, "j")
    image = "%s/%s/j" % (BASE, folder)
    for name in ("/iiif/full/max/0/default.jpg",
                 "/iiif/full/600,400/0/default.jpg",
                 "/iiif/full/max/0/default.png", "/download.jpg",
                 "/download", "/manage_DAVget", "/manage_FTPget",
                 "/manage_exportObject?download:int=1",
                 "/document_src", "/manage_main", "/index_html", "/view",
                 "/HEAD", "/embed", "/source.html", "/data"):
        b = get(image + name)
        assert original not in body(b), name
        assert original[:2000] not in body(b), name


def test_the_permission_is_zopes_and_the_zmi_shows_it(site):
    with zope_root(commit=False) as app:
        roles = {r["name"] for r in app.rolesOfPermission(DOWNLOAD)
                 if r["selected"]}
        assert roles == {"Manager", "Owner"}
        view = {r["name"] for r in app.rolesOfPermission("View")
                if r["selected"]}
        assert "Anonymous" in view
    # the Security tab lists it, so a manager can give it (and did not
    # have to for Manager and Owner)
    b = get(BASE + "/manage_access", ADMIN)
    assert status(b) == 200 and DOWNLOAD in b.contents
    # the Edit tab links the original only for those who may have it
    manage = get(site + "/pub/manage_main", ADMIN)
    assert 'pub/download"' in manage.contents
    edit = get(site + "/pub/manage_main", EDITOR)
    assert status(edit) == 200 and "harbour.png" in edit.contents
    assert 'pub/download"' not in edit.contents
    assert status(get(site + "/pub/download", EDITOR)) in (401, 403)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PROPFIND"])
def test_the_reduced_download_is_read_only(site, method):
    import webtest

    from tests.zope_fixtures import wsgi_app
    response = webtest.TestApp(wsgi_app()).request(
        site[len(BASE):] + "/pub/download.jpg", method=method,
        expect_errors=True)
    assert 400 <= response.status_int < 500, response.status
    head = webtest.TestApp(wsgi_app()).head(
        site[len(BASE):] + "/pub/download.jpg")
    assert head.status_int == 200 and head.body == b""
    assert head.headers["Content-Type"] == "image/jpeg"


def test_the_public_download_keeps_to_the_preview(site, zope_settings):
    """With a preview size (degraded access), who may not see full
    resolution downloads no more than the viewer shows him: the largest
    tier within his preview, never cached publicly."""
    zope_settings(**{"preview-size": "256"})
    b = get(site + "/pub/download.jpg")
    assert status(b) == 200 and jpeg_size(b) == (175, 125)
    assert _private(b.headers["Cache-Control"])
    assert link(get(site + "/pub"))[1] == "Download 175 x 125 JPEG"
    viewer = get(site + "/pub/download.jpg", VIEWER)
    assert jpeg_size(viewer) == (175, 125)
    # who sees full resolution gets the whole tier
    assert jpeg_size(get(site + "/pub/download.jpg", ADMIN)) == (700, 500)
    zope_settings(**{"public-download": "iiif !300,300"})
    assert jpeg_size(get(site + "/pub/download.jpg")) == (175, 125)
