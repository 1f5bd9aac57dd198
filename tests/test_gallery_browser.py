"""The gallery, the viewer page's keyboard and the ZMI listing in
Debian's Chromium (Playwright), against this process's Zope served by
waitress on 127.0.0.1; axe-core (npm, a devDependency) on the gallery
and the viewer page: no serious or critical violation."""

import pytest

from tests.browser_pages import WatchedPage
from tests.browser_pages import needs_chromium
from tests.browser_pages import serious_accessibility_problems
from tests.prepared_images import add_prepared
from tests.prepared_images import prepare
from tests.zope_fixtures import ADMIN
from tests.zope_fixtures import zope_root

pytestmark = needs_chromium

LOADED = ("() => Array.from(document.images).length && Array.from("
          "document.images).every(i => i.complete && i.naturalWidth)")
ZOOM = "() => Object.values(ZoomifyImage.viewers)[0].viewport.getZoom(true)"
CENTRE = ("() => Object.values(ZoomifyImage.viewers)[0].viewport"
          ".getCenter(true).x")


@pytest.fixture(scope="module")
def pictures():
    return [prepare(1200, 800, seed=seed) for seed in (1, 2)]


def _tab_to(page, condition, presses=30):
    """Press Tab until ``condition`` (a script) holds of the focused
    element."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("() => { const e = document.activeElement; "
                         "return %s; }" % condition):
            return
    raise AssertionError("Tab never reached %s" % condition)


def test_gallery_to_viewer_by_keyboard(local_url, chromium, folder,
                                       pictures):
    with zope_root() as app:
        here = app[folder]
        here.manage_changeProperties(title="Harbour")
        for n in range(6):
            add_prepared(here, "p%d" % n, pictures[n % 2], "Boat %d" % n)
    page = WatchedPage(chromium, viewport=(1000, 700))
    try:
        page.page.goto("%s/%s/gallery" % (local_url, folder))
        page.page.wait_for_function(LOADED, timeout=20000)
        shown = page.page.evaluate(
            "() => Array.from(document.images).map(i => [i.alt, "
            "i.naturalWidth, i.naturalHeight, i.width, i.height])")
        # the 300 x 200 tier, shown at 200 x 133, titled
        assert shown == [["Boat %d" % n, 300, 200, 200, 133]
                         for n in range(6)]
        assert not any("/download" in u for u in page.urls)
        page.screenshot("gallery")
        assert serious_accessibility_problems(page.page) == []
        # Tab to the third thumbnail, Enter opens its viewer
        _tab_to(page.page, "e.querySelector && e.querySelector("
                "'img[alt=\"Boat 2\"]')")
        page.page.keyboard.press("Enter")
        page.page.wait_for_url("%s/%s/p2" % (local_url, folder))
        page.page.wait_for_function(
            "window.ZoomifyImage && Object.values(ZoomifyImage.viewers)"
            ".some(v => v.world.getItemCount() && v.world.getItemAt(0)"
            ".getFullyLoaded())", timeout=20000)
        assert serious_accessibility_problems(page.page) == []
        # the page tells how to use the keyboard, and the viewer's
        # canvas is described by it
        keys = page.page.locator("#zoomify-keys")
        assert keys.is_visible()
        assert "arrow keys" in keys.text_content()
        _tab_to(page.page, "e.classList.contains('openseadragon-canvas')")
        assert page.page.evaluate(
            "document.activeElement.getAttribute('aria-describedby')") \
            == "zoomify-keys"
        # "+" zooms in, an arrow key moves
        before = page.page.evaluate(ZOOM)
        page.page.keyboard.down("Equal")
        page.page.wait_for_function("z => (%s)() > z * 1.1" % ZOOM,
                                    arg=before)
        page.page.keyboard.up("Equal")
        x = page.page.evaluate(CENTRE)
        page.page.keyboard.down("ArrowRight")
        page.page.wait_for_function("x => (%s)() > x + 0.01" % CENTRE,
                                    arg=x)
        page.page.keyboard.up("ArrowRight")
        page.screenshot("viewer-keyboard")
        page.check_clean()
    finally:
        page.close()


def test_zmi_listing_shows_thumbnail_and_status(local_url, chromium, folder,
                                                pictures):
    from ZoomifyImage.content import ZoomifyImage
    with zope_root() as app:
        add_prepared(app[folder], "boat", pictures[0], "Boat")
        app[folder]._setObject("later", ZoomifyImage("later", "Later"))
    page = WatchedPage(chromium)
    context = chromium.new_context(
        http_credentials={"username": ADMIN[0], "password": ADMIN[1]},
        viewport={"width": 1000, "height": 700})
    page.context.close()
    page.context = context
    page.page = context.new_page()
    page.page.on("response", page._response)
    try:
        page.page.goto("%s/%s/manage_main" % (local_url, folder))
        badge = page.page.locator(
            "tr:has(input[value=boat]) .zoomify-zmi-status")
        badge.wait_for()
        assert badge.text_content() == "tiled"
        thumb = page.page.locator("tr:has(input[value=boat]) "
                                  "img.zoomify-zmi-thumb")
        page.page.wait_for_function(
            "() => { const i = document.querySelector("
            "'img.zoomify-zmi-thumb'); return i && i.complete && "
            "i.naturalWidth; }")
        # the smallest stored tier, 150 x 100, in a 48 pixel row
        assert thumb.evaluate("i => [i.naturalWidth, i.width, i.height]") \
            == [150, 48, 32]
        assert page.page.locator(
            "tr:has(input[value=later]) .zoomify-zmi-status") \
            .text_content() == "no tiles"
        assert page.page.locator(
            "tr:has(input[value=later]) img.zoomify-zmi-thumb").count() == 0
        page.screenshot("zmi-listing")
        assert not page.failures, page.failures
    finally:
        page.close()
