"""The viewer page, embed snippets and Flash markup through the publisher
(zope.testbrowser): escaping, states without tiles, settings. The browser
tests are in test_viewer_browser.py."""

import contextlib
import json
import re
from html import unescape
from html.parser import HTMLParser

import pytest

from tests.images import save
from tests.images import smooth
from tests.zope_fixtures import BASE
from tests.zope_fixtures import add
from tests.zope_fixtures import browser
from tests.zope_fixtures import product_config
from tests.zope_fixtures import status
from tests.zope_fixtures import zope_root

EVIL = '</script><script>alert(1)</script>"\'&<b>'
PHOTO = {"width": 600, "height": 300, "name": "photo.jpg", "quality": 90}


@contextlib.contextmanager
def changed(folder, id="img"):
    """The image in a transaction, committed at the end."""
    with zope_root() as app:
        yield app[folder][id]


class Elements(HTMLParser):
    """Every start tag as (tag, attributes), the scripts' text, and the
    text of data blocks (<script type="application/ld+json">: data a
    browser never runs)."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.scripts, self.data_blocks = [], [], []
        self._in = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        kind = dict(attrs).get("type") or "text/javascript"
        self._in = None if tag != "script" else self.scripts if kind in (
            "text/javascript", "module") else self.data_blocks

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in is not None:
            self._in.append(data)

    def find(self, tag, **attrs):
        return [a for t, a in self.tags if t == tag and all(
            a.get(k.rstrip("_")) == v for k, v in attrs.items())]


def settings_of(script):
    """The settings a snippet's script passes to the loader."""
    return json.loads(script[script.rindex("})(") + 3:script.rindex(");")])


def test_page_has_a_zoomify_viewer(folder, photo):
    url = add(folder, photo, title="Harbour")
    with zope_root(commit=False) as app:
        version = app[folder]["img"].tiles_set()
    for page in (url, url + "/view"):
        b = browser(login=False)
        b.open(page)
        assert status(b) == 200
        assert b.headers["Content-Type"].startswith("text/html")
        html = Elements(b.contents)
        assert "<title>Harbour</title>" in b.contents
        assert html.find("meta", name="viewport")
        # paths, never a host (issue 23, H1: a client's VirtualHostBase)
        path = url[len(BASE):]
        # anonymous may download the public JPEG, not the original
        assert html.find("a", href=path + "/download.jpg")
        (div,) = html.find("div", role="img")
        settings = settings_of(html.scripts[-1])
        assert settings["id"] == div["id"]
        assert settings["width"] == 600 and settings["height"] == 300
        assert settings["tileSize"] == 256
        # the tiles' URLs name the set: a retile never mixes two sets in
        # a browser's or a front-end's cache
        assert settings["tilesUrl"] == "%s/v/%s/" % (path, version)
        # for a zoomify-viewer.js from before, still in a browser's cache
        assert settings["version"] == version
        assert settings["navigator"] is True
        assert settings["prefixUrl"] == (
            "/++resource++zoomifyimage/openseadragon/images/")
        assert settings["scripts"] == [
            "/++resource++zoomifyimage/openseadragon/openseadragon.min.js",
            "/++resource++zoomifyimage/zoomify-viewer.js"]
        # nothing from another site
        for src in re.findall(r'(?:src|href)="([^"]+)"', b.contents):
            if src == "data:,":
                continue  # the empty icon, so that no /favicon.ico is asked
            assert src.startswith("/") and not src.startswith("//"), src


def test_resources_are_served(folder):
    b = browser(login=False)
    for name, kind in [("openseadragon/openseadragon.min.js", "javascript"),
                       ("zoomify-viewer.js", "javascript"),
                       ("zoomify-viewer.css", "text/css"),
                       ("openseadragon/images/zoomin_rest.png", "image/png"),
                       ("openseadragon/images/fullpage_hover.png",
                        "image/png")]:
        b.open(BASE + "/++resource++zoomifyimage/" + name)
        assert status(b) == 200, name
        assert kind in b.headers["Content-Type"]
    b.open(BASE + "/++resource++zoomifyimage/openseadragon/"
           "openseadragon.min.js")
    assert "6.1.1" in b.contents[:2000]


def test_title_is_escaped_everywhere(folder, photo):
    # a title with markup is refused now (issue 23, H4); one saved before
    # is shown with look-alike quotes for < and >, the rest as given
    url = add(folder, photo)
    with changed(folder) as image:
        image.title = EVIL
    shown = EVIL.replace("<", "\u2039").replace(">", "\u203a")
    b = browser(login=False)
    b.open(url)
    assert "<script>alert(1)" not in b.contents
    assert "<b>" not in b.contents
    html = Elements(b.contents)
    # the title is text, exactly as given, in <title>, <h1> and the label
    for tag in ("title", "h1"):
        text = re.search(r"<%s[^>]*>(.*)</%s>" % (tag, tag),
                         b.contents).group(1)
        assert "<" not in text and unescape(text) == shown
    (div,) = html.find("div", role="img")
    assert div["aria-label"] == shown
    # the only scripts are ours: the loader of the viewer
    assert len(html.scripts) == 1
    # and the schema.org data has the title as text
    (data,) = html.data_blocks
    assert "<" not in data and json.loads(data)["name"] == shown


