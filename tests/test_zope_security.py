"""Issue 9, the web side: what a hostile or a careless visitor can do
through the real publisher (zope.testbrowser), and what they must not."""

import os
import tempfile
import urllib.parse

import pytest

from tests.images import save
from tests.images import smooth
from tests.zope_fixtures import BASE
from tests.zope_fixtures import add
from tests.zope_fixtures import add_by_form
from tests.zope_fixtures import body
from tests.zope_fixtures import browser
from tests.zope_fixtures import fetch
from tests.zope_fixtures import status
from tests.zope_fixtures import zope_root

ADD = "/manage_addProduct/ZoomifyImage/manage_addZoomifyImage"
PHOTO = {"width": 600, "height": 400, "name": "harbour.jpg", "quality": 92}


def post(url, data, login=True, headers=()):
    b = browser(login=login)
    for name, value in headers:
        b.addHeader(name, value)
    b.post(url, urllib.parse.urlencode(data),
           "application/x-www-form-urlencoded")
    return b


def facts(folder, id="p"):
    with zope_root(commit=False) as app:
        image = app[folder][id]
        return {"title": image.title, "storage": image.storage,
                "version": image.tiles_version, "quality": image.quality,
                "filename": image.filename}


# 1. nothing from the web names a server path --------------------------------

def test_a_server_path_in_the_file_field_is_refused(folder, tmp_path):
    secret = save(smooth(300, 200), tmp_path / "server-only.png")
    b = post(BASE + "/" + folder + ADD, {"id": "x", "file": str(secret)})
    assert status(b) == 400
    with zope_root(commit=False) as app:
        assert "x" not in app[folder].objectIds()
    # a path that exists and one that does not get the same answer
    missing = post(BASE + "/" + folder + ADD,
                   {"id": "y", "file": str(tmp_path / "no-such.png")})
    assert status(missing) == 400
    assert _message(b.contents) == _message(missing.contents)
    assert str(tmp_path) not in b.contents


def _message(html):
    start = html.index('class="alert')
    return html[start:html.index("</div>", start)]


def test_a_server_path_in_the_edit_form_is_refused(folder, photo, tmp_path):
    add(folder, photo, "p")
    secret = save(smooth(300, 200), tmp_path / "server-only.png")
    before = facts(folder)
    for method in ("manage_edit", "manage_upload"):
        b = post("%s/%s/p/%s" % (BASE, folder, method),
                 {"file": str(secret)})
        assert status(b) == 400, method
        assert facts(folder) == before
    download = fetch("%s/%s/p/download" % (BASE, folder), login=True)
    assert download.contents == open(photo, "rb").read()


# 2. changes answer POST only, and not from another site ---------------------

def test_changes_refuse_get(folder, photo):
    add(folder, photo, "p")
    before = facts(folder)
    url = "%s/%s/p/" % (BASE, folder)
    for query in ["manage_edit?title=hacked",
                  "manage_edit?storage=filesystem",
                  "manage_edit?quality=10",
                  "manage_retile",
                  "manage_upload"]:
        b = fetch(url + query, login=True)
        # Zope answers a refused method as it answers a name it hides
        assert status(b) in (403, 404, 405), query
        assert facts(folder) == before, query
    b = fetch(BASE + "/" + folder + ADD + "?id=new", login=True)
    assert status(b) in (403, 404, 405)
    with zope_root(commit=False) as app:
        assert "new" not in app[folder].objectIds()
    # the same change by POST works
    b = post(url + "manage_edit", {"title": "changed"})
    assert status(b) == 200
    assert facts(folder)["title"] == "changed"


