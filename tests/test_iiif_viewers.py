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

import base64
import io
import os
import threading
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from tests.images import save, smooth
from tests.zope_fixtures import BASE, add, chromium_missing, zope_root

RESOURCES = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                         "ZoomifyImage", "static")
SHOTS = os.environ.get("ZOOMIFY_SCREENSHOTS")


def missing(*names):
    why = chromium_missing()
    if why:
        return why
    for name in names:
        if not os.path.exists(os.path.join(RESOURCES, name)):
            return "%s is not installed in ZoomifyImage/static: make " \
                   "install copies it from node_modules" % name
    return None


@pytest.fixture(scope="module")
def server():
    from waitress import create_server
    from tests.zope_fixtures import wsgi_app
    httpd = create_server(wsgi_app(), host="127.0.0.1", port=0, threads=4,
                          clear_untrusted_proxy_headers=True)
    thread = threading.Thread(target=httpd.run, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%s" % httpd.effective_port
    httpd.close()
    thread.join(10)


def colourful(width, height, seed):
    """smooth() with a colour cast per seed."""
    array = smooth(width, height, seed).astype(np.int16)
    array[..., seed % 3] = array[..., seed % 3] // 3
    return array.astype(np.uint8)


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


class Page:
    """A page with every request, response and console message watched."""

    def __init__(self, chromium, server, viewport=(1000, 700)):
        self.host = urlsplit(server).netloc
        self.context = chromium.new_context(
            viewport={"width": viewport[0], "height": viewport[1]})
        self.page = self.context.new_page()
        self.failures, self.errors, self.urls = [], [], []
        self.page.on("request", self._request)
        self.page.on("response", self._response)
        self.page.on("requestfailed", lambda r: self.failures.append(
            "%s: %s" % (r.url, r.failure)))
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _request(self, request):
        url = urlsplit(request.url)
        if url.scheme in ("http", "https") and url.netloc != self.host:
            self.failures.append("another host: " + request.url)

    def _console(self, message):
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


def decode_png(data_url):
    png = base64.b64decode(data_url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def assert_looks_like(drawn, box, array, tolerance=24):
    """The image's box (left, top, right, bottom, in canvas pixels) on
    the canvas shows the image, roughly."""
    h, w = drawn.shape[:2]
    drawn = drawn[..., :3]
    dx = 2 if box[2] - box[0] > 12 else 0
    dy = 2 if box[3] - box[1] > 12 else 0
    left, top = max(0, int(box[0] + 0.5) + dx), max(0, int(box[1] + 0.5) + dy)
    right = min(w, int(box[2]) - dx)
    bottom = min(h, int(box[3]) - dy)
    assert right - left >= 1 and bottom - top >= 1, box
    shown = drawn[top:bottom, left:right].astype(np.float64)
    assert shown.std() > 3, "blank canvas"
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
        server, chromium, folder, tmp_path):
    array = colourful(2400, 1500, seed=4)
    image = put_jpeg(folder, "harbour", array, tmp_path,
                     title="The harbour")
    path = put_page(folder, "mirador", MIRADOR_PAGE % "harbour")
    page = Page(chromium, server)
    try:
        page.page.goto(server + path)
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
        assert server + image + "/manifest.json" in page.urls
        assert server + image + "/iiif/info.json" in page.urls
        tiles = [u for u in page.urls if u.startswith(
            server + image + "/iiif/") and u.endswith(".jpg")]
        assert tiles, page.urls
        assert not [u for u in page.urls if "/TileGroup" in u]
    finally:
        page.close()