def test_script_values_are_escaped(folder, photo):
    # a tile-url with markup characters ends up in the viewer's script
    url = add(folder, photo, storage="filesystem")
    b = browser(login=False)
    with product_config(**{"tile-url": "/t/</script><b>&amp;"}):
        b.open(url)
    assert status(b) == 200
    assert "<b>" not in b.contents
    html = Elements(b.contents)
    script = html.scripts[-1]
    assert "<" not in script and ">" not in script and "&" not in script
    assert settings_of(script)["tilesUrl"].startswith(
        "/t/</script><b>&amp;/")


def test_empty_image_says_so(folder):
    from ZoomifyImage.content import ZoomifyImage
    with zope_root() as app:
        app[folder]._setObject("img", ZoomifyImage("img", "Nothing yet"))
    b = browser(login=False)
    b.open("%s/%s/img" % (BASE, folder))
    assert status(b) == 200
    assert "This image has no tiles yet." in b.contents
    assert "zoomifyImageQueue" not in b.contents
    assert 'data-status="empty"' in b.contents
    assert "Download the original" not in b.contents
    with zope_root(commit=False) as app:
        snippet = app[folder]["img"].tag()
    assert "zoomify-not-ready" in snippet and "<script" not in snippet


def test_failed_image_shows_its_error_to_managers_only(folder, photo):
    url = add(folder, photo)
    with changed(folder) as image:
        image.status = "failed"
        image.error = "photo.jpg: <truncated> file"
    anonymous = browser(login=False)
    anonymous.open(url)
    # a failed first tiling: nothing is there for visitors (issue 23)
    assert status(anonymous) == 404
    assert "truncated" not in anonymous.contents
    assert "zoomifyImageQueue" not in anonymous.contents
    manager = browser()
    manager.open(url)
    assert "could not be cut into tiles" in manager.contents
    assert ('<span id="zoomify-error">photo.jpg: &lt;truncated&gt; file'
            '</span>') in manager.contents


def test_retile_failure_keeps_viewer_and_tells_managers(folder, photo):
    url = add(folder, photo)
    with changed(folder) as image:
        image.error = "the new file is broken"
    manager = browser()
    manager.open(url)
    assert "zoomifyImageQueue" in manager.contents
    assert "the new file is broken" in manager.contents
    anonymous = browser(login=False)
    anonymous.open(url)
    assert "the new file is broken" not in anonymous.contents


def test_tiling_shows_progress_and_refreshes(folder, photo):
    from ZoomifyImage.content import ZoomifyImage
    from ZoomifyImage.jobs import TilingJob
    with zope_root() as app:
        image = ZoomifyImage("img", "Big")
        app[folder]._setObject("img", image)
        job = TilingJob("not-in-the-registry")
        job.status, job.done, job.total = "tiling", 30, 120
        app[folder]["img"]._job = job
    b = browser(login=False)
    b.open("%s/%s/img" % (BASE, folder))
    assert "being cut into tiles" in b.contents
    assert "30 of 120 tiles (25%)" in b.contents
    assert 'http-equiv="refresh"' in b.contents
    assert "zoomifyImageQueue" not in b.contents
    with changed(folder) as image:
        image._job.status = "queued"
    b.open("%s/%s/img" % (BASE, folder))
    assert "waiting to be cut into tiles" in b.contents


def test_tag_options(folder, photo):
    add(folder, photo)
    with zope_root(commit=False) as app:
        image = app[folder]["img"]
        first, second = image.tag(), image.tag()
        sized = image.tag(width=400, height="50%", css_class="left wide",
                          id="main-viewer", navigator=False)
        with pytest.raises(ValueError):
            image.tag(height="10px;background:url(x)")
        with pytest.raises(ValueError):
            image.tag(id='x" onclick="y')
    ids = [Elements(s).find("div")[0]["id"] for s in (first, second)]
    assert ids[0] != ids[1]
    html = Elements(sized)
    (div,) = html.find("div", id="main-viewer")
    assert div["class"] == "zoomify-viewer left wide"
    assert div["style"] == "width:400px;height:50%"
    settings = settings_of(html.scripts[0])
    assert settings["id"] == "main-viewer"
    assert settings["navigator"] is False


