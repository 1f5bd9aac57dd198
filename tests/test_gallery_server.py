"""The gallery of 50 images from a real `runwsgi` Zope process over HTTP
on 127.0.0.1, in Debian's Chromium: every thumbnail arrives (a stored
tier, never an original) and the Zope process grows by under 50 MB
while they are made. Its time to first paint is a benchmark
(benchmarks/bench_gallery.py), not a test."""

import subprocess
import sys

import pytest

from tests.browser_pages import WatchedPage
from tests.browser_pages import needs_chromium
from tests.zope_fixtures import ZopeServer

pytestmark = needs_chromium

IMAGES = 50
GROWTH_MB = 50


@pytest.fixture(scope="module")
def server():
    s = ZopeServer()
    # 50 images of 1200 x 800, tiled once and installed 50 times, into
    # the Data.fs before the server opens it
    subprocess.run([sys.executable, "-m", "tests.make_prepared_site",
                    s.conf, "gallery", str(IMAGES)], check=True)
    s.start()
    yield s
    s.stop()


def test_gallery_of_50_thumbnails_keeps_zope_small(server, chromium):
    from tests.http_upload import get
    assert get(server.url + "/")[0] == 200  # Zope has served a page
    idle = server.memory_kb("VmRSS")
    # tall enough that every thumbnail is in view: all 50 are asked
    page = WatchedPage(chromium, viewport=(1280, 4000))
    try:
        page.page.goto(server.url + "/gallery/gallery")
        page.page.wait_for_function(
            "n => document.images.length === n && Array.from("
            "document.images).every(i => i.complete && i.naturalWidth)",
            arg=IMAGES, timeout=30000)
        thumbnails = [u for u in page.urls if "/iiif/full/" in u]
        assert len(thumbnails) == IMAGES
        assert all("/iiif/full/300,200/0/default.jpg?v=" in u
                   for u in thumbnails)
        page.check_clean()
    finally:
        page.close()
    grown = (server.memory_kb("VmHWM") - idle) / 1024
    print("Zope's RSS grew by %.1f MB (idle %.0f MB) for %d thumbnails"
          % (grown, idle / 1024, IMAGES))
    assert grown < GROWTH_MB, "Zope grew by %.1f MB" % grown
