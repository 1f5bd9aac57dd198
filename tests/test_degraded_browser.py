"""Degraded access and IIIF Authorization Flow 2.0 in Chromium.

A visitor who is not logged in sees the preview of an image with a
preview size, drawn whole at every zoom and corner with no failed
request, and the viewer asks no tile above it; the page offers the
login. (The refusals themselves: test_degraded.py.)

The flow end to end, with the product's small spec-following client
(static/zoomify-iiif-auth.js; Mirador 4.0.0 knows Auth 1.0 only):
anonymous -> probe 401 with the preview as substitute -> the preview
drawn -> the login window (the browser's Basic login, as a person types
it) -> the token from the iframe -> probe 200 -> full resolution, every
tile sent with the token; logout -> the preview again. No request of the
client's page fails on the way."""

from urllib.parse import urlsplit

import pytest

from tests.browser_pages import WatchedPage
from tests.browser_pages import assert_looks_like
from tests.browser_pages import decode_png
from tests.browser_pages import needs_chromium
from tests.browser_pages import requested_tiles
from tests.degraded_images import RESEARCHER
from tests.degraded_images import degraded_image
from tests.test_viewer_browser import Page
from tests.zope_fixtures import zope_root

pytestmark = needs_chromium


def _names(layout):
    exists = set()
    for tier, col, row in layout.all_tiles():
        name = layout.tile_name(tier, col, row)
        exists.add((int(name[9:name.index("/")]), tier, col, row))
    return exists


@pytest.mark.parametrize("size,limit", [
    ((513, 513), 300), ((2049, 1025), 1200), ((3001, 7), 1200),
    ((6000, 4001), 1200)])
def test_the_preview_draws_whole_without_a_failed_request(
        local_url, chromium, folder, tmp_path, size, limit):
    path, array, layout, cut = degraded_image(folder, tmp_path, size, limit)
    page = Page(chromium)
    try:
        (id,) = page.open(local_url + path)
        page.settle(id)
        drawn, box = page.canvas(id)
        assert_looks_like(drawn, box, array)
        assert page.page.locator("#zoomify-login").is_visible()
        # the preview's own pixels at every corner, as far as it zooms
        page.move(id, image_zoom=1)
        for corner in [(0, 0), (cut.width, 0), (0, cut.height),
                       (cut.width, cut.height)]:
            page.move(id, point=corner)
        page.check_clean()
        asked = requested_tiles(page.urls, path)
        assert asked and asked <= _names(cut), sorted(asked - _names(cut))
        top = cut.num_tiers - 1
        assert {t for _, t, _, _ in asked} >= {top}
    finally:
        page.close()


# the preview's IIIF service in OpenSeadragon: the flow below draws the
# substitute from it

RESOURCE = "/++resource++zoomifyimage/"
PAGE = """<!DOCTYPE html><html><head><title>IIIF client</title>
<link rel="icon" href="data:," /></head><body>
<div id="client" data-height="500px"></div>
<script src="%(r)sopenseadragon/openseadragon.min.js"></script>
<script src="%(r)szoomify-iiif-auth.js"></script>
<script>ZoomifyIIIFAuth.show(document.getElementById("client"),
  "%(info)s", "%(r)sopenseadragon/images/");</script>
</body></html>
"""

DRAWN = """async () => {
  const v = ZoomifyIIIFAuth.clients.client.viewer;
  const frame = () => new Promise(r => requestAnimationFrame(r));
  const t0 = performance.now();
  while (performance.now() - t0 < 15000) {
    const item = v && v.world.getItemAt(0);
    if (item && item.getFullyLoaded() && v.imageLoader.jobsInProgress === 0) {
      await frame();
      if (item.getFullyLoaded()) {
        const box = v.viewport.viewportToViewerElementRectangle(
          item.getBounds());
        const ratio = OpenSeadragon.pixelDensityRatio;
        return {png: v.drawer.canvas.toDataURL("image/png"),
                box: [box.x * ratio, box.y * ratio,
                      (box.x + box.width) * ratio,
                      (box.y + box.height) * ratio],
                width: item.source.width};
      }
    }
    await frame();
  }
  throw new Error("the client's viewer did not finish loading");
}"""