def test_changes_refuse_other_sites(folder, photo):
    add(folder, photo, "p")
    before = facts(folder)
    url = "%s/%s/p/" % (BASE, folder)
    for headers in ([("Origin", "http://evil.example")],
                    [("Sec-Fetch-Site", "cross-site")],
                    [("Origin", "null")]):
        b = post(url + "manage_edit", {"title": "hacked"}, headers=headers)
        assert status(b) == 403, headers
        b = post(url + "manage_retile", {}, headers=headers)
        assert status(b) == 403, headers
        assert facts(folder) == before
    # the ZMI's own forms send their own origin
    b = post(url + "manage_edit", {"title": "mine"},
             headers=[("Origin", BASE), ("Sec-Fetch-Site", "same-origin")])
    assert status(b) == 200 and facts(folder)["title"] == "mine"


# 4. only what visitors need is published ------------------------------------

VISITOR_NAMES = {"index_html", "view", "embed", "status_json",
                 "ImageProperties.xml", "HEAD"}


def our_names():
    from ZoomifyImage.content import ZoomifyImage
    names = set()
    for cls in ZoomifyImage.__mro__:
        if not cls.__module__.startswith("ZoomifyImage"):
            continue
        names.update(n for n in vars(cls) if not n.startswith("_"))
    for name in ("uid", "title"):
        names.add(name)
    return sorted(names)


def test_only_visitor_names_are_published(folder, photo):
    add(folder, photo, "p")
    with zope_root() as app:
        image = app[folder]["p"]
        image.error = "/srv/secret/path failed"
    url = "%s/%s/p/" % (BASE, folder)
    seen = {}
    for name in our_names():
        b = fetch(url + name)
        seen[name] = status(b)
        body = b.contents
        if isinstance(body, bytes):
            body = body.decode("latin-1")
        assert "/srv/secret" not in body, name
    published = {n for n, code in seen.items() if code == 200}
    assert published <= VISITOR_NAMES, published - VISITOR_NAMES
    for name in ("facts", "current_status", "progress", "tiles_url",
                 "effective_quality", "get_size", "getContentType",
                 "error", "uid", "filename", "width"):
        assert seen[name] in (401, 403, 404), (name, seen[name])
    for name in [n for n in seen if n.startswith("manage")]:
        assert seen[name] in (401, 403, 404), name


# a folder publishes its collection and gallery to visitors, the ZMI
# listing's facts to managers, each by GET and HEAD only
FOLDER_NAMES = {"collection.json": 200, "gallery": 200,
                "@@zoomify-listing": 401, "@@iiif-activity": 200}


# (other methods never reach a view of a folder: Zope's WebDAV answers
# them, as for any name that is no attribute of the folder)
def test_folder_names_are_read_only(folder, photo):
    add(folder, photo, "p")
    for name, anonymous in FOLDER_NAMES.items():
        assert status(fetch("%s/%s/%s" % (BASE, folder, name))) \
            == anonymous, name
        assert status(fetch("%s/%s/%s" % (BASE, folder, name),
                            login=True)) == 200, name
        response = request("/%s/%s" % (folder, name), "POST", login=True)
        assert response.status_int == 405, (name, response.status_int)
    with zope_root(commit=False) as app:
        assert app[folder].objectIds() == ["p"]


# 5. private tiles are never cached publicly ---------------------------------

def versioned(image_url, version, name):
    """The URL of a tile (or ImageProperties.xml) that names the set: the
    viewer's (IMAGE/v/SET/NAME), or ?v=SET as pages made before it ask."""
    if version.startswith("?"):
        return "%s/%s?v=%s" % (image_url, name, version[1:])
    return "%s/v/%s/%s" % (image_url, version, name)


