"""IIIF Change Discovery 1.0 through the real publisher: @@iiif-activity of
a folder and of the site, an OrderedCollection and its pages, with
Create, Update and Delete of the images anonymous may see, from our
content events and from changes of who may view (made on the ZMI's
forms, by POST). Every document is checked against the spec's shapes and
the terms its JSON-LD context defines."""

import json
import re
import time
import urllib.parse

import pytest

from tests.images import smooth
from tests.zope_fixtures import BASE
from tests.zope_fixtures import add
from tests.zope_fixtures import browser
from tests.zope_fixtures import fetch
from tests.zope_fixtures import status
from tests.zope_fixtures import zope_root

CONTEXT = "http://iiif.io/api/discovery/1/context.json"
FEED = "/@@iiif-activity"

# The terms a document may use (the spec's sections 3.1 to 3.3), each
# defined by its context: Activity Streams 2.0 (which the context
# imports) or the context's own (Manifest within `object`)
COLLECTION_KEYS = {"@context", "id", "type", "totalItems", "first", "last",
                   "rights", "seeAlso", "partOf"}
PAGE_KEYS = {"@context", "id", "type", "partOf", "startIndex", "next",
             "prev", "orderedItems"}
ACTIVITY_KEYS = {"id", "type", "object", "target", "endTime", "startTime",
                 "summary", "actor"}
ACTIVITY_TYPES = {"Create", "Update", "Delete", "Move", "Add", "Remove",
                  "Refresh"}
OBJECT_TYPES = {"Collection", "Manifest"}
DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _uri(value):
    assert isinstance(value, str) and re.match(r"https?://", value), value


def _ref(value, kind):
    assert isinstance(value, dict) and set(value) == {"id", "type"}, value
    _uri(value["id"])
    assert value["type"] == kind


def check_collection(doc):
    assert list(doc)[0] == "@context" and doc["@context"] == CONTEXT
    assert set(doc) <= COLLECTION_KEYS, set(doc) - COLLECTION_KEYS
    _uri(doc["id"])
    assert doc["type"] == "OrderedCollection"
    assert isinstance(doc["totalItems"], int) and doc["totalItems"] >= 0
    _ref(doc["last"], "OrderedCollectionPage")  # MUST
    _ref(doc["first"], "OrderedCollectionPage")  # SHOULD


def check_page(doc, collection_id):
    assert list(doc)[0] == "@context" and doc["@context"] == CONTEXT
    assert set(doc) <= PAGE_KEYS, set(doc) - PAGE_KEYS
    _uri(doc["id"])
    assert doc["type"] == "OrderedCollectionPage"
    _ref(doc["partOf"], "OrderedCollection")
    assert doc["partOf"]["id"] == collection_id
    for link in ("prev", "next"):
        if link in doc:
            _ref(doc[link], "OrderedCollectionPage")
    items = doc["orderedItems"]
    assert isinstance(items, list)
    times = []
    for item in items:
        assert set(item) <= ACTIVITY_KEYS, set(item) - ACTIVITY_KEYS
        assert item["type"] in ACTIVITY_TYPES
        _ref(item["object"], item["object"]["type"])
        assert item["object"]["type"] in OBJECT_TYPES
        assert DATETIME.match(item["endTime"]), item["endTime"]
        times.append(item["endTime"])
    # earliest first within the page
    assert times == sorted(times)


def get_json(url):
    b = fetch(url)
    assert status(b) == 200, url
    assert b.headers["Content-Type"] == \
        'application/ld+json;profile="%s"' % CONTEXT
    return json.loads(b.contents)


def feed(base):
    """Every activity of the feed at ``base`` (a folder's or the site's
    URL), walked from the last page back by prev, as a harvester does,
    and checked; oldest first: [(type, manifest path)]."""
    collection = get_json(base + FEED)
    check_collection(collection)
    assert collection["id"] == base + FEED
    pages, url = [], collection["last"]["id"]
    while url:
        page = get_json(url)
        check_page(page, collection["id"])
        pages.insert(0, page)
        url = page.get("prev", {}).get("id")
    assert pages[0]["id"] == collection["first"]["id"]
    # and forwards by next, the same pages
    for one, two in zip(pages, pages[1:]):
        assert one["next"]["id"] == two["id"]
    assert "next" not in pages[-1]
    items = [item for page in pages for item in page["orderedItems"]]
    assert len(items) == collection["totalItems"]
    times = [item["endTime"] for item in items]
    assert times == sorted(times)  # newest last, over all pages
    return [(item["type"], urllib.parse.urlsplit(
        item["object"]["id"]).path) for item in items]


def post(url, data):
    b = browser(login=True)
    b.addHeader("Origin", BASE)
    b.post(url, urllib.parse.urlencode(data, doseq=True),
           "application/x-www-form-urlencoded")
    return b