ZOOM_IN = """(corner) => {
  const v = ZoomifyIIIFAuth.clients.client.viewer;
  const item = v.world.getItemAt(0);
  v.viewport.zoomTo(v.viewport.imageToViewportZoom(1), null, true);
  v.viewport.panTo(item.imageToViewportCoordinates(corner[0], corner[1]),
                   true);
  v.viewport.applyConstraints(true);
}"""


def _full_scale(url):
    region, size = url.split("/iiif/")[1].split("/")[:2]
    return region.count(",") == 3 and region.split(",")[2:] == \
        size.split(",")


def _state(page, state):
    page.wait_for_function(
        "(s) => document.getElementById('client').dataset.state === s",
        arg=state, timeout=15000)


def _drawn(watched, array):
    data = watched.page.evaluate(DRAWN)
    assert_looks_like(decode_png(data["png"], "RGB"), data["box"], array)
    return data["width"]


def test_anonymous_preview_login_full_resolution_logout(
        local_url, chromium, folder, tmp_path):
    from OFS.DTMLDocument import addDTMLDocument
    path, array, layout, cut = degraded_image(folder, tmp_path, (2049, 1025))
    with zope_root() as app:
        addDTMLDocument(app[folder], "client", file=PAGE % {
            "r": RESOURCE, "info": path + "/iiif/info.json"})
    watched = WatchedPage(chromium)
    page = watched.page
    try:
        # anonymous: the probe says 401 and offers the preview
        page.goto(local_url + "/%s/client" % folder)
        _state(page, "substitute")
        assert _drawn(watched, array) == cut.width
        heading = page.locator(".zoomify-auth-heading").inner_text()
        assert heading == "Full resolution needs a login"
        assert "preview" in page.locator(".zoomify-auth-note").inner_text()
        tiles = [u for u in watched.urls if path + "/iiif" in u and
                 u.endswith(".jpg")]
        assert tiles and all("/iiif-preview/" in u for u in tiles)
        # the access service, in a window of its own: the site's login
        asked = []
        page.context.on("request", lambda r: asked.append(r.url))
        with page.context.expect_page() as opened:
            page.locator(".zoomify-auth-login").click()
        login = opened.value
        login.wait_for_load_state()
        (url,) = [u for u in asked if "/@@zoomify-iiif-login" in u]
        assert url == local_url + "/@@zoomify-iiif-login?origin=" + \
            local_url.replace(":", "%3A").replace("/", "%2F")
        # the person logs in (Basic: what the browser's dialog sends)
        with login.expect_event("close"):
            # (the page closes itself: its load is never waited for)
            login.goto(url.replace("http://", "http://%s:%s@" % RESEARCHER,
                                   1), wait_until="commit")
        # token from the iframe, probe 200: the full resolution
        _state(page, "full")
        assert _drawn(watched, array) == layout.width
        page.evaluate(ZOOM_IN, [layout.width, layout.height])
        _drawn(watched, array)
        full = [u for u in watched.urls if path + "/iiif/" in u and
                u.endswith(".jpg")]
        # tiles at full scale (the region's own size), above the preview
        assert [u for u in full if _full_scale(u)], full[-5:]
        assert page.locator(".zoomify-auth-logout").is_visible()
        # logout: a window of its own, the token forgotten, the preview
        with page.context.expect_page() as opened:
            page.locator(".zoomify-auth-logout").click()
        logout = opened.value
        logout.wait_for_load_state()
        logged_out = [u for u in asked if "/@@zoomify-iiif-logout" in u]
        assert logged_out
        logout.close()  # the person closes it (a headless Chromium shows
        #                 an error page for the 401 that asks to log in)
        _state(page, "substitute")
        assert _drawn(watched, array) == cut.width
        watched.check_clean()
    finally:
        watched.close()


