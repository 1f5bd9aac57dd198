"""A folder's IIIF Collection (FOLDER/collection.json) and its gallery
(FOLDER/gallery), through the real publisher (zope.testbrowser), each
test in its own DemoStorage: what a visitor and a manager get, paging,
caching, thumbnails from the stored tiers; and the ZMI listing's facts
(FOLDER/@@zoomify-listing)."""

import json
import re
from html.parser import HTMLParser

import pytest

from tests.prepared_images import add_many
from tests.prepared_images import add_prepared
from tests.prepared_images import prepare
from tests.zope_fixtures import BASE
from tests.zope_fixtures import fetch
from tests.zope_fixtures import get
from tests.zope_fixtures import status
from tests.zope_fixtures import zope_root

PRESENTATION = "http://iiif.io/api/presentation/3/context.json"


@pytest.fixture(scope="module")
def small():
    return prepare(64, 48, seed=1)


@pytest.fixture(scope="module")
def photo_tiles():
    # 1200 x 800: tiers 1200, 600, 300 (the thumbnail's), 150, 75, ...
    return prepare(1200, 800, seed=2)


def _private(obj):
    obj.manage_permission("View", ["Manager"], acquire=0)


def collection(path, login=False, headers=()):
    b = fetch(BASE + path, login=login, headers=headers)
    return status(b), b.headers, b.contents


def _doc(path, login=False, validate=True):
    """A Collection document; the IIIF Presentation 3 models of
    iiif-prezi3 take it whole (references to Manifests and Collections,
    thumbnails, partOf)."""
    code, headers, text = collection(path, login)
    assert code == 200, (path, code, text[:300])
    doc = json.loads(text)
    if validate:
        from iiif_prezi3 import Collection
        Collection(**doc)
    return doc, headers


@pytest.fixture
def mixed(folder, small, photo_tiles):
    """A public and a private image, a public and a private sub-folder,
    an image still waiting for its tiles."""
    with zope_root() as app:
        here = app[folder]
        here.manage_changeProperties(title="Harbour pictures")
        add_prepared(here, "pub", photo_tiles, "Public view")
        _private(add_prepared(here, "secret", small, "Secret plan"))
        from OFS.Folder import manage_addFolder
        manage_addFolder(here, "boats", "Boats")
        manage_addFolder(here, "vault", "Vault")
        _private(here["vault"])
        add_prepared(here["boats"], "sail", small, "Sail")
        from ZoomifyImage.content import ZoomifyImage
        here._setObject("empty", ZoomifyImage("empty", "No tiles yet"))
    return folder


def test_collection_shows_what_the_visitor_may_view(mixed):
    doc, headers = _doc("/%s/collection.json" % mixed)
    url = "%s/%s" % (BASE, mixed)
    assert doc["@context"] == PRESENTATION
    assert doc["type"] == "Collection"
    assert doc["id"] == url + "/collection.json"
    assert doc["label"] == {"none": ["Harbour pictures"]}
    assert [(i["type"], i["id"], i["label"]["none"][0])
            for i in doc["items"]] == [
        ("Manifest", url + "/pub/manifest.json", "Public view"),
        ("Collection", url + "/boats/collection.json", "Boats")]
    # the private image and folder are hidden, not announced: the
    # answer is for this visitor only
    assert "secret" not in json.dumps(doc).lower()
    assert "vault" not in json.dumps(doc).lower()
    assert headers["Cache-Control"] == "private, no-cache"
    assert "Access-Control-Allow-Origin" not in headers
    assert headers["Content-Type"] == \
        'application/ld+json;profile="%s"' % PRESENTATION
    # the manager sees all of it (but the image without tiles)
    doc, headers = _doc("/%s/collection.json" % mixed, login=True)
    assert [i["id"].rsplit("/", 2)[-2] for i in doc["items"]] == [
        "pub", "secret", "boats", "vault"]
    # the sub-folder's own collection, and each manifest, are there
    sub, _ = _doc("/%s/boats/collection.json" % mixed)
    assert [i["label"]["none"] for i in sub["items"]] == [["Sail"]]
    code, _, manifest = get(doc["items"][0]["id"])
    assert code == 200 and json.loads(manifest)["label"] == \
        {"none": ["Public view"]}


