"""Findable IIIF and embeds through the publisher (zope.testbrowser): the
viewer page and the Edit tab show the manifest and info.json URLs with
copy buttons, the IIIF drag-and-drop link and an embed snippet;
IMAGE/embed is a viewer-only page for an iframe. The browser side (copy
button, the page in another page's iframe) is in test_embed_browser.py."""

import json
import re
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from webtest import TestApp

from tests.test_viewer_pages import Elements
from tests.test_virtual_hosts import EVIL
from tests.test_virtual_hosts import _loaded_urls
from tests.zope_fixtures import BASE
from tests.zope_fixtures import add
from tests.zope_fixtures import fetch
from tests.zope_fixtures import product_config
from tests.zope_fixtures import status
from tests.zope_fixtures import wsgi_app
from tests.zope_fixtures import zope_root

PRESENTATION = ('application/ld+json;profile='
                '"http://iiif.io/api/presentation/3/context.json"')
LINKS_JS = "/++resource++zoomifyimage/zoomify-links.js"


def _share(html, path):
    """The IIIF and embed block of a page: its fields by id."""
    tags = Elements(html)
    fields = {a["id"]: a for t, a in tags.tags
              if t in ("input", "textarea") and a.get("id", "").startswith(
                  "zoomify-share-")}
    assert fields["zoomify-share-manifest"]["value"] == \
        path + "/manifest.json"
    assert fields["zoomify-share-info"]["value"] == path + "/iiif/info.json"
    for field in fields.values():
        assert "readonly" in field
    # every field has a copy button, a real <button> (keyboard usable)
    buttons = [a for t, a in tags.tags if t == "button"
               and a.get("data-zoomify-copy")]
    assert {b["data-zoomify-copy"] for b in buttons} == set(fields)
    assert all(b.get("type") == "button" for b in buttons)
    # the embed snippet, as text in a read-only textarea
    snippet = re.search(r'<textarea[^>]*id="zoomify-share-embed"[^>]*>'
                        r'([^<]*)</textarea>', html).group(1)
    assert snippet.startswith("&lt;iframe src=&quot;%s/embed&quot;" % path)
    # the drag-and-drop link: IIIF's logo, to the manifest ?manifest=
    (drag,) = tags.find("a", id="zoomify-iiif-drag")
    href = urlsplit(drag["href"])
    assert href.path == path + "/manifest.json"
    assert parse_qs(href.query)["manifest"] == [path + "/manifest.json"]
    (logo,) = [a for t, a in tags.tags if t == "img" and
               a.get("src", "").endswith("/iiif-logo.svg")]
    assert logo["alt"]
    # our own script makes them absolute, in the browser
    assert tags.find("script", src=LINKS_JS)
    return fields


def test_viewer_page_shows_and_links_the_iiif_urls(folder, photo):
    url = add(folder, photo, title="Harbour")
    path = url[len(BASE):]
    b = fetch(url)
    assert status(b) == 200
    tags = Elements(b.contents)
    (alternate,) = tags.find("link", rel="alternate")
    assert alternate["type"] == PRESENTATION
    assert alternate["href"] == path + "/manifest.json"
    _share(b.contents, path)
    # the links lead to what they say
    b.open(BASE + path + "/manifest.json")
    assert json.loads(b.contents)["type"] == "Manifest"
    b.open(BASE + path + "/iiif/info.json")
    assert status(b) == 200
    b.open(BASE + "/++resource++zoomifyimage/iiif-logo.svg")
    assert status(b) == 200
    assert b.headers["Content-Type"].startswith("image/svg+xml")
    b.open(BASE + LINKS_JS)
    assert status(b) == 200


def test_edit_tab_shows_the_iiif_urls(folder, photo):
    url = add(folder, photo)
    b = fetch(url + "/manage_main", login=True)
    assert status(b) == 200
    _share(b.contents, url[len(BASE):])


def test_embed_page_is_the_viewer_alone(folder, photo):
    url = add(folder, photo, title="Harbour")
    b = fetch(url + "/embed")
    assert status(b) == 200
    assert b.headers["Content-Type"].startswith("text/html")
    # cached as the viewer page, and meant to be framed
    assert b.headers["Cache-Control"] == "no-cache"
    assert "X-Frame-Options" not in b.headers
    tags = Elements(b.contents)
    (div,) = tags.find("div", role="img")
    assert div["aria-label"] == "Harbour"
    assert "zoomify-page-viewer" in div["class"]
    assert tags.find("meta", name="viewport")
    # no title bar, no download link, nothing to copy
    assert not tags.find("h1") and not tags.find("header")
    assert "download" not in b.contents.lower()
    assert "zoomify-share" not in b.contents
    assert not tags.find("p", id="zoomify-attribution")
    for src in _loaded_urls(b.contents):
        assert src == "data:," or src.startswith("/") and \
            not src.startswith("//"), src


def test_embed_page_shows_the_attribution(folder, photo):
    url = add(folder, photo)
    with product_config(**{"iiif-required-statement":
                           "Courtesy of the <Harbour> & Museum"}):
        b = fetch(url + "/embed")
    (p,) = Elements(b.contents).find("p", id="zoomify-attribution")
    assert "Courtesy of the &lt;Harbour&gt; &amp; Museum" in b.contents


def test_embed_page_takes_get_and_head_only(folder, photo):
    url = add(folder, photo)
    app = TestApp(wsgi_app())
    path = url[len(BASE):]
    head = app.head(path + "/embed", status="*")
    assert head.status_int == 200 and head.body == b""
    assert "X-Frame-Options" not in head.headers
    post = app.post(path + "/embed", {"x": "1"}, status="*")
    assert post.status_int in (404, 405), post.status
    assert "zoomifyImageQueue" not in post.text


def test_private_image_embed_asks_for_a_login(folder, photo):
    url = add(folder, photo)
    with zope_root() as app:
        app[folder]["img"].manage_permission("View", ["Manager"], acquire=0)
    for page in ("/embed", "", "/manage_main"):
        assert status(fetch(url + page)) == 401, page
    b = fetch(url + "/embed", login=True)
    assert status(b) == 200
    control = b.headers["Cache-Control"]
    assert "private" in control and "public" not in control
    assert "X-Frame-Options" not in b.headers
    b = fetch(url, login=True)
    _share(b.contents, url[len(BASE):])


def test_share_links_name_no_host_from_the_request(folder, photo):
    add(folder, photo, "p")
    for page in ("", "/embed", "/manage_main"):
        b = fetch("%s%s/%s/p%s" % (BASE, EVIL, folder, page), login=True)
        assert status(b) == 200, page
        if page != "/manage_main":
            assert "evil" not in b.contents.lower(), page
        for url in _loaded_urls(b.contents):
            assert not re.match(r"^\s*(https?:)?//", url), (page, url)
        if page != "/embed":
            _share(b.contents, "/%s/p" % folder)
