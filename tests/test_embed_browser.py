"""IMAGE/embed in an <iframe> of a page of another origin, and the copy
buttons, in Debian's Chromium (Playwright), against this process's Zope
served by waitress on 127.0.0.1."""

import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

from tests.browser_pages import WatchedPage
from tests.browser_pages import assert_looks_like
from tests.browser_pages import decode_png
from tests.browser_pages import needs_chromium
from tests.images import colourful
from tests.test_viewer_browser import CANVAS
from tests.test_viewer_browser import SETTLE
from tests.zope_fixtures import put_jpeg

pytestmark = needs_chromium


def other_site(html):
    """A page of its own origin (another port of localhost): its server,
    for ``with``; ``.url`` is its address."""
    body = html.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("localhost", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    httpd.url = "http://localhost:%d/" % httpd.server_address[1]
    return httpd


def test_embed_in_another_sites_iframe_draws_the_image(
        local_url, chromium, folder, tmp_path):
    array = colourful(900, 600, seed=3)
    path = put_jpeg(folder, "img", array, tmp_path, title="Harbour")
    # the snippet the viewer page offers, as another site pastes it
    site = other_site(
        "<!DOCTYPE html><html><head><title>Elsewhere</title></head><body>"
        "<h1>A museum blog</h1><iframe id=f src=\"%s%s/embed\" width=640 "
        "height=420 style=\"border:0\"></iframe></body></html>"
        % (local_url, path))
    page = WatchedPage(chromium)
    try:
        page.page.goto(site.url)
        frame = page.page.frame_locator("#f")
        frame.locator("div[role=img]").wait_for()
        (embedded,) = [f for f in page.page.frames
                       if f.url.endswith(path + "/embed")]
        embedded.wait_for_function(
            "window.ZoomifyImage && Object.values(ZoomifyImage.viewers)"
            ".some(v => v.world.getItemCount())", timeout=20000)
        (id,) = embedded.evaluate("Object.keys(ZoomifyImage.viewers)")
        embedded.evaluate(SETTLE, id)
        data = embedded.evaluate(CANVAS, id)
        assert_looks_like(decode_png(data["png"], "RGB"), data["box"],
                          array)
        # the viewer fills the frame: no title bar, no download link
        size = embedded.evaluate(
            "(() => { const r = document.querySelector('[role=img]')"
            ".getBoundingClientRect(); return [r.width, r.height]; })()")
        assert size[0] == 640 and size[1] > 380, size
        assert not embedded.query_selector("h1, a[href$='/download']")
        # the tiles came from Zope into the other site's frame
        assert any(path + "/v/" in u for u in page.urls)
        # keyboard usable: Tab reaches the viewer, "+" zooms in
        zoom = "(id) => ZoomifyImage.viewers[id].viewport.getZoom(false)"
        before = embedded.evaluate(zoom, id)
        embedded.focus("body")
        page.page.keyboard.press("Tab")
        assert embedded.evaluate(
            "!!document.activeElement.closest('[role=img]')")
        assert embedded.evaluate(
            "document.activeElement.classList.contains("
            "'openseadragon-canvas')")
        page.page.keyboard.down("Equal")  # "=", as "+" without shift
        embedded.wait_for_function(
            "([id, z]) => ZoomifyImage.viewers[id].viewport.getZoom(false)"
            " > z * 1.1", arg=[id, before])
        page.page.keyboard.up("Equal")
        page.screenshot("embed-in-iframe")
        page.check_clean()
    finally:
        page.close()
        site.shutdown()


def test_copy_button_puts_the_manifest_url_on_the_clipboard(
        local_url, chromium, folder, tmp_path):
    path = put_jpeg(folder, "img", colourful(300, 200, seed=1), tmp_path)
    page = WatchedPage(chromium)
    try:
        page.context.grant_permissions(["clipboard-read",
                                        "clipboard-write"], origin=local_url)
        page.page.goto(local_url + path)
        manifest = local_url + path + "/manifest.json"
        # the fields hold absolute URLs of the address the browser shows
        page.page.click("details.zoomify-share-box summary")
        field = page.page.locator("#zoomify-share-manifest")
        assert field.input_value() == manifest
        assert page.page.get_attribute("#zoomify-iiif-drag", "href") == (
            manifest + "?manifest=" + manifest.replace(":", "%3A")
            .replace("/", "%2F"))
        snippet = page.page.locator("#zoomify-share-embed").input_value()
        assert snippet.startswith('<iframe src="%s%s/embed"' % (local_url,
                                                                 path))
        # by the keyboard: focus the button, press Enter
        page.page.focus("button[data-zoomify-copy=zoomify-share-manifest]")
        page.page.keyboard.press("Enter")
        page.page.wait_for_function(
            "document.querySelector('.zoomify-copied').textContent")
        assert page.page.evaluate(
            "navigator.clipboard.readText()") == manifest
        assert page.page.text_content(".zoomify-copied") == \
            "Copied to the clipboard."
        page.check_clean()
    finally:
        page.close()
