"""What the browser tests share: a Chromium page whose responses and
console are watched, and the check that a canvas shows the image.

Set ZOOMIFY_SCREENSHOTS=DIR to keep screenshots of the pages.
"""

import base64
import io
import os
import re

import numpy as np
import pytest
from PIL import Image

from tests.zope_fixtures import chromium_missing

SHOTS = os.environ.get("ZOOMIFY_SCREENSHOTS")
TILE = re.compile(r"/TileGroup(\d+)/(\d+)-(\d+)-(\d+)\.jpg(\?v=\w+)?$")

# a module's pytestmark, or a test's mark, where Chromium is needed
needs_chromium = pytest.mark.skipif(chromium_missing() is not None,
                                    reason=chromium_missing() or "")


class WatchedPage:
    """A page in a context of its own; every failed request or response
    over 399 and every console error is kept (``failures``, ``errors``),
    and every URL answered (``urls``)."""

    def __init__(self, chromium, viewport=(1000, 700)):
        self.context = chromium.new_context(
            viewport={"width": viewport[0], "height": viewport[1]})
        self.page = self.context.new_page()
        self.failures, self.errors, self.urls = [], [], []
        self.page.on("response", self._response)
        self.page.on("requestfailed", lambda r: self.failures.append(
            "%s: %s" % (r.url, r.failure)))
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _console(self, message):
        # the browser's own favicon request is not the page's business
        if message.type == "error" and not message.location.get(
                "url", "").endswith("/favicon.ico"):
            self.errors.append("%s (%s)" % (message.text,
                                            message.location.get("url")))

    def _response(self, response):
        self.urls.append(response.url)
        if response.status >= 400:
            self.failures.append("%s: HTTP %d" % (response.url,
                                                  response.status))

    def check_clean(self, allowed=()):
        """No failed request; no console error but ``allowed`` ones (a
        message's beginning)."""
        assert not self.failures, self.failures
        errors = [e for e in self.errors if not e.startswith(tuple(allowed))]
        assert not errors, errors

    def screenshot(self, name):
        if SHOTS:
            os.makedirs(SHOTS, exist_ok=True)
            self.page.screenshot(path=os.path.join(SHOTS, name + ".png"))

    def close(self):
        self.context.close()


def decode_png(data_url, mode="RGBA"):
    """A canvas's toDataURL("image/png") as an array."""
    png = base64.b64decode(data_url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert(mode))


def assert_looks_like(drawn, box, array, tolerance=24):
    """The image's box (left, top, right, bottom, in canvas pixels) on
    the canvas shows the image, roughly: the mean difference from the
    image scaled to that box stays under ``tolerance``. Returns it."""
    h, w = drawn.shape[:2]
    drawn = drawn[..., :3]
    # leave out the edges (blended with the background), but keep a
    # middle row or column of a very thin image
    dx = 2 if box[2] - box[0] > 12 else 0
    dy = 2 if box[3] - box[1] > 12 else 0
    left, top = max(0, int(box[0] + 0.5) + dx), max(0, int(box[1] + 0.5) + dy)
    right = min(w, int(box[2]) - dx)
    bottom = min(h, int(box[3]) - dy)
    assert right - left >= 1 and bottom - top >= 1, box
    shown = drawn[top:bottom, left:right].astype(np.float64)
    assert shown.std() > 3, "blank canvas"
    # the image as the browser should show it at that size
    sx, sy = array.shape[1] / (box[2] - box[0]), \
        array.shape[0] / (box[3] - box[1])
    crop = (max(0, (left - box[0]) * sx), max(0, (top - box[1]) * sy),
            min(array.shape[1], (right - box[0]) * sx),
            min(array.shape[0], (bottom - box[1]) * sy))
    expected = np.asarray(Image.fromarray(array).resize(
        (right - left, bottom - top), Image.BILINEAR, box=crop)
    ).astype(np.float64)
    difference = np.abs(shown - expected).mean()
    assert difference < tolerance, difference
    return difference


def requested_tiles(urls, path):
    """(group, tier, col, row) of every Zoomify tile of the image at
    ``path`` among ``urls``; each must name its tile set (IMAGE/v/SET/, or
    ?v=SET)."""
    tiles = set()
    for url in urls:
        if path + "/TileGroup" in url or path + "/v/" in url:
            match = TILE.search(url)
            assert match, url
            assert path + "/v/" in url or match.group(5), url
            tiles.add(tuple(int(g) for g in match.groups()[:4]))
    return tiles


# axe-core, from the npm package of package.json's devDependencies (make
# install's npm ci): for the tests only, never copied into the product
AXE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "node_modules", "axe-core", "axe.min.js")


def serious_accessibility_problems(page):
    """axe-core's violations of impact "serious" or "critical" on the
    page as it is now: a list of "rule: help (elements)"."""
    assert os.path.exists(AXE), "axe-core is missing: run make install"
    page.add_script_tag(path=AXE)
    found = page.evaluate("""async () => {
      const result = await axe.run(document);
      return result.violations
        .filter(v => v.impact === "serious" || v.impact === "critical")
        .map(v => v.id + ": " + v.help + " (" +
             v.nodes.map(n => n.html.slice(0, 120)).join(", ") + ")");
    }""")
    return found