def test_thumbnails_are_stored_tiers(mixed):
    doc, _ = _doc("/%s/collection.json" % mixed)
    (thumb,) = doc["items"][0]["thumbnail"]
    # 1200 x 800: the smallest tier at least 200 long is 300 x 200
    assert (thumb["width"], thumb["height"]) == (300, 200)
    assert thumb["id"] == "%s/%s/pub/iiif/full/300,200/0/default.jpg" % (
        BASE, mixed)
    assert thumb["service"][0]["id"] == "%s/%s/pub/iiif" % (BASE, mixed)
    code, headers, data = get(thumb["id"])
    assert code == 200 and headers["Content-Type"] == "image/jpeg"
    from io import BytesIO

    from PIL import Image
    assert Image.open(BytesIO(data)).size == (300, 200)


def test_public_folder_is_cached_publicly(folder, small):
    with zope_root() as app:
        add_prepared(app[folder], "a", small, "A")
    code, headers, text = collection("/%s/collection.json" % folder)
    assert code == 200
    assert headers["Cache-Control"].startswith("public, max-age=")
    assert headers["Access-Control-Allow-Origin"] == "*"
    # revalidation by its ETag
    code, again, _ = collection("/%s/collection.json" % folder,
                                headers=[("If-None-Match", headers["ETag"])])
    assert code == 304
    # HEAD: the same headers, no body (the gallery's too)
    import webtest

    from tests.zope_fixtures import wsgi_app
    app = webtest.TestApp(wsgi_app())
    for name in ("collection.json", "gallery"):
        got = app.get("/%s/%s" % (folder, name))
        head = app.head("/%s/%s" % (folder, name))
        assert head.status_int == 200 and head.body == b""
        assert head.headers["Content-Length"] == \
            got.headers["Content-Length"]
        assert head.headers["Content-Type"] == got.headers["Content-Type"]


def test_private_folder_is_refused_to_anonymous(folder, small):
    with zope_root() as app:
        add_prepared(app[folder], "a", small, "A")
        _private(app[folder])
    code, headers, text = collection("/%s/collection.json" % folder)
    assert code == 401
    assert "manifest" not in str(text)
    code, headers, text = collection("/%s/gallery" % folder)
    assert code == 401


def test_site_root_has_a_collection(folder):
    doc, _ = _doc("/collection.json", login=True)
    assert doc["id"] == BASE + "/collection.json"
    assert BASE + "/%s/collection.json" % folder in [
        i["id"] for i in doc["items"]]


def test_a_thousand_images_page_correctly(folder, small):
    with zope_root() as app:
        add_many(app[folder], 1000, small)
    top, headers = _doc("/%s/collection.json" % folder)
    url = "%s/%s/collection.json" % (BASE, folder)
    # a hierarchy of Collections: ten of a hundred each
    assert [i["id"] for i in top["items"]] == [
        "%s?page=%d" % (url, n) for n in range(1, 11)]
    assert {i["type"] for i in top["items"]} == {"Collection"}
    assert top["items"][0]["label"] == {"none": [
        "%s: 1 to 100 of 1000" % folder]}
    seen = []
    for item in top["items"]:
        # (the models take a page in 0.2 s: the first one is checked)
        page, _ = _doc(item["id"][len(BASE):], validate=item is
                       top["items"][0])
        assert page["id"] == item["id"]
        assert page["label"] == item["label"]
        assert page["partOf"] == [{"id": url, "type": "Collection",
                                   "label": {"none": [folder]}}]
        assert len(page["items"]) == 100
        assert {i["type"] for i in page["items"]} == {"Manifest"}
        seen += [i["label"]["none"][0] for i in page["items"]]
    assert seen == ["Image %d" % n for n in range(1, 1001)]
    # past the end, or not a page
    assert collection("/%s/collection.json?page=11" % folder)[0] == 404
    assert collection("/%s/collection.json?page=0" % folder)[0] == 404
    assert collection("/%s/collection.json?page=x" % folder)[0] == 400
    # the gallery pages the same way
    gallery = fetch(BASE + "/%s/gallery?page=10" % folder)
    assert status(gallery) == 200
    images = Gallery.of(gallery.contents).images
    assert [i["alt"] for i in images] == [
        "Image %d" % n for n in range(901, 1001)]
    assert "Page 10 of 10" in gallery.contents
    assert status(fetch(BASE + "/%s/gallery?page=11" % folder)) == 404


class Gallery(HTMLParser):
    """The gallery page's thumbnails: each <img> with its link."""

    def __init__(self):
        super().__init__()
        self.images, self.link = [], None

    @classmethod
    def of(cls, html):
        parser = cls()
        parser.feed(html)
        return parser

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self.link = attrs.get("href")
        elif tag == "img":
            self.images.append(dict(attrs, link=self.link))


