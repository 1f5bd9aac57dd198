"""The viewer in a real browser: Debian's Chromium driven by Playwright,
against this process's Zope served by waitress on 127.0.0.1.

Every tile request must succeed (no phantom edge tiles, no 404), the
console must stay free of errors, and the canvas must show the image.
Set ZOOMIFY_SCREENSHOTS=DIR to keep screenshots of the pages.
"""

import io
import threading

import numpy as np
import pytest
from PIL import Image

from tests.browser_pages import WatchedPage
from tests.browser_pages import assert_looks_like
from tests.browser_pages import decode_png
from tests.browser_pages import needs_chromium
from tests.browser_pages import requested_tiles
from tests.images import colourful
from tests.zope_fixtures import product_config
from tests.zope_fixtures import put_jpeg
from tests.zope_fixtures import tile_root
from tests.zope_fixtures import zope_root
from ZoomifyImage.pyramid import Layout

pytestmark = needs_chromium


class Page(WatchedPage):
    """A watched page with OpenSeadragon's viewers on it."""

    def open(self, url):
        self.page.goto(url)
        self.page.wait_for_function(
            "window.ZoomifyImage && Object.keys(ZoomifyImage.viewers)"
            ".length && Object.values(ZoomifyImage.viewers).every("
            "v => v.world.getItemCount())", timeout=20000)
        return self.viewer_ids()

    def viewer_ids(self):
        return self.page.evaluate("Object.keys(ZoomifyImage.viewers)")

    def settle(self, id):
        """Wait until the viewer has drawn all it needs at this view."""
        self.page.evaluate(SETTLE, id)

    def move(self, id, image_zoom=None, point=None):
        self.page.evaluate(MOVE, [id, image_zoom, point])
        self.settle(id)

    def canvas(self, id):
        """What the viewer drew, and the image's box on it."""
        data = self.page.evaluate(CANVAS, id)
        return decode_png(data["png"], "RGB"), data["box"]


# OpenSeadragon's API, in the page
SETTLE = """async (id) => {
  const v = ZoomifyImage.viewers[id];
  const frame = () => new Promise(r => requestAnimationFrame(r));
  for (let i = 0; i < 3; i++) await frame();
  const t0 = performance.now();
  while (performance.now() - t0 < 15000) {
    const item = v.world.getItemAt(0);
    if (item && item.getFullyLoaded() && v.imageLoader.jobsInProgress === 0) {
      await frame();
      if (item.getFullyLoaded()) return;
    }
    await frame();
  }
  throw new Error("viewer " + id + " did not finish loading");
}"""

MOVE = """([id, imageZoom, point]) => {
  const v = ZoomifyImage.viewers[id];
  if (imageZoom !== null) {
    v.viewport.zoomTo(v.viewport.imageToViewportZoom(imageZoom), null, true);
  }
  if (point !== null) {
    const item = v.world.getItemAt(0);
    v.viewport.panTo(item.imageToViewportCoordinates(point[0], point[1]),
                     true);
  }
  v.viewport.applyConstraints(true);
}"""

CANVAS = """(id) => {
  const v = ZoomifyImage.viewers[id];
  const item = v.world.getItemAt(0);
  const box = v.viewport.viewportToViewerElementRectangle(item.getBounds());
  const ratio = OpenSeadragon.pixelDensityRatio;
  return {png: v.drawer.canvas.toDataURL("image/png"),
          box: [box.x * ratio, box.y * ratio,
                (box.x + box.width) * ratio, (box.y + box.height) * ratio]};
}"""


@pytest.mark.parametrize("size", [(513, 513), (2049, 1025), (3000, 40),
                                  (1300, 700), (1500, 3)])
def test_every_level_and_corner_without_a_failed_tile(
        local_url, chromium, folder, tmp_path, size):
    width, height = size
    array = colourful(width, height, seed=width % 7)
    path = put_jpeg(folder, "i%dx%d" % size, array, tmp_path,
                    title="Test %dx%d" % size)
    layout = Layout(width, height)
    page = Page(chromium)
    try:
        (id,) = page.open(local_url + path)
        page.settle(id)
        drawn, box = page.canvas(id)
        assert_looks_like(drawn, box, array)
        page.screenshot("viewer-%dx%d" % size)

        levels = [t for t in range(layout.num_tiers)
                  if layout.grids[t][0] and layout.grids[t][1]]
        for tier in levels:
            tier_width = layout.tiers[tier][0]
            page.move(id, image_zoom=tier_width / width)
            for corner in [(0, 0), (width, 0), (0, height), (width, height),
                           (width / 2, height / 2)]:
                page.move(id, point=corner)
        page.check_clean()

        asked = requested_tiles(page.urls, path)
        # the set is named in the path alone: no query for Zope to parse
        assert not [u for u in page.urls if path + "/v/" in u and "?" in u]
        exists = set()
        for tier, col, row in layout.all_tiles():
            name = layout.tile_name(tier, col, row)
            exists.add((int(name[9:name.index("/")]), tier, col, row))
        # nothing but real tiles; every tier; the four corners at full size
        assert asked <= exists, sorted(asked - exists)
        assert {t for _, t, _, _ in asked} == set(levels)
        top = layout.num_tiers - 1
        cols, rows = layout.grids[top]
        corners = {(top, 0, 0), (top, cols - 1, 0), (top, 0, rows - 1),
                   (top, cols - 1, rows - 1)}
        assert corners <= {(t, c, r) for _, t, c, r in asked}

        # back home: the whole image is drawn
        page.page.evaluate("(id) => ZoomifyImage.viewers[id].viewport"
                           ".goHome(true)", id)
        page.settle(id)
        drawn, box = page.canvas(id)
        assert_looks_like(drawn, box, array)
        page.check_clean()
    finally:
        page.close()