def test_tiles_url_follows_tile_url_for_filesystem_store(folder, photo):
    add(folder, photo, id="fs", storage="filesystem")
    add(folder, photo, id="db", storage="zodb")
    with product_config(**{"tile-url": "https://tiles.example.org/z/"}):
        with zope_root(commit=False) as app:
            fs, db = app[folder]["fs"], app[folder]["db"]
            assert fs.tiles_url() == (
                "https://tiles.example.org/z/%s/%s/%s/"
                % (fs.uid[:2], fs.uid, fs._store.set_id))
            assert db.tiles_url() == "%s/v/%s/" % (db.absolute_url(),
                                                   db.tiles_set())
            assert db.tiles_url(path_only=True) == "%s/v/%s/" % (
                db.absolute_url_path(), db.tiles_set())
            settings = settings_of(Elements(fs.tag()).scripts[0])
            assert settings["tilesUrl"] == fs.tiles_url()
            flash = Elements(fs.flash_tag(swf_url="/z.swf"))
            (param,) = flash.find("param", name="FlashVars")
            assert param["value"] == "zoomifyImagePath=" + fs.tiles_url()
    with zope_root(commit=False) as app:
        fs = app[folder]["fs"]
        assert fs.tiles_url() == "%s/v/%s/" % (fs.absolute_url(),
                                               fs.tiles_set())


def test_flash_tag_markup(folder, photo):
    add(folder, photo)
    swf = "/static/ZoomifyViewer.swf?a=1&b=2"
    with zope_root(commit=False) as app:
        # the legacy viewer's tile URLs name the set too
        url = "%s/v/%s" % (app[folder]["img"].absolute_url_path(),
                           app[folder]["img"].tiles_set())
        markup = app[folder]["img"].flash_tag(
            swf_url=swf, width=800, height=500, id="flash1",
            zoomifyZoom=50, zoomifyNavWindow=0)
    html = Elements(markup)
    assert [t for t, _ in html.tags] == [
        "object", "param", "param", "param", "param", "embed"]
    obj = html.tags[0][1]
    assert obj == {"classid": "clsid:D27CDB6E-AE6D-11cf-96B8-444553540000",
                   "width": "800", "height": "500", "id": "flash1"}
    vars = ("zoomifyImagePath=%s/&zoomifyNavWindow=0&zoomifyZoom=50" % url)
    params = {a["name"]: a["value"] for t, a in html.tags if t == "param"}
    assert params == {"FlashVars": vars, "SRC": swf, "movie": swf,
                      "MENU": "FALSE"}
    embed = html.tags[-1][1]
    assert embed == {"flashvars": vars, "src": swf, "menu": "false",
                     "type": "application/x-shockwave-flash",
                     "width": "800", "height": "500", "name": "flash1"}
    # the markup itself has the ampersands escaped
    assert "a=1&amp;b=2" in markup


def test_flash_tag_settings_and_refusals(folder, photo):
    add(folder, photo)
    with zope_root(commit=False) as app:
        image = app[folder]["img"]
        missing = image.flash_tag()  # none configured: OpenSeadragon
        assert "<object" not in missing and "<embed" not in missing
        assert "flash-viewer-url" not in missing
        assert "zoomifyImageQueue" in missing
        with product_config(**{"flash-viewer-url": "/zoomify/Viewer.swf"}):
            html = Elements(image.flash_tag())
        with pytest.raises(ValueError):
            image.flash_tag(swf_url="javascript:alert(1)")
        with pytest.raises(TypeError):
            image.flash_tag(swf_url="/v.swf", onload="x")
    (embed,) = html.find("embed")
    assert embed["src"] == "/zoomify/Viewer.swf"
    assert html.find("object")[0]["width"] == "100%"


def test_page_uses_flash_when_the_image_asks(folder, photo):
    url = add(folder, photo, title="Old")
    with product_config(**{"flash-viewer-url": "/Viewer.swf"}):
        with changed(folder) as image:
            image.edit(None, None, None, "flash", None)
    b = browser(login=False)
    b.open(url)
    # none configured (any more): OpenSeadragon, no word of the setting
    assert "zoomifyImageQueue" in b.contents
    assert "flash-viewer-url" not in b.contents
    with product_config(**{"flash-viewer-url": "/Viewer.swf"}):
        b.open(url)
    html = Elements(b.contents)
    (obj,) = html.find("object")
    assert obj["classid"] == "clsid:D27CDB6E-AE6D-11cf-96B8-444553540000"
    (param,) = html.find("param", name="FlashVars")
    with zope_root(commit=False) as app:
        version = app[folder]["img"].tiles_set()
    assert param["value"] == "zoomifyImagePath=%s/v/%s/" % (
        url[len(BASE):], version)


def test_phantom_tiles_are_404(folder, tmp_path):
    # 2049x1025: a stock OpenSeadragon asks for TileGroup0/0-1-0.jpg
    path = save(smooth(2049, 1025), tmp_path / "wide.jpg", quality=80)
    url = add(folder, path)
    b = browser(login=False)
    b.open(url + "/TileGroup0/0-0-0.jpg")
    assert status(b) == 200
    b.open(url + "/TileGroup0/0-1-0.jpg")
    assert status(b) == 404