@pytest.mark.parametrize("storage", ["zodb", "filesystem"])
@pytest.mark.parametrize("form", ["", "?"], ids=["path", "query"])
def test_cache_control_follows_who_may_view(folder, photo, storage, form):
    add(folder, photo, "p", storage=storage)
    image = "%s/%s/p" % (BASE, folder)
    tile = image + "/TileGroup0/0-0-0.jpg"
    with zope_root(commit=False) as app:
        version = app[folder]["p"].tiles_set()
    public = fetch(tile)
    assert "public" in public.headers["Cache-Control"]
    assert "immutable" not in public.headers["Cache-Control"]
    named = fetch(versioned(image, form + version, "TileGroup0/0-0-0.jpg"))
    assert body(named) == body(public)
    control = named.headers["Cache-Control"]
    assert "public" in control and "immutable" in control
    assert int(control.split("max-age=")[1].split(",")[0]) >= 86400 * 30
    # an old version's URL is not promised to stay
    stale = fetch(versioned(image, form + "x" + version,
                            "TileGroup0/0-0-0.jpg"))
    assert body(stale) == body(public)
    assert "immutable" not in stale.headers["Cache-Control"]
    with zope_root() as app:
        app[folder]["p"].manage_permission("View", ["Manager"], acquire=0)
    # anonymous may not have it by any URL
    for name in ("TileGroup0/0-0-0.jpg", "ImageProperties.xml"):
        b = fetch(versioned(image, form + version, name))
        assert status(b) in (401, 403), name
        assert body(b) != body(public)
    for url in (tile, versioned(image, form + version,
                                "TileGroup0/0-0-0.jpg"),
                versioned(image, form + version, "ImageProperties.xml"),
                "%s/%s/p/ImageProperties.xml" % (BASE, folder),
                "%s/%s/p/download" % (BASE, folder),
                "%s/%s/p" % (BASE, folder)) + tuple(
                "%s/%s/%s" % (BASE, folder, name) for name in (
                    "p/embed", "p/status_json", "p/manifest.json",
                    "p/about.json", "p/iiif/info.json",
                    "p/iiif/full/max/0/default.jpg", "p/download.jpg",
                    "p/iiif/probe", "collection.json", "gallery",
                    "@@zoomify-listing")):
        b = fetch(url, login=True)
        assert status(b) == 200, url
        control = b.headers["Cache-Control"]
        assert "private" in control or "no-store" in control, (url, control)
        assert "public" not in control, url
        assert "immutable" not in control


# 6. an imported copy gets its own tiles --------------------------------------

def export_import(folder, id, target):
    with zope_root() as app:
        image = app[folder][id]
        path = os.path.join(tempfile.mkdtemp(), "img.zexp")
        image._p_jar.exportFile(image._p_oid, path)
    with zope_root() as app:
        from OFS.Folder import manage_addFolder
        if target not in app[folder].objectIds():
            manage_addFolder(app[folder], target)
        app[folder][target]._importObjectFromFile(path, set_owner=0)


@pytest.mark.parametrize("storage", ["zodb", "filesystem"])
def test_imported_zexp_gets_its_own_tiles(folder, photo, storage):
    add(folder, photo, "p", storage=storage)
    export_import(folder, "p", "other")
    with zope_root(commit=False) as app:
        first = app[folder]["p"]
        second = app[folder]["other"]["p"]
        assert first.uid != second.uid
        assert second.status == "ready"
        uid_one = first.uid
    tile = "TileGroup0/0-0-0.jpg"
    one = fetch("%s/%s/p/%s" % (BASE, folder, tile))
    two = fetch("%s/%s/other/p/%s" % (BASE, folder, tile))
    assert one.contents == two.contents
    assert one.headers["ETag"] != two.headers["ETag"]
    # deleting the first leaves the second whole
    with zope_root() as app:
        app[folder].manage_delObjects(["p"])
    again = fetch("%s/%s/other/p/%s" % (BASE, folder, tile))
    assert status(again) == 200 and again.contents == two.contents
    if storage == "filesystem":
        with zope_root(commit=False) as app:
            store = app[folder]["other"]["p"]._store
            assert store.uid != uid_one
            assert os.path.isfile(os.path.join(store.directory(),
                                               "ImageProperties.xml"))