def test_two_viewers_on_one_page(local_url, chromium, folder, tmp_path):
    from OFS.DTMLDocument import addDTMLDocument
    red = colourful(900, 600, seed=0)
    blue = colourful(700, 1100, seed=2)
    put_jpeg(folder, "left", red, tmp_path)
    put_jpeg(folder, "right", blue, tmp_path)
    with zope_root() as app:
        addDTMLDocument(app[folder], "two", file=(
            "<!DOCTYPE html><html><head><title>Two</title></head><body>\n"
            "<h1>Two viewers</h1>\n"
            "<dtml-var \"left.tag(width=420, height=320, id='one')\">\n"
            "<dtml-var \"right.tag(width=420, height=320, id='two', "
            "css_class='second')\">\n</body></html>\n"))
    page = Page(chromium)
    try:
        ids = page.open(local_url + "/%s/two" % folder)
        assert sorted(ids) == ["one", "two"]
        for id, array in (("one", red), ("two", blue)):
            page.settle(id)
            drawn, box = page.canvas(id)
            assert_looks_like(drawn, box, array)
        # each viewer shows its own image, not the other's
        drawn, box = page.canvas("two")
        with pytest.raises(AssertionError):
            assert_looks_like(drawn, box, red)
        page.screenshot("two-viewers")
        page.check_clean()
        assert sum(u.endswith("/openseadragon.min.js")
                   for u in page.urls) == 1
    finally:
        page.close()


def test_a_snippet_copied_before_tile_urls_named_the_set(
        local_url, chromium, folder, tmp_path):
    """An embed snippet pasted into a page before tilesUrl named the set
    (tilesUrl IMAGE/, version SET) still shows the image, and still asks
    its tiles with the set's version (?v=SET)."""
    from OFS.DTMLDocument import addDTMLDocument
    array = colourful(900, 600, seed=4)
    path = put_jpeg(folder, "old", array, tmp_path)
    with zope_root() as app:
        version = app[folder]["old"].tiles_set()
        addDTMLDocument(app[folder], "pasted", file=(
            "<!DOCTYPE html><html><head><title>Old</title></head><body>\n"
            "<dtml-var \"old.tag(id='one').replace('/v/%s/', '/')\">\n"
            "</body></html>\n" % version))
    page = Page(chromium)
    try:
        (id,) = page.open(local_url + "/%s/pasted" % folder)
        page.settle(id)
        drawn, box = page.canvas(id)
        assert_looks_like(drawn, box, array)
        page.check_clean()
        tiles = [u for u in page.urls if "/TileGroup" in u]
        assert tiles and not [u for u in tiles if "/v/" in u]
        assert all(u.endswith("?v=" + version) for u in tiles), tiles
        assert requested_tiles(page.urls, path)
    finally:
        page.close()


def test_phone_sized_page(local_url, chromium, folder, tmp_path):
    array = colourful(2400, 1600, seed=4)
    path = put_jpeg(folder, "phone", array, tmp_path,
                    title="A long title that has to wrap on a phone screen")
    page = Page(chromium, viewport=(390, 740))
    try:
        (id,) = page.open(local_url + path)
        page.settle(id)
        box = page.page.evaluate(
            "(id) => document.getElementById(id).getBoundingClientRect()"
            ".toJSON()", id)
        assert box["width"] == 390 and box["height"] > 500
        assert page.page.evaluate(
            "document.documentElement.scrollWidth") <= 390
        assert page.page.locator("#zoomify-download").is_visible()
        drawn, box = page.canvas(id)
        assert_looks_like(drawn, box, array)
        # the controls: zoom in by the button, full page, keyboard
        before = page.page.evaluate(
            "(id) => ZoomifyImage.viewers[id].viewport.getZoom(true)", id)
        page.page.locator("#%s div[title='Zoom in']" % id).first.click()
        page.settle(id)
        after = page.page.evaluate(  # where the animation goes
            "(id) => ZoomifyImage.viewers[id].viewport.getZoom(false)", id)
        assert after > before * 1.5
        page.screenshot("phone")
        page.check_clean()
    finally:
        page.close()


