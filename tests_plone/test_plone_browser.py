"""Chromium (Debian's, by Playwright) on a published Zoomify Image's page
in Plone, served over real HTTP on loopback: OpenSeadragon draws the
image inside Plone's page, at the whole view and at full resolution,
with no failed request and no script error; and in the full-screen view,
filling the window."""

import io

import numpy as np
from PIL import Image

from tests.browser_pages import WatchedPage
from tests.browser_pages import assert_looks_like
from tests.browser_pages import decode_png
from tests.browser_pages import needs_chromium
from tests.zope_fixtures import CHROMIUM
from tests.zope_fixtures import CHROMIUM_ARGS
from tests_plone.helpers import add_item

pytestmark = needs_chromium

SETTLE = """async () => {
  const v = ZoomifyImage.viewers["zoomify-viewer"];
  const frame = () => new Promise(r => requestAnimationFrame(r));
  for (let i = 0; i < 3; i++) await frame();
  const t0 = performance.now();
  while (performance.now() - t0 < 15000) {
    const item = v.world.getItemAt(0);
    if (item && item.getFullyLoaded() && v.imageLoader.jobsInProgress === 0)
      { await frame(); if (item.getFullyLoaded()) return; }
    await frame();
  }
  throw new Error("the viewer did not finish loading");
}"""

CANVAS = """() => {
  const v = ZoomifyImage.viewers["zoomify-viewer"];
  const box = v.viewport.viewportToViewerElementRectangle(
      v.world.getItemAt(0).getBounds());
  const r = OpenSeadragon.pixelDensityRatio;
  return {png: v.drawer.canvas.toDataURL("image/png"),
          box: [box.x * r, box.y * r, (box.x + box.width) * r,
                (box.y + box.height) * r]};
}"""

FULL_RESOLUTION = """() => {
  const v = ZoomifyImage.viewers["zoomify-viewer"];
  v.viewport.zoomTo(v.viewport.imageToViewportZoom(1), null, true);
  v.viewport.applyConstraints(true);
}"""

FILLS = """() => {
  const r = document.getElementById("zoomify-viewer").getBoundingClientRect();
  return {width: r.width, height: r.height, bottom: r.bottom,
          windowWidth: window.innerWidth, windowHeight: window.innerHeight};
}"""


def picture(width=1400, height=900):
    """Bands of colour and a gradient: a wrong tile shows."""
    x = np.linspace(0, 255, width)
    y = np.linspace(0, 255, height)[:, None]
    array = np.stack([np.broadcast_to(x, (height, width)),
                      np.broadcast_to(y, (height, width)),
                      ((x // 64 % 2) * 200 + y * 0).astype(float)], axis=2)
    return array.astype(np.uint8)


def test_openseadragon_draws_in_the_plone_page(acceptance):
    from playwright.sync_api import sync_playwright
    portal = acceptance["portal"]
    array = picture()
    out = io.BytesIO()
    Image.fromarray(array).save(out, "JPEG", quality=95)
    item = add_item(portal, data=out.getvalue(), state="published")
    url = "http://%s:%s/plone/map" % (acceptance["host"], acceptance["port"])
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM,
                                     headless=True, args=CHROMIUM_ARGS)
        page = WatchedPage(chromium)
        try:
            page.page.goto(url)
            assert page.page.title().startswith(item.title)
            page.page.wait_for_function(
                "window.ZoomifyImage && ZoomifyImage.viewers"
                "['zoomify-viewer'] && ZoomifyImage.viewers"
                "['zoomify-viewer'].world.getItemCount()", timeout=20000)
            page.page.evaluate(SETTLE)
            data = page.page.evaluate(CANVAS)
            assert_looks_like(decode_png(data["png"], "RGB"), data["box"],
                              array)
            page.page.evaluate(FULL_RESOLUTION)
            page.page.evaluate(SETTLE)
            tiles = [u for u in page.urls if "/v/" in u and ".jpg" in u]
            # the finest tier's tiles were asked for: TileGroupN/2-*-*.jpg
            assert any("/3-" in u for u in tiles), tiles
            page.screenshot("plone-view")
            # the full-screen view: the viewer fills the window
            page.page.click("#zoomify-fullscreen-link")
            page.page.wait_for_function(
                "window.ZoomifyImage && ZoomifyImage.viewers"
                "['zoomify-viewer'] && ZoomifyImage.viewers"
                "['zoomify-viewer'].world.getItemCount()", timeout=20000)
            page.page.evaluate(SETTLE)
            box = page.page.evaluate(FILLS)
            assert box["width"] == box["windowWidth"], box
            assert box["height"] > 0.85 * box["windowHeight"], box
            assert box["bottom"] <= box["windowHeight"], box
            data = page.page.evaluate(CANVAS)
            assert_looks_like(decode_png(data["png"], "RGB"), data["box"],
                              array)
            page.screenshot("plone-fullscreen")
            page.check_clean()
        finally:
            page.close()
            chromium.close()