def test_imported_zexp_without_the_tiles_is_tiled_again(folder, photo):
    add(folder, photo, "p", storage="filesystem")
    with zope_root(commit=False) as app:
        uid = app[folder]["p"].uid
    # as in another site: the zexp came, its tile directory did not
    with zope_root() as app:
        path = os.path.join(tempfile.mkdtemp(), "img.zexp")
        app[folder]["p"]._p_jar.exportFile(app[folder]["p"]._p_oid, path)
        app[folder].manage_delObjects(["p"])
    with zope_root() as app:
        app[folder]._importObjectFromFile(path, set_owner=0)
    with zope_root(commit=False) as app:
        image = app[folder]["p"]
        assert image.uid != uid and image.status == "ready"
    b = fetch("%s/%s/p/TileGroup0/0-0-0.jpg" % (BASE, folder))
    assert status(b) == 200


# 7. the original's download --------------------------------------------------

def test_download_any_file_name(folder, tmp_path):
    photo = save(smooth(300, 200), tmp_path / "Hafen Ærø \"1\" 東京.png")
    add(folder, photo, "p")
    b = fetch("%s/%s/p/download" % (BASE, folder), login=True)
    disposition = b.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''" in disposition
    assert urllib.parse.quote("Hafen Ærø") in disposition
    assert "東京".encode() not in disposition.encode("latin-1", "replace")
    disposition.encode("latin-1")  # a header must be Latin-1


def test_download_if_range(folder, photo):
    add(folder, photo, "p")
    data = open(photo, "rb").read()
    url = "%s/%s/p/download" % (BASE, folder)
    whole = fetch(url, login=True)
    etag = whole.headers["ETag"]
    assert etag
    b = fetch(url, login=True,
              headers=[("Range", "bytes=0-9"), ("If-Range", etag)])
    assert status(b) == 206 and b.headers["Content-Length"] == "10"
    # a changed file: the whole new file, not a piece of it
    b = fetch(url, login=True,
              headers=[("Range", "bytes=0-9"), ("If-Range", '"old"')])
    assert status(b) == 200
    assert b.headers["Content-Length"] == str(len(data))
    b = fetch(url, login=True, headers=[
        ("Range", "bytes=0-9"),
        ("If-Range", "Sat, 01 Jan 2000 00:00:00 GMT")])
    assert status(b) == 200


# 10. damaged data: refused by default, a site setting accepts it -------------

def test_damaged_image_is_refused_unless_the_site_accepts_it(
        folder, tmp_path, zope_settings):
    from tests.test_errors import flipped_jpeg
    bad = flipped_jpeg(tmp_path)
    b = add_by_form(folder, bad, "bad")
    assert status(b) == 400
    assert "flipped.jpg" in b.contents and "damaged" in b.contents
    with zope_root(commit=False) as app:
        assert "bad" not in app[folder].objectIds()
    zope_settings(**{"accept-damaged": "on"})
    with zope_root() as app:
        with open(bad, "rb") as f:
            from ZoomifyImage.content import manage_addZoomifyImage
            manage_addZoomifyImage(app[folder], id="bad", file=f)
    with zope_root(commit=False) as app:
        image = app[folder]["bad"]
        assert image.status == "ready" and image.width == 2000


# review findings: methods, properties, old sets, tile-url -----------------

def request(url, method, login=False, headers=()):
    """Any HTTP method through the publisher (testbrowser's own app)."""
    import base64

    import webtest

    from tests.zope_fixtures import ADMIN
    from tests.zope_fixtures import wsgi_app
    app = webtest.TestApp(wsgi_app())
    headers = dict(headers)
    if login:
        headers["Authorization"] = "Basic " + base64.b64encode(
            ("%s:%s" % ADMIN).encode()).decode()
    return app.request(url, method=method, headers=headers,
                       expect_errors=True)