def test_gallery_shows_thumbnails_of_stored_tiers(mixed):
    b = fetch(BASE + "/%s/gallery" % mixed)
    assert status(b) == 200
    assert b.headers["Cache-Control"] == "private, no-cache"
    (image,) = Gallery.of(b.contents).images
    assert image["alt"] == "Public view"
    assert image["loading"] == "lazy"
    # shown at 200 x 133 (the image's shape), from the 300 x 200 tier
    assert (image["width"], image["height"]) == ("200", "133")
    assert re.match(r"^/%s/pub/iiif/full/300,200/0/default\.jpg\?v=\w+$"
                    % mixed, image["src"]), image["src"]
    assert image["link"] == "/%s/pub" % mixed
    # the thumbnail is cached for good: its URL names the set
    code, headers, data = get(BASE + image["src"])
    assert code == 200 and "immutable" in headers["Cache-Control"]
    # the sub-folder's gallery is linked; the private one is not
    assert 'href="/%s/boats/gallery"' % mixed in b.contents
    assert "vault" not in b.contents.lower()
    assert "Secret" not in b.contents
    # the manager sees the private image too
    b = fetch(BASE + "/%s/gallery" % mixed, login=True)
    assert [i["alt"] for i in Gallery.of(b.contents).images] == [
        "Public view", "Secret plan"]


def test_zmi_listing_facts(mixed):
    b = fetch(BASE + "/%s/@@zoomify-listing" % mixed, login=True)
    assert status(b) == 200
    images = json.loads(b.contents)["images"]
    assert images["pub"]["status"] == "ready"
    assert images["pub"]["text"] == "tiled"
    # 1200 x 800: the smallest tier is 150 x 100 (one tile: Zoomify's
    # pyramid stops there)
    assert images["pub"]["thumbnail"].startswith(
        "/%s/pub/iiif/full/150,100/0/default.jpg?v=" % mixed)
    assert (images["pub"]["width"], images["pub"]["height"]) == (48, 32)
    assert images["empty"] == {"status": "empty", "text": "no tiles"}
    # managers only
    assert status(fetch(BASE + "/%s/@@zoomify-listing" % mixed)) == 401


def test_a_preview_size_bounds_the_thumbnail(folder, photo_tiles):
    """An image with a preview size (resolution.py): a visitor without
    full resolution gets a thumbnail within the preview, which his IIIF
    service answers; the manager the usual one. The answer depends on
    the user: private."""
    with zope_root() as app:
        add_prepared(app[folder], "p", photo_tiles, "Preview only")
        app[folder]["p"].edit(preview_size=256)
    b = fetch(BASE + "/%s/gallery" % folder)
    (image,) = Gallery.of(b.contents).images
    # 1200 x 800 cut at 256: the 150 x 100 tier
    assert "/iiif/full/150,100/0/" in image["src"]
    assert (image["width"], image["height"]) == ("150", "100")
    assert get(BASE + image["src"])[0] == 200
    assert b.headers["Cache-Control"] == "private, no-cache"
    doc, headers = _doc("/%s/collection.json" % folder)
    assert doc["items"][0]["thumbnail"][0]["width"] == 150
    assert headers["Cache-Control"] == "private, no-cache"
    doc, _ = _doc("/%s/collection.json" % folder, login=True)
    assert doc["items"][0]["thumbnail"][0]["width"] == 300


def test_big_folders_are_listed_a_few_at_a_time(folder, small, monkeypatch):
    """A listing reads every object of its folder (2.8 s for 10,000
    images): of a big folder only listing.BIG_LISTINGS run at once, one
    more is 503 with Retry-After, so a flood of anonymous gallery or
    collection requests cannot hold all of Zope's threads. Folders under
    BIG_FOLDER objects are never held back."""
    from ZoomifyImage import listing
    with zope_root() as app:
        add_many(app[folder], 3, small)
    monkeypatch.setattr(listing, "BIG_FOLDER", 3)
    monkeypatch.setattr(listing, "LISTING_WAIT", 0.01)
    held = 0
    while listing.BIG_LISTINGS.acquire(blocking=False):  # all busy
        held += 1
    try:
        assert held >= 1
        for name in ("collection.json", "collection.json?page=1",
                     "gallery"):
            b = fetch("%s/%s/%s" % (BASE, folder, name))
            assert status(b) == 503, name
            assert int(b.headers["Retry-After"]) > 0
            assert "try again" in b.contents
        # a small folder is not held back
        monkeypatch.setattr(listing, "BIG_FOLDER", 4)
        assert status(fetch("%s/%s/gallery" % (BASE, folder))) == 200
        monkeypatch.setattr(listing, "BIG_FOLDER", 3)
    finally:
        for _ in range(held):
            listing.BIG_LISTINGS.release()
    assert status(fetch("%s/%s/collection.json" % (BASE, folder))) == 200