def test_the_life_of_an_image(folder, photo):
    path = "/%s/p" % folder
    manifest = path + "/manifest.json"
    base = BASE + "/" + folder
    assert feed(base) == []
    add(folder, photo, "p", title="Harbour")
    assert feed(base) == [("Create", manifest)]
    # an edit on the Edit tab (through the publisher)
    assert status(post(base + "/p/manage_edit", {"title": "Port"})) == 200
    # made private on the Security tab: gone, as a Delete
    b = post(base + "/p/manage_permission",
             {"permission_to_manage": "View", "roles:list": ["Manager"]})
    assert status(b) == 200
    assert status(fetch(BASE + manifest)) == 401
    # public again (acquired from the folder): a new Create
    b = post(base + "/p/manage_permission",
             {"permission_to_manage": "View", "roles:list": [],
              "acquire": "1"})
    assert status(b) == 200
    # the folder made private hides it too; then back
    post(base + "/manage_permission",
         {"permission_to_manage": "View", "roles:list": ["Manager"]})
    post(base + "/manage_permission",
         {"permission_to_manage": "View", "roles:list": [],
          "acquire": "1"})
    # renamed: the old manifest URL is gone, the new one came
    b = post(base + "/manage_renameObjects",
             {"ids:list": ["p"], "new_ids:list": ["q"]})
    assert status(b) == 200
    assert feed(base) == [
        ("Create", manifest), ("Update", manifest), ("Delete", manifest),
        ("Create", manifest), ("Delete", manifest), ("Create", manifest),
        ("Delete", manifest), ("Create", "/%s/q/manifest.json" % folder)]
    post(base + "/manage_delObjects", {"ids:list": ["q"]})
    assert feed(base)[-1] == ("Delete", "/%s/q/manifest.json" % folder)
    # the site's feed has them too, newest last
    site = feed(BASE)
    assert site[-9:] == feed(base)


def test_only_what_anonymous_may_see(folder, photo):
    from OFS.Folder import manage_addFolder
    with zope_root() as app:
        manage_addFolder(app[folder], "priv")
        app[folder]["priv"].manage_permission("View", ["Manager"],
                                              acquire=0)
    from ZoomifyImage.content import manage_addZoomifyImage
    with zope_root() as app:
        with open(photo, "rb") as f:
            manage_addZoomifyImage(app[folder]["priv"], id="secret",
                                   file=f)
    add(folder, photo, "pub")
    assert feed(BASE + "/" + folder) == [
        ("Create", "/%s/pub/manifest.json" % folder)]
    # the private folder's feed: refused as its other views are
    assert status(fetch("%s/%s/priv%s" % (BASE, folder, FEED))) == 401
    # a new file for the private image: still nothing
    with zope_root() as app:
        app[folder]["priv"]["secret"].edit(title="Still secret")
    assert "secret" not in json.dumps(feed(BASE))
    # the private folder opened: it appears
    post("%s/%s/priv/manage_permission" % (BASE, folder),
         {"permission_to_manage": "View", "roles:list": [],
          "acquire": "1"})
    assert feed("%s/%s/priv" % (BASE, folder)) == [
        ("Create", "/%s/priv/secret/manifest.json" % folder)]


def test_a_background_tiling_is_a_create_when_it_is_done(
        small_threshold, folder, tmp_path):
    from tests.images import save
    from ZoomifyImage import jobs
    big = save(smooth(1000, 800), tmp_path / "big.png")
    jobs.pool.pause()
    add(folder, big, "big")
    before = feed(BASE + "/" + folder)
    jobs.pool.resume()
    assert jobs.pool.wait(60)
    after = feed(BASE + "/" + folder)
    assert after[len(before):] == [("Create",
                                    "/%s/big/manifest.json" % folder)]
    assert before == []


def test_paging_holds_with_a_thousand_events(folder):
    from ZoomifyImage.activity import log_of
    start = time.time() - 5000
    with zope_root() as app:
        log = log_of(app._p_jar)
        first = log.events.count
        for i in range(1000):
            log.add(("Create", "Update", "Delete")[i % 3],
                    "/%s/i%d" % (folder, i % 7), start + i)
    items = feed(BASE + "/" + folder)
    assert len(items) == 1000
    assert items[0] == ("Create", "/%s/i0/manifest.json" % folder)
    assert items[-1] == ("Create", "/%s/i5/manifest.json" % folder)
    assert [t for t, p in items[:4]] == ["Create", "Update", "Delete",
                                         "Create"]
    collection = get_json(BASE + "/" + folder + FEED)
    assert collection["totalItems"] == 1000
    assert collection["last"]["id"].endswith("?page=9")
    page = get_json(collection["first"]["id"])
    assert len(page["orderedItems"]) == 100 and "prev" not in page
    assert page["startIndex"] == 0
    # the site's feed: the same thousand at its end, whole pages of keys
    site = get_json(BASE + FEED)
    assert site["totalItems"] >= first + 1000
    last = get_json(site["last"]["id"])
    assert last["orderedItems"][-1]["object"]["id"].endswith(
        "/%s/i5/manifest.json" % folder)
    for bad in ("10", "-1", "x", "1e3", "99999999999"):
        b = fetch("%s/%s%s?page=%s" % (BASE, folder, FEED, bad))
        assert status(b) == 404, bad