def test_webdav_delete_is_not_a_get(folder, photo):
    add(folder, photo, "p")
    url = "%s/%s/p/DELETE" % (BASE, folder)
    assert status(fetch(url, login=True)) in (403, 404, 405)
    response = request("/%s/p" % folder, "DELETE", login=True,
                       headers=[("Origin", "http://evil.example")])
    assert response.status_int == 403
    with zope_root(commit=False) as app:
        assert "p" in app[folder].objectIds()


def test_no_property_sheet_to_change_or_read(folder, photo):
    add(folder, photo, "p")
    url = "%s/%s/p/" % (BASE, folder)
    # (names a folder has may still be acquired: they are the folder's)
    fetch(url + "manage_changeProperties?title=hacked", login=True)
    assert facts(folder)["title"] == ""
    with zope_root() as app:
        image = app[folder]["p"]
        image.manage_edit(title="Secret merger plans")
        image.manage_permission("View", ["Manager"], acquire=0)
    for name in ("propertyItems", "propertyValues", "getProperty?id=title",
                 "manage_propertiesForm"):
        b = fetch(url + name)
        assert "merger" not in str(b.contents), name


@pytest.mark.parametrize("method", ["POST", "OPTIONS", "PUT", "DELETE",
                                    "PROPFIND", "MKCOL", "LOCK", "PATCH",
                                    "TRACE"])
def test_read_only_names_refuse_other_methods(folder, photo, method):
    add(folder, photo, "p", storage="filesystem")
    for path in ("TileGroup0/0-0-0.jpg", "ImageProperties.xml", "download",
                 "status_json", "embed"):
        response = request("/%s/p/%s" % (folder, path), method, login=True)
        assert 400 <= response.status_int < 500, (path,
                                                  response.status_int)
    with zope_root(commit=False) as app:
        assert "p" in app[folder].objectIds()


def test_head_of_the_viewer_page_is_the_page(folder, photo):
    add(folder, photo, "p")
    page = request("/%s/p" % folder, "GET")
    head = request("/%s/p" % folder, "HEAD")
    assert head.status_int == 200
    assert head.headers["Content-Type"] == page.headers["Content-Type"]
    assert head.headers["Content-Type"].startswith("text/html")


def test_the_versioned_path_leads_to_tiles_only(folder, photo):
    from OFS.Image import manage_addFile
    add(folder, photo, "p")
    image = "%s/%s/p" % (BASE, folder)
    with zope_root() as app:
        version = app[folder]["p"].tiles_set()
        # a "v" beside the image is not reached through it
        manage_addFile(app[folder], "v", b"the folder's own file")
    assert status(fetch(versioned(image, version, "TileGroup0/0-0-0.jpg"))
                  ) == 200
    for rest in ("", "/" + version, "/%s/TileGroup0" % version,
                 "/%s/TileGroup0/9-9-9.jpg" % version,
                 "/%s/TileGroup0/0-0-0.jpg/more" % version,
                 "/%s/TileGroup1/0-0-0.jpg" % version,
                 "/%s/download" % version, "/%s/manage_main" % version,
                 "/%s/index_html" % version, "/%s/v" % version,
                 "/%s/ImageProperties.xml/x" % version):
        b = fetch(image + "/v" + rest, login=True)
        assert status(b) == 404, rest
        assert b"own file" not in body(b)


def test_tiles_by_path_expressions_and_traversal(folder, photo):
    """restrictedTraverse and page templates walk IMAGE/v/SET/... a name
    at a time, as they walk TileGroupN/...: they reach the same tile, and
    only with View."""
    from AccessControl import Unauthorized
    add(folder, photo, "p")
    with zope_root() as app:
        image = app[folder]["p"]
        version = image.tiles_set()
        for path in ("v/%s/TileGroup0/0-0-0.jpg" % version,
                     "TileGroup0/0-0-0.jpg",
                     "v/%s/ImageProperties.xml" % version):
            tile = image.restrictedTraverse(path)
            assert tile.name == path.split("/", 2)[-1] \
                if path.startswith("v/") else path
            assert tile() is tile  # called outside the publisher
        from zExceptions import NotFound
        with pytest.raises(NotFound):
            image.unrestrictedTraverse("v/%s/download" % version)
        image.manage_permission("View", ["Manager"], acquire=0)
    from AccessControl.SecurityManagement import newSecurityManager
    from AccessControl.SecurityManagement import noSecurityManager
    from AccessControl.SpecialUsers import nobody
    with zope_root(commit=False) as app:
        newSecurityManager(None, nobody)
        try:
            with pytest.raises(Unauthorized):
                app[folder]["p"].restrictedTraverse(
                    "v/%s/TileGroup0/0-0-0.jpg" % version)
        finally:
            noSecurityManager()