def test_wheel_keyboard_and_full_page(local_url, chromium, folder, tmp_path):
    array = colourful(1800, 1200, seed=5)
    path = put_jpeg(folder, "controls", array, tmp_path)
    page = Page(chromium)
    zoom = "(id) => ZoomifyImage.viewers[id].viewport.getZoom(false)"
    try:
        (id,) = page.open(local_url + path)
        page.settle(id)
        home = page.page.evaluate(zoom, id)
        box = page.page.locator("#" + id).bounding_box()
        page.page.mouse.move(box["x"] + box["width"] / 2,
                             box["y"] + box["height"] / 2)
        page.page.mouse.wheel(0, -300)
        page.page.wait_for_function(
            "([id, z]) => ZoomifyImage.viewers[id].viewport.getZoom(false)"
            " > z * 1.1", arg=[id, home])
        page.page.evaluate("(id) => ZoomifyImage.viewers[id].viewport"
                           ".goHome(true)", id)
        # keyboard: the viewer's canvas takes focus and "+" zooms in
        page.page.locator("#%s .openseadragon-canvas" % id).first.focus()
        page.page.keyboard.down("Equal")  # "=", as "+" without shift
        page.page.wait_for_function(
            "([id, z]) => ZoomifyImage.viewers[id].viewport.getZoom(false)"
            " > z * 1.1", arg=[id, home])
        page.page.keyboard.up("Equal")
        page.page.locator("#%s div[title='Toggle full page']" % id) \
            .first.click()
        page.page.wait_for_function(
            "(id) => ZoomifyImage.viewers[id].isFullPage()", arg=id)
        page.settle(id)
        page.check_clean()
    finally:
        page.close()


@pytest.fixture
def front_end(tmp_path):
    """A plain static file server for the filesystem store's tile root,
    on another port (another origin), as tile-url."""
    import functools
    import http.server

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=tile_root())
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("storage", ["filesystem", "s3"])
def test_tiles_from_tile_url_on_another_origin(local_url, chromium, folder,
                                               tmp_path, storage, request):
    """tile-url (a front-end serving the tile root), or s3-tile-url (the
    bucket itself: SeaweedFS on another port, read by anonymous)."""
    array = colourful(1500, 1000, seed=1)
    if storage == "s3":
        from tests.seaweedfs_fixture import PUBLIC_BUCKET
        prefix = request.getfixturevalue("s3_settings")
        seaweedfs = request.getfixturevalue("seaweedfs")
        front_end = "%s/%s/%s/" % (seaweedfs.endpoint, PUBLIC_BUCKET,
                                   prefix)
        request.getfixturevalue("zope_settings")(
            **{"s3-bucket": PUBLIC_BUCKET})
        setting = "s3-tile-url"
    else:
        front_end = request.getfixturevalue("front_end")
        setting = "tile-url"
    path = put_jpeg(folder, "fs", array, tmp_path, storage=storage)
    page = Page(chromium)
    try:
        with product_config(**{setting: front_end}):
            (id,) = page.open(local_url + path)
        page.settle(id)
        page.check_clean()
        tiles = [u for u in page.urls if "/TileGroup" in u]
        assert tiles and all(u.startswith(front_end) for u in tiles)
        # tiles of another origin taint the canvas: look at the screen
        page.page.evaluate("""(id) => {
            const v = ZoomifyImage.viewers[id];
            v.navigator.element.style.display = "none";
            v.controls.forEach(c => c.element.style.display = "none");
        }""", id)
        box = page.page.evaluate(CANVAS.replace(
            'png: v.drawer.canvas.toDataURL("image/png"),', ""), id)["box"]
        shot = page.page.locator("#" + id).screenshot()
        drawn = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"))
        assert_looks_like(drawn, box, array)
    finally:
        page.close()


@pytest.mark.parametrize("size", [(513, 513), (2049, 1025), (3001, 7),
                                  (6000, 4001)])
def test_iiif_viewer_reaches_every_corner_without_a_failed_request(
        local_url, chromium, folder, tmp_path, size):
    width, height = size
    array = colourful(width, height, seed=width % 5)
    path = put_jpeg(folder, "iiif%dx%d" % size, array, tmp_path)
    with zope_root() as app:
        app.unrestrictedTraverse(path.lstrip("/")).manage_edit(
            viewer="iiif")
    page = Page(chromium)
    try:
        (id,) = page.open(local_url + path)
        page.settle(id)
        drawn, box = page.canvas(id)
        assert_looks_like(drawn, box, array)
        # full resolution at every corner
        page.move(id, image_zoom=1)
        for corner in [(0, 0), (width, 0), (0, height), (width, height)]:
            page.move(id, point=corner)
        page.check_clean()
        asked = [u for u in page.urls if "/iiif/" in u]
        assert any(u.endswith("/iiif/info.json") or "info.json" in u
                   for u in asked)
        assert len(asked) > 2
        assert not [u for u in page.urls if "/TileGroup" in u]
    finally:
        page.close()