def test_public_read_only_and_cached_briefly(folder, photo):
    import webtest

    from tests.zope_fixtures import wsgi_app
    add(folder, photo, "p")
    app = webtest.TestApp(wsgi_app())
    url = "/%s%s" % (folder, FEED)
    for query in ("", "?page=0"):
        r = app.get(url + query)
        control = r.headers["Cache-Control"]
        assert control.startswith("public, max-age=")
        assert 0 < int(control.split("=")[1]) <= 300
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        head = app.head(url + query)
        assert head.status_int == 200 and head.body == b""
    # a page that is not one: 404, for digits Python's int() refuses
    # too (superscripts), and for a list
    for query in ("?page=%C2%B2", "?page=%E2%91%A0", "?page=-1",
                  "?page=9999999999", "?page:list=0"):
        r = app.get(url + query, expect_errors=True)
        assert r.status_int == 404, (query, r.status)
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        r = app.request(url, method=method, expect_errors=True)
        assert 400 <= r.status_int < 500, (method, r.status)
    # the same for the manager: nothing private is in it
    b = fetch(BASE + url, login=True)
    assert json.loads(b.contents)["totalItems"] == 1


def test_a_private_folders_feed_tells_nothing(folder):
    """A folder anonymous may not view: its feed is refused (401, as its
    collection.json), never an empty feed that tells it exists; whom may
    view it gets it, never publicly cached."""
    import webtest
    from OFS.Folder import manage_addFolder

    from tests.zope_fixtures import wsgi_app
    with zope_root() as app:
        manage_addFolder(app[folder], "closed")
        app[folder]["closed"].manage_permission("View", ["Manager"],
                                                acquire=0)
    web = webtest.TestApp(wsgi_app())
    for query in ("", "?page=0", "?page=7"):
        got = web.get("/%s/closed%s%s" % (folder, FEED, query),
                      expect_errors=True)
        assert got.status_int == 401, (query, got.status)
        assert "OrderedCollection" not in got.text
        assert "public" not in got.headers.get("Cache-Control", "")
    # a folder that does not exist: 404 (and so does a page of it)
    assert web.get("/%s/nothing%s" % (folder, FEED),
                   expect_errors=True).status_int == 404
    b = fetch("%s/%s/closed%s" % (BASE, folder, FEED), login=True)
    assert status(b) == 200
    assert json.loads(b.contents)["type"] == "OrderedCollection"
    assert b.headers["Cache-Control"].startswith("private")


def test_a_site_gets_its_log_with_what_was_there(folder, photo, zodb):
    """A site from before the feed: at start-up its log is made, with a
    Create for each image anonymous may see."""
    import transaction
    from zope.processlifetime import DatabaseOpenedWithRoot

    from ZoomifyImage.activity import ROOT_KEY
    from ZoomifyImage.activity import database_opened
    add(folder, photo, "old")
    with zope_root() as app:
        del app._p_jar.root()[ROOT_KEY]
    assert feed(BASE + "/" + folder) == []
    database_opened(DatabaseOpenedWithRoot(zodb))
    transaction.abort()
    assert feed(BASE + "/" + folder) == [
        ("Create", "/%s/old/manifest.json" % folder)]


@pytest.mark.parametrize("where", ["folder", "site"])
def test_the_feed_is_a_published_name_of_folders(folder, where):
    from tests.test_escaping_walk import product_views
    assert ("iiif-activity", "folder") in product_views()
    base = BASE + ("/" + folder if where == "folder" else "")
    check_collection(get_json(base + FEED))


@pytest.mark.file_storage  # Undo: see zope_fixtures.demo_storage
def test_undo_of_a_delete_is_not_stopped_by_later_events(folder, photo):
    """The log is written after each change's commit, in a transaction of
    its own: an Undo of a deletion still works after many events since
    (when the log was written in the change's transaction, an Undo
    failed once the log's BTree had split), and an Undo through the
    Undo tab notes the image that came back."""
    import transaction

    from tests.zope_fixtures import add_folder
    from ZoomifyImage.activity import log_of
    other = add_folder(folder + "-other")
    add(folder, photo, "a")
    with zope_root() as app:
        app[folder].manage_delObjects(["a"])
        transaction.get().note("activity undo test " + folder)
    manifest = "/%s/a/manifest.json" % folder
    assert feed(BASE + "/" + folder)[-1] == ("Delete", manifest)
    add(other, photo, "b")
    for i in range(40):  # many events since, in their own transactions
        with zope_root() as app:
            for j in range(10):
                log_of(app._p_jar).add("Update", "/%s/x%d" % (other, j))
    undo_tab = "Control_Panel/Database/main"
    with zope_root(commit=False) as app:
        entry = [e for e in app.unrestrictedTraverse(undo_tab)
                 .undoable_transactions(0, 60)
                 if ("activity undo test " + folder) in e["description"]]
    b = post("%s/%s/manage_undo_transactions" % (BASE, undo_tab),
             {"transaction_info:list": [entry[0]["id"]]})
    assert status(b) == 200
    assert status(fetch(BASE + manifest)) == 200
    assert feed(BASE + "/" + folder) == [
        ("Create", manifest), ("Delete", manifest), ("Create", manifest)]