@pytest.mark.parametrize("storage", ["zodb", "filesystem"])
def test_a_missing_tile_is_not_cached_as_one(folder, photo, storage):
    """A tile the set should have but the store lost answers 404 with
    none of a tile's year-long caching."""
    add(folder, photo, "p", storage=storage)
    with zope_root() as app:
        image = app[folder]["p"]
        version = image.tiles_set()
        store = image._store
        if storage == "zodb":
            del store.tiles["TileGroup0/0-0-0.jpg"]
        else:
            os.unlink(os.path.join(store.directory(), "TileGroup0",
                                   "0-0-0.jpg"))
    from ZoomifyImage.stores.filesystem import TILE_CACHE
    TILE_CACHE.clear()
    b = fetch(versioned("%s/%s/p" % (BASE, folder), version,
                        "TileGroup0/0-0-0.jpg"))
    assert status(b) == 404
    assert "immutable" not in b.headers.get("Cache-Control", "")
    assert "public" not in b.headers.get("Cache-Control", "")
    assert "ETag" not in b.headers


@pytest.mark.parametrize("form", ["", "?"], ids=["path", "query"])
def test_a_replaced_file_is_not_served_for_long(folder, photo, tmp_path,
                                                form):
    import time
    add(folder, photo, "p", storage="filesystem")
    with zope_root(commit=False) as app:
        old = app[folder]["p"].tiles_set()
    with zope_root() as app:
        with open(save(smooth(500, 500, seed=9), tmp_path / "n.png"),
                  "rb") as f:
            app[folder]["p"].manage_upload(file=f)
    url = versioned("%s/%s/p" % (BASE, folder), form + old,
                    "ImageProperties.xml")
    # a page opened just before still gets its own set, never immutable
    b = fetch(url)
    assert 'WIDTH="600"' in b.contents
    assert "immutable" not in b.headers["Cache-Control"]
    # later, the old picture is no longer there for anyone
    with zope_root() as app:
        store = app[folder]["p"]._store
        store.previous = (store.previous[0], time.time() - 3600)
    b = fetch(url)
    assert 'WIDTH="500"' in b.contents


def test_tile_url_only_for_images_anonymous_may_view(folder, photo,
                                                     zope_settings):
    add(folder, photo, "p", storage="filesystem")
    zope_settings(**{"tile-url": "https://tiles.example.org/"})
    with zope_root() as app:
        image = app[folder]["p"]
        assert image.tiles_url().startswith("https://tiles.example.org/")
        image.manage_permission("View", ["Manager"], acquire=0)
        # the front-end checks no permission: Zope serves private tiles
        assert image.tiles_url() == "%s/v/%s/" % (image.absolute_url(),
                                                  image.tiles_set())


@pytest.mark.parametrize("value", [{"file:int": "5"},
                                   {"file:list": "/etc/passwd"},
                                   {"file:boolean": "1"}])
def test_file_fields_that_are_not_uploads_are_400(folder, photo, value):
    add(folder, photo, "p")
    b = post("%s/%s/p/manage_edit" % (BASE, folder), value)
    assert status(b) == 400
    b = post(BASE + "/" + folder + ADD, dict(value, id="x"))
    assert status(b) == 400
