"""Other viewers on our images, in a real browser (Debian's Chromium
driven by Playwright, against this process's Zope served by waitress on
127.0.0.1), each from the copy of its npm package that the product ships
as ++resource++zoomifyimage/... (see the Makefile), never from another
site:

- Mirador opens IMAGE/manifest.json and draws the image;
- OpenLayers draws our Zoomify tiles with static/zoomify-ol.js, which
  asks only for tiles that exist, and the IIIF service with its IIIF
  source.

Every response must succeed (no 4xx or 5xx), nothing may be asked of
another host, the console must stay free of errors, and the canvas must
show the image.
"""

import os
from urllib.parse import urlsplit

import numpy as np
import pytest

from tests.browser_pages import WatchedPage
from tests.browser_pages import assert_looks_like
from tests.browser_pages import decode_png
from tests.browser_pages import requested_tiles
from tests.images import colourful
from tests.images import save
from tests.zope_fixtures import BASE
from tests.zope_fixtures import add
from tests.zope_fixtures import chromium_missing
from tests.zope_fixtures import zope_root

RESOURCES = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                         "ZoomifyImage", "static")


def missing(*names):
    why = chromium_missing()
    if why:
        return why
    for name in names:
        if not os.path.exists(os.path.join(RESOURCES, name)):
            return "%s is not installed in ZoomifyImage/static: make " \
                   "install copies it from node_modules" % name
    return None


def put_jpeg(folder, id, array, tmp_path, **settings):
    """Add ``array`` as a JPEG (quality 90) image; its path in the site."""
    path = save(array, tmp_path / (id + ".jpg"), quality=90)
    return add(folder, path, id, **settings)[len(BASE):]


def put_page(folder, id, html):
    """A DTML document in the folder: a test page."""
    from OFS.DTMLDocument import addDTMLDocument
    with zope_root() as app:
        addDTMLDocument(app[folder], id, file=html)
    return "/%s/%s" % (folder, id)


class Page(WatchedPage):
    """A watched page that also refuses any request to another host."""

    def __init__(self, chromium, local_url, viewport=(1000, 700)):
        super().__init__(chromium, viewport)
        self.host = urlsplit(local_url).netloc
        self.page.on("request", self._request)

    def _request(self, request):
        url = urlsplit(request.url)
        if url.scheme in ("http", "https") and url.netloc != self.host:
            self.failures.append("another host: " + request.url)