def test_the_viewer_page_login_link_brings_full_resolution(
        local_url, chromium, folder, tmp_path):
    path, array, layout, cut = degraded_image(folder, tmp_path, (2049, 1025))
    page = Page(chromium)
    try:
        (id,) = page.open(local_url + path)
        page.settle(id)
        assert page.page.evaluate(
            "(id) => ZoomifyImage.viewers[id].world.getItemAt(0)"
            ".source.width", id) == cut.width
        href = page.page.locator("#zoomify-login").get_attribute("href")
        assert href == "/@@zoomify-iiif-login?came_from=" + path
        # the link asks to log in (Zope's Basic challenge: a headless
        # Chromium shows an error page for it); the person logs in (as
        # the browser's dialog sends it) and comes back to the page
        page.page.locator("#zoomify-login").click()
        page.page.wait_for_load_state()
        page.failures[:] = [f for f in page.failures
                            if "/@@zoomify-iiif-login" not in f]
        page.errors[:] = [e for e in page.errors
                          if not e.endswith("(chrome-error://chromewebdata/)")]
        page.page.goto(local_url.replace("http://", "http://%s:%s@"
                                      % RESEARCHER) + href)
        assert urlsplit(page.page.url).path == path
        # (a URL with a name and password in it is never sent Basic
        # credentials of its own accord: the page again, as the dialog's
        # user would have it)
        (id,) = page.open(local_url + path)
        assert page.page.evaluate(
            "(id) => ZoomifyImage.viewers[id].world.getItemAt(0)"
            ".source.width", id) == layout.width
        assert not page.page.locator("#zoomify-login").count()
        page.move(id, image_zoom=1)
        page.move(id, point=(layout.width, layout.height))
        page.check_clean()
        top = layout.num_tiers - 1
        assert top in {t for _, t, _, _ in requested_tiles(page.urls, path)}
    finally:
        page.close()


def test_a_client_page_of_another_site_runs_the_flow(
        local_url, chromium, folder, tmp_path):
    """The spec's clients live on other sites: a page of another origin
    (localhost against the server's 127.0.0.1, another site to the
    browser) probes with the token in a CORS request (a preflight for
    its Authorization header), gets the token from the iframe's
    postMessage, and draws the full resolution with no failed request."""
    from OFS.DTMLDocument import addDTMLDocument
    path, array, layout, cut = degraded_image(folder, tmp_path, (2049, 1025))
    with zope_root() as app:
        addDTMLDocument(app[folder], "client", file=PAGE % {
            "r": RESOURCE, "info": local_url + path + "/iiif/info.json"})
    other = local_url.replace("127.0.0.1", "localhost")
    watched = WatchedPage(chromium)
    page = watched.page
    # Chromium sends no cookie to another site's frame: the token
    # service's frame asks for its own (the Storage Access API), which
    # the person allows (here: granted beforehand, as a browser does
    # for a site the user allowed)
    page.context.grant_permissions(["storage-access"])
    try:
        page.goto(other + "/%s/client" % folder)
        _state(page, "substitute")
        assert _drawn(watched, array) == cut.width
        asked = []
        page.context.on("request", lambda r: asked.append(r.url))
        with page.context.expect_page() as opened:
            page.locator(".zoomify-auth-login").click()
        login = opened.value
        login.wait_for_load_state()
        (url,) = [u for u in asked if "/@@zoomify-iiif-login" in u]
        assert url.startswith(local_url + "/@@zoomify-iiif-login?origin=")
        with login.expect_event("close"):
            login.goto(url.replace("http://", "http://%s:%s@" % RESEARCHER,
                                   1), wait_until="commit")
        _state(page, "full")
        assert _drawn(watched, array) == layout.width
        page.evaluate(ZOOM_IN, [layout.width, layout.height])
        _drawn(watched, array)
        full = [u for u in watched.urls if u.startswith(
            local_url + path + "/iiif/") and u.endswith(".jpg")]
        assert [u for u in full if _full_scale(u)], full[-5:]
        watched.check_clean()
    finally:
        watched.close()
