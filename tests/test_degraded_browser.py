"""Degraded access in Chromium: a visitor who is not logged in sees the
preview of an image with a preview size, drawn whole at every zoom and
corner with no failed request, and the viewer asks no tile above it; the
page offers the login. (The refusals themselves: test_degraded.py.)"""

import pytest

from tests.browser_pages import assert_looks_like
from tests.browser_pages import requested_tiles
from tests.degraded_images import degraded_image
from tests.test_viewer_browser import Page
from tests.zope_fixtures import chromium_missing
from tests.zope_fixtures import local_server
from tests.zope_fixtures import zope_root

pytestmark = pytest.mark.skipif(chromium_missing() is not None,
                                reason=chromium_missing() or "")


@pytest.fixture(scope="module")
def server():
    with local_server() as url:
        yield url


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
        server, chromium, folder, tmp_path, size, limit):
    path, array, layout, cut = degraded_image(folder, tmp_path, size, limit)
    page = Page(chromium)
    try:
        (id,) = page.open(server + path)
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


def test_the_iiif_viewer_reads_the_preview_service(server, chromium, folder,
                                                   tmp_path):
    path, array, layout, cut = degraded_image(folder, tmp_path, (2049, 1025))
    with zope_root() as app:
        app.unrestrictedTraverse(path.lstrip("/")).manage_edit(viewer="iiif")
    page = Page(chromium)
    try:
        (id,) = page.open(server + path)
        page.settle(id)
        drawn, box = page.canvas(id)
        assert_looks_like(drawn, box, array)
        page.move(id, image_zoom=1)
        page.move(id, point=(cut.width, cut.height))
        page.check_clean()
        asked = [u for u in page.urls if path + "/iiif" in u]
        assert asked and all("/iiif-preview/" in u for u in asked), asked
    finally:
        page.close()