def opaque_box(rgba):
    """The box of the pixels drawn (alpha above 250) on a canvas."""
    ys, xs = np.nonzero(rgba[..., 3] > 250)
    assert len(xs), "nothing drawn"
    return (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


# --- Mirador ----------------------------------------------------------------

MIRADOR_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Mirador</title></head>
<body style="margin: 0">
<div id="viewer" style="position: absolute; inset: 0"></div>
<script src="/++resource++zoomifyimage/mirador/mirador.min.js"></script>
<script>
window.mirador = Mirador.viewer({id: "viewer", windows: [
    {manifestId: "<dtml-var "%s.absolute_url()">/manifest.json"}]});
</script>
</body></html>
"""

# what Mirador 4.0.0's bundle itself logs as an error in any page: React
# 19 telling that a component of the bundle reads element.ref
MIRADOR_OWN_ERRORS = ("Accessing element.ref was removed in React 19.",)

# the canvas of Mirador's OpenSeadragon, once it has drawn every tile it
# asked for and nothing moved for a while
MIRADOR_CANVAS = """async () => {
  const frame = () => new Promise(r => requestAnimationFrame(r));
  const t0 = performance.now();
  let last = null, same = 0;
  while (performance.now() - t0 < 30000) {
    await frame();
    const canvas = document.querySelector(".openseadragon-canvas canvas");
    if (!canvas || !canvas.width) continue;
    const now = canvas.toDataURL("image/png");
    same = now === last ? same + 1 : 0;
    last = now;
    if (same >= 20) return {png: now, width: canvas.width};
  }
  throw new Error("Mirador's canvas did not settle");
}"""


@pytest.mark.skipif(missing("mirador/mirador.min.js") is not None,
                    reason=missing("mirador/mirador.min.js") or "")
def test_mirador_opens_the_manifest_and_draws_the_image(
        local_url, chromium, folder, tmp_path):
    array = colourful(2400, 1500, seed=4)
    image = put_jpeg(folder, "harbour", array, tmp_path,
                     title="The harbour")
    path = put_page(folder, "mirador", MIRADOR_PAGE % "harbour")
    page = Page(chromium, local_url)
    try:
        page.page.goto(local_url + path)
        # Mirador shows the manifest's label as the window's title
        page.page.get_by_text("The harbour").first.wait_for(timeout=20000)
        page.page.wait_for_function(
            "document.querySelector('.openseadragon-canvas canvas')",
            timeout=20000)
        page.page.wait_for_load_state("networkidle")
        data = page.page.evaluate(MIRADOR_CANVAS)
        rgba = decode_png(data["png"])
        box = opaque_box(rgba)
        # the whole image, its shape kept
        ratio = (box[2] - box[0]) / (box[3] - box[1])
        assert abs(ratio - 2400 / 1500) < 0.02, (box, ratio)
        assert_looks_like(rgba, box, array)
        page.screenshot("mirador")
        page.check_clean(allowed=MIRADOR_OWN_ERRORS)
        assert local_url + image + "/manifest.json" in page.urls
        assert local_url + image + "/iiif/info.json" in page.urls
        tiles = [u for u in page.urls if u.startswith(
            local_url + image + "/iiif/") and u.endswith(".jpg")]
        assert tiles, page.urls
        assert not [u for u in page.urls if "/TileGroup" in u]
    finally:
        page.close()


# --- OpenLayers --------------------------------------------------------------

OL_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>OpenLayers</title>
<link rel="stylesheet" href="/++resource++zoomifyimage/ol/ol.css">
</head>
<body style="margin: 0">
<div id="map" style="width: 1000px; height: 700px"></div>
<script src="/++resource++zoomifyimage/ol/ol.js"></script>
<script src="/++resource++zoomifyimage/zoomify-ol.js"></script>
<script>
%s
</script>
</body></html>
"""

# with zoomify-ol.js
OL_ZOOMIFY = """window.olMap = ZoomifyOL.map("map", ZoomifyOL.source(
    {url: %(url)s, size: [%(width)d, %(height)d], version: %(version)s,
     transition: 0}));"""

# the stock Zoomify source, as OpenLayers' own example makes it
OL_STOCK = """(function () {
  var source = new ol.source.Zoomify({
    url: %(url)s, size: [%(width)d, %(height)d], transition: 0,
    tierSizeCalculation: "truncated"});
  window.olMap = ZoomifyOL.map("map", source);
})();"""

# OpenLayers' IIIF source on our info.json
OL_IIIF = """fetch(%(info)s).then(r => r.json()).then(json => {
  var options = new ol.format.IIIFInfo(json).getTileSourceOptions();
  options.transition = 0;
  window.olMap = ZoomifyOL.map("map", new ol.source.IIIF(options));
});"""

# move the map (a resolution, a centre, in map units: the image is
# [0, -height, width, 0]), then wait until every tile it needs is drawn
OL_MOVE = """async ([resolution, center]) => {
  const map = window.olMap, view = map.getView();
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no rendercomplete")),
                             20000);
    map.once("rendercomplete", () => { clearTimeout(timer); resolve(); });
    if (resolution !== null) view.setResolution(resolution);
    if (center !== null) view.setCenter(center);
    map.render();
  });
}"""

# the layer's canvas and the image's box on it, in canvas pixels
OL_CANVAS = """() => {
  const map = window.olMap;
  const canvas = map.getViewport().querySelector("canvas");
  const extent = map.getLayers().item(0).getSource().getTileGrid()
    .getExtent();
  const ratio = canvas.width / map.getSize()[0];
  const a = map.getPixelFromCoordinate([extent[0], extent[3]]);
  const b = map.getPixelFromCoordinate([extent[2], extent[1]]);
  return {png: canvas.toDataURL("image/png"),
          box: [a[0] * ratio, a[1] * ratio, b[0] * ratio, b[1] * ratio],
          resolutions: map.getLayers().item(0).getSource().getTileGrid()
            .getResolutions()};
}"""


def ol_page(chromium, local_url, folder, name, script):
    path = put_page(folder, name, OL_PAGE % script)
    page = Page(chromium, local_url)
    page.page.goto(local_url + path)
    page.page.wait_for_function("window.olMap", timeout=20000)
    page.page.evaluate(OL_MOVE, [None, None])
    return page


def ol_canvas(page):
    data = page.page.evaluate(OL_CANVAS)
    return decode_png(data["png"]), data["box"], data["resolutions"]


def ol_tour(page, width, height):
    """Every resolution of the grid, and at each the four corners and
    the middle of the image."""
    resolutions = ol_canvas(page)[2]
    for resolution in resolutions:
        for x, y in [(0, 0), (width, 0), (0, height), (width, height),
                     (width / 2, height / 2)]:
            page.page.evaluate(OL_MOVE, [resolution, [x, -y]])


def ol_shows_the_image_on_a_tour(page, array, name):
    """The map shows the image at first, after a tour it shows it at
    full size at the bottom right corner (so the edge tiles are right:
    JPEG's noise is about 1 on average), and nothing failed."""
    height, width = array.shape[:2]
    drawn, box, _ = ol_canvas(page)
    assert_looks_like(drawn, box, array)
    page.screenshot(name)
    ol_tour(page, width, height)
    drawn, box, _ = ol_canvas(page)
    assert box[2] - box[0] == pytest.approx(width, abs=1)
    assert_looks_like(drawn, box, array, tolerance=4)
    page.check_clean()


def zoomify_settings(local_url, folder, path):
    import json

    from ZoomifyImage.pyramid import Layout
    with zope_root() as app:
        image = app.unrestrictedTraverse(path.lstrip("/"))
        version = image.tiles_set()
        layout = Layout(image.width, image.height, image.tile_size)
    return {"url": json.dumps(local_url + path + "/"), "version":
            json.dumps(version), "width": layout.width,
            "height": layout.height}, layout


OL_SIZES = [(513, 513), (1025, 1027), (2049, 1025), (4100, 4100),
            (1537, 200)]


@pytest.mark.skipif(missing("ol/ol.js") is not None,
                    reason=missing("ol/ol.js") or "")
@pytest.mark.parametrize("size", OL_SIZES)
def test_openlayers_zoomify_asks_only_for_tiles_that_exist(
        local_url, chromium, folder, tmp_path, size):
    width, height = size
    array = colourful(width, height, seed=width % 7)
    path = put_jpeg(folder, "ol%dx%d" % size, array, tmp_path)
    settings, layout = zoomify_settings(local_url, folder, path)
    page = ol_page(chromium, local_url, folder, "map", OL_ZOOMIFY % settings)
    try:
        ol_shows_the_image_on_a_tour(page, array, "ol-zoomify-%dx%d" % size)

        asked = requested_tiles(page.urls, path)
        exists = set()
        for tier, col, row in layout.all_tiles():
            name = layout.tile_name(tier, col, row)
            exists.add((int(name[9:name.index("/")]), tier, col, row))
        assert asked <= exists, sorted(asked - exists)
        levels = {t for t in range(layout.num_tiers)
                  if layout.grids[t][0] and layout.grids[t][1]}
        assert {t for _, t, _, _ in asked} == levels
        top = layout.num_tiers - 1
        cols, rows = layout.grids[top]
        assert {(top, 0, 0), (top, cols - 1, rows - 1)} <= {
            (t, c, r) for _, t, c, r in asked}
        assert all("?v=" in u for u in page.urls if "/TileGroup" in u)
    finally:
        page.close()


@pytest.mark.skipif(missing("ol/ol.js") is not None,
                    reason=missing("ol/ol.js") or "")
@pytest.mark.parametrize("size", OL_SIZES)
def test_stock_openlayers_zoomify_asks_for_missing_tiles(
        local_url, chromium, folder, tmp_path, size):
    """Why zoomify-ol.js is there: the same tour with the stock source
    asks for edge tiles that a Zoomify set does not have."""
    width, height = size
    array = colourful(width, height, seed=2)
    path = put_jpeg(folder, "stock", array, tmp_path)
    settings, layout = zoomify_settings(local_url, folder, path)
    page = ol_page(chromium, local_url, folder, "map", OL_STOCK % settings)
    try:
        ol_tour(page, width, height)
        assert page.failures
        assert all("HTTP 404" in f and "/TileGroup" in f
                   for f in page.failures), page.failures
        print("stock OpenLayers, %dx%d: %d missing tiles asked for"
              % (width, height, len(page.failures)))
    finally:
        page.close()


@pytest.mark.skipif(missing("ol/ol.js") is not None,
                    reason=missing("ol/ol.js") or "")
@pytest.mark.parametrize("size", OL_SIZES)
def test_openlayers_iiif_without_a_failed_request(
        local_url, chromium, folder, tmp_path, size):
    import json
    width, height = size
    array = colourful(width, height, seed=width % 5)
    path = put_jpeg(folder, "oliiif%dx%d" % size, array, tmp_path)
    script = OL_IIIF % {"info": json.dumps(local_url + path +
                                           "/iiif/info.json")}
    page = ol_page(chromium, local_url, folder, "map", script)
    try:
        ol_shows_the_image_on_a_tour(page, array, "ol-iiif-%dx%d" % size)
        asked = [u for u in page.urls if u.startswith(local_url + path +
                                                      "/iiif/")]
        assert len(asked) > 3
        assert not [u for u in page.urls if "/TileGroup" in u]
    finally:
        page.close()
