"""The upload forms in a real browser: Debian's Chromium driven by
Playwright against `runwsgi` on 127.0.0.1. The add form sends its file
with tus-js-client in chunks (256 KB here, to have many), the progress
bar moves, the network is cut and restored, a reload resumes the same
file, and the image ends tiled and viewable."""

import os

import numpy as np
import pytest
import requests

from tests.images import smooth
from tests.zope_fixtures import ADMIN
from tests.zope_fixtures import ZopeServer
from tests.zope_fixtures import chromium_missing

pytestmark = pytest.mark.skipif(chromium_missing() is not None,
                                reason=chromium_missing() or "")

# small chunks: many requests, so that the test can act in the middle of
# an upload that loopback finishes in a second or two
CHUNK = 256 << 10

# report every value of the progress bar to the test
WATCH_PROGRESS = """
new MutationObserver(records => records.forEach(r => {
  if (r.attributeName === "aria-valuenow") {
    window.zoomifyProgress(Number(r.target.getAttribute("aria-valuenow")));
  }
})).observe(document, {attributes: true, subtree: true,
                       attributeFilter: ["aria-valuenow"]});
"""


@pytest.fixture(scope="module")
def server():
    s = ZopeServer().start()
    yield s
    s.stop()


class Browser:
    def __init__(self, chromium):
        self.context = chromium.new_context(
            http_credentials={"username": ADMIN[0], "password": ADMIN[1]})
        self.page = self.context.new_page()
        self.progress, self.patches, self.errors = [], [], []
        self.page.expose_function("zoomifyProgress",
                                  lambda value: self.progress.append(value))
        self.page.add_init_script(WATCH_PROGRESS)
        self.page.on("request", self._request)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _request(self, request):
        if request.method == "PATCH":
            self.patches.append(int(request.headers["upload-offset"]))

    def open_add_form(self, folder, path, id):
        self.page.goto(folder + "/manage_addProduct/ZoomifyImage/"
                       "manage_addZoomifyImageForm")
        self.page.evaluate("n => document.querySelector('form[data-zoomify-"
                           "upload]').setAttribute('data-zoomify-chunk-size',"
                           " n)", CHUNK)
        self.page.fill("#id", id)
        self.page.set_input_files("#file", path)

    def wait_progress(self, percent):
        self.page.wait_for_function(
            "p => Number(document.querySelector('.zoomify-upload "
            ".progress-bar').getAttribute('aria-valuenow')) >= p", arg=percent,
            timeout=30000)

    def status(self):
        return self.page.text_content(".zoomify-upload-status")

    def close(self):
        self.context.close()


def ppm(path, width, height, seed):
    array = smooth(width, height, seed)
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (width, height))
        f.write(np.ascontiguousarray(array).tobytes())
    return str(path)


def same_bytes(url, path):
    return requests.get(url).content == open(path, "rb").read()


def test_network_cut_and_restored(server, folder_url, chromium, tmp_path):
    path = ppm(tmp_path / "cut.ppm", 1600, 1100, 1)  # 5 MB, 21 chunks
    b = Browser(chromium)
    try:
        b.open_add_form(folder_url, path, "cut")
        b.page.click("input[type=submit]")
        b.wait_progress(30)
        # sizes in the units of Zope's folder listing and the Edit tab
        # (issue 23, newcomer 6: the same file was 286.1 MB, 300.0 MB and
        # 286.10 MiB)
        total = "%.2f MiB" % (os.path.getsize(path) / 1048576.0)
        assert (" of " + total) in b.status()
        b.context.set_offline(True)
        b.page.wait_for_function(
            "document.querySelector('.zoomify-upload-status').textContent"
            ".includes('network is down')", timeout=20000)
        stalled = b.progress[-1]
        b.page.wait_for_timeout(1000)
        assert b.progress[-1] == stalled  # nothing moves while offline
        b.context.set_offline(False)
        b.page.wait_for_url(folder_url + "/manage_main", timeout=60000)
    finally:
        b.close()
    # the bar moved step by step, and the upload went on from where the
    # server was, not from the start
    assert len(set(b.progress)) >= 15 and b.progress[-1] == 100
    offsets = b.patches
    assert len(offsets) >= 21 and offsets == sorted(offsets)
    assert offsets[0] == 0 and 0 < stalled < 100
    assert not b.errors
    image = folder_url + "/cut"
    assert requests.get(image + "/status_json").json()["status"] == "ready"
    assert same_bytes(image + "/download", path)
    # viewable: the viewer page shows it, tiles and all
    page = chromium.new_page()
    try:
        with page.expect_response(lambda r: "/TileGroup0/" in r.url and
                                  r.status == 200):
            page.goto(image)
    finally:
        page.close()


def test_reload_resumes_the_same_file(server, folder_url, chromium, tmp_path):
    path = ppm(tmp_path / "again.ppm", 1600, 1100, 2)
    b = Browser(chromium)
    try:
        b.open_add_form(folder_url, path, "again")
        b.page.click("input[type=submit]")
        b.wait_progress(30)
        b.page.reload()  # the upload's URL stays in localStorage
        first_run = list(b.patches)
        b.patches.clear()
        b.open_add_form(folder_url, path, "again")
        b.page.click("input[type=submit]")
        b.page.wait_for_url(folder_url + "/manage_main", timeout=60000)
    finally:
        b.close()
    assert first_run[0] == 0
    # the second run starts where the server was, past a third of the file
    assert b.patches[0] >= os.path.getsize(path) * 0.25
    assert b.patches[0] % CHUNK == 0
    assert b.patches[0] <= max(first_run) + CHUNK
    assert same_bytes(folder_url + "/again/download", path)


def test_add_dialog_of_the_zmi(server, folder_url, chromium, tmp_path):
    """The ZMI loads the add form into a dialog of the folder's page."""
    path = ppm(tmp_path / "dialog.ppm", 1600, 1100, 5)
    b = Browser(chromium)
    try:
        b.page.goto(folder_url + "/manage_main")
        b.page.select_option("select[name=':action']", label="Zoomify Image")
        b.page.wait_for_selector("#zmi-modal form[data-zoomify-ready]")
        b.page.set_input_files("#zmi-modal #file", path)
        with b.page.expect_navigation(url=folder_url + "/manage_main"):
            b.page.click("#zmi-modal input[type=submit]")
    finally:
        b.close()
    assert b.patches == [0]  # one chunk of 16 MB
    assert same_bytes(folder_url + "/dialog.ppm/download", path)


def test_edit_tab_new_file(server, folder_url, chromium, tmp_path):
    first = ppm(tmp_path / "first.ppm", 300, 200, 3)
    second = ppm(tmp_path / "second.ppm", 640, 480, 4)
    b = Browser(chromium)
    try:
        b.open_add_form(folder_url, first, "edited")
        b.page.click("input[type=submit]")
        b.page.wait_for_url(folder_url + "/manage_main")
        b.page.goto(folder_url + "/edited/manage_main")
        b.patches.clear()
        b.page.set_input_files("#file", second)
        b.page.fill("#title", "A new title")  # saved after the upload
        b.page.click("input[value='Save Changes']")
        b.page.wait_for_selector("text=Saved changes.")
    finally:
        b.close()
    assert b.patches == [0]
    assert same_bytes(folder_url + "/edited/download", second)
    assert "640" in requests.get(
        folder_url + "/edited/ImageProperties.xml").text
    page = requests.get(folder_url + "/edited/manage_main", auth=ADMIN).text
    assert "A new title" in page
