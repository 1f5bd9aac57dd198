"""The upload forms in a real browser: Debian's Chromium driven by
Playwright against `runwsgi` on 127.0.0.1. The add form sends its file
with tus-js-client in chunks (256 KB here, to have many), the progress
bar moves, the network is cut and restored, a reload resumes the same
file, and the image ends tiled and viewable."""

import base64
import os

import numpy as np
import pytest
import requests

from tests.browser_pages import needs_chromium
from tests.images import smooth
from tests.zope_fixtures import ADMIN
from tests.zope_fixtures import ZopeServer

pytestmark = needs_chromium

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
    # the original takes Download Zoomify originals: the manager's
    return requests.get(url, auth=ADMIN).content == \
        open(path, "rb").read()


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
    assert same_bytes(folder_url + "/dialog/download", path)


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


TUS = {"Tus-Resumable": "1.0.0"}


def open_uploads_page(folder):
    return requests.get(folder + "/@@zoomify-uploads", auth=ADMIN).text


def test_a_lockout_is_seen_and_undone(server, folder_url, chromium,
                                      tmp_path):
    """Newcomer 2: ten abandoned adds refused every further add with
    nothing in the interface to see or cancel them, and the form offered a
    Resume that could never succeed. Now the form lists them, the refusal
    links to the list, and a Cancel there lets the add through."""
    meta = "filename " + base64.b64encode(b"left.jpg").decode()
    left = []
    for n in range(10):
        r = requests.post(folder_url + "/@@zoomify-upload", auth=ADMIN,
                          headers=dict(TUS, **{
                              "Upload-Length": "1000",
                              "Upload-Metadata": "%s,id %s" % (
                                  meta, base64.b64encode(
                                      b"left%d" % n).decode())}))
        assert r.status_code == 201, r.text
        left.append(r.headers["Location"])
    path = ppm(tmp_path / "locked.ppm", 300, 200, 6)
    b = Browser(chromium)
    try:
        b.open_add_form(folder_url, path, "locked")
        rows = ".zoomify-open-uploads-table tbody tr"
        assert b.page.locator(rows).count() == 10
        b.page.click("input[type=submit]")
        b.page.wait_for_function(
            "document.querySelector('.zoomify-upload-status').textContent"
            ".includes('10 unfinished uploads')", timeout=20000)
        assert not b.page.is_visible(".zoomify-upload-pause")  # no Resume
        assert b.page.is_enabled("input[type=submit]")
        b.page.click(".zoomify-upload-status a")
        b.page.wait_for_url(folder_url + "/@@zoomify-uploads")
        assert b.page.locator(rows).count() == 10
        b.page.click(rows + ":first-child .zoomify-cancel-upload")
        b.page.wait_for_selector("text=The upload was cancelled")
        assert b.page.locator(rows).count() == 9
        b.open_add_form(folder_url, path, "locked")
        b.page.click("input[type=submit]")
        b.page.wait_for_url(folder_url + "/manage_main", timeout=30000)
    finally:
        b.close()
        for url in left:
            requests.delete(url, auth=ADMIN, headers=TUS)
    assert same_bytes(folder_url + "/locked/download", path)
    assert not b.errors


def test_closing_the_dialog_cancels_the_upload(server, folder_url, chromium,
                                               tmp_path):
    """Newcomer 2: the x of the ZMI's dialog left the upload running,
    unseen (and then left behind on the server)."""
    path = ppm(tmp_path / "closed.ppm", 1600, 1100, 7)  # 5 MB
    b = Browser(chromium)
    try:
        cdp = b.context.new_cdp_session(b.page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1,
            "uploadThroughput": 1 << 20})  # 1 MB/s: 5 s for the file
        b.page.goto(folder_url + "/manage_main")
        b.page.select_option("select[name=':action']", label="Zoomify Image")
        b.page.wait_for_selector("#zmi-modal form[data-zoomify-ready]")
        b.page.evaluate("n => document.querySelector('#zmi-modal form')"
                        ".setAttribute('data-zoomify-chunk-size', n)", CHUNK)
        b.page.set_input_files("#zmi-modal #file", path)
        b.page.click("#zmi-modal input[type=submit]")
        b.wait_progress(10)
        with b.page.expect_request(lambda r: r.method == "DELETE"):
            b.page.click("#zmi-modal .close")
        sent = len(b.patches)
        b.page.wait_for_timeout(1500)
        assert len(b.patches) <= sent + 1  # at most the one under way
    finally:
        b.close()
    assert "closed.ppm" not in open_uploads_page(folder_url)
    assert requests.get(folder_url + "/closed.ppm/status_json"
                        ).status_code == 404


def test_adding_a_file_added_before_says_so(server, folder_url, chromium,
                                            tmp_path):
    """Newcomer 5: the last answer of an add was lost (the page was left);
    adding the same file again with another id resumed the complete
    upload and landed on the folder list, the new id silently ignored."""
    path = ppm(tmp_path / "twice.ppm", 300, 200, 8)
    b = Browser(chromium)
    try:
        # the answer to the last PATCH is lost after the server has done
        # the work (Chromium's interception at the response stage)
        cdp = b.context.new_cdp_session(b.page)

        def lose_the_answer(event):
            if event["request"]["method"] == "PATCH":
                b.context.set_offline(True)
                cdp.send("Fetch.failRequest", {
                    "requestId": event["requestId"],
                    "errorReason": "ConnectionClosed"})
            else:
                cdp.send("Fetch.continueRequest",
                         {"requestId": event["requestId"]})
        cdp.on("Fetch.requestPaused", lose_the_answer)
        cdp.send("Fetch.enable", {"patterns": [{
            "urlPattern": "*@@zoomify-upload*", "requestStage": "Response"}]})
        b.open_add_form(folder_url, path, "first")
        b.page.click("input[type=submit]")
        b.page.wait_for_function(
            "document.querySelector('.zoomify-upload-status').textContent"
            ".includes('network is down')", timeout=20000)
        b.page.close()
        b.context.set_offline(False)
        assert requests.get(folder_url + "/first/status_json").ok
        b.page = b.context.new_page()  # the same browser: localStorage
        b.page.on("pageerror", lambda e: b.errors.append(str(e)))
        b.open_add_form(folder_url, path, "second")
        b.page.click("input[type=submit]")
        b.page.wait_for_selector(".zoomify-upload-status a", timeout=20000)
        status = b.status()
        assert "already added as \u201cfirst\u201d" in status
        assert b.page.get_attribute(".zoomify-upload-status a", "href"
                                    ).endswith("/first/manage_main")
        assert b.page.url.endswith("manage_addZoomifyImageForm")
    finally:
        b.close()
    assert requests.get(folder_url + "/second/status_json"
                        ).status_code == 404
    assert not b.errors


def open_add_form(b, folder):
    b.page.goto(folder + "/manage_addProduct/ZoomifyImage/"
                "manage_addZoomifyImageForm")


def test_five_files_one_damaged(server, folder_url, chromium, tmp_path):
    """Issue 27: five files chosen at once, one of them cut off: each is an
    upload of its own with its own line; four are added under their file
    names without the extension, the damaged one's line says which file
    and why, and the page stays to show it. The description given on
    the form goes with every file (the upload's metadata)."""
    names = ["photo12000", "harbour", "map 1", "broken", "last"]
    paths = [ppm(tmp_path / (name + ".ppm"), 300, 200, seed)
             for seed, name in enumerate(names)]
    with open(paths[3], "r+b") as f:
        f.truncate(os.path.getsize(paths[3]) // 2)  # damaged
    b = Browser(chromium)
    try:
        open_add_form(b, folder_url)
        b.page.fill("#title", "ignored with several files")
        b.page.fill("#zoomify-creator", "Anna Example")
        b.page.select_option("#zoomify-rights", label="No Known Copyright")
        b.page.set_input_files("#file", paths)
        assert b.page.is_disabled("#id") and b.page.is_disabled("#title")
        assert b.page.is_visible(".zoomify-many-hint")
        b.page.click("input[type=submit]")
        b.page.wait_for_selector(".zoomify-upload-summary", timeout=30000)
        lines = b.page.eval_on_selector_all(
            ".zoomify-upload", "rows => rows.map(r => [r.dataset.file, "
            "r.querySelector('.zoomify-upload-status').textContent])")
        summary = b.page.text_content(".zoomify-upload-summary")
    finally:
        b.close()
    assert [name for name, _ in lines] == [n + ".ppm" for n in names]
    status = dict(lines)
    assert status["broken.ppm"].startswith(
        "Not added: broken.ppm: "), status["broken.ppm"]
    assert "cannot read the image" in status["broken.ppm"] or \
        "damaged" in status["broken.ppm"], status["broken.ppm"]
    for name, id in [("photo12000", "photo12000"), ("harbour", "harbour"),
                     ("map 1", "map-1"), ("last", "last")]:
        assert status[name + ".ppm"] == "Added as " + id, status
        assert same_bytes(folder_url + "/" + id + "/download",
                          paths[names.index(name)])
        assert requests.get(folder_url + "/" + id + "/status_json"
                            ).json()["status"] == "ready"
        manifest = requests.get(folder_url + "/" + id + "/manifest.json"
                                ).json()
        assert manifest["rights"] == \
            "http://rightsstatements.org/vocab/NKC/1.0/"
        assert {"label": {"en": ["Creator"]}, "value": {
            "none": ["Anna Example"]}} in manifest["metadata"]
    assert summary.startswith("4 of 5 files added; 1 not added")
    assert requests.get(folder_url + "/broken/status_json"
                        ).status_code == 404
    assert "broken.ppm" not in open_uploads_page(folder_url)
    assert not b.errors


# files dropped on the form: made in the page from the bytes given
DROP = """([names, contents]) => {
  const dropped = new DataTransfer();
  names.forEach((name, i) => dropped.items.add(new File(
    [Uint8Array.from(atob(contents[i]), c => c.charCodeAt(0))], name)));
  const form = document.querySelector("form[data-zoomify-upload]");
  form.dispatchEvent(new DragEvent("dragover", {dataTransfer: dropped,
                                                bubbles: true}));
  form.dispatchEvent(new DragEvent("drop", {dataTransfer: dropped,
                                            bubbles: true,
                                            cancelable: true}));
  return document.querySelector("#file").files.length;
}"""


def test_files_dropped_on_the_form(server, folder_url, chromium, tmp_path):
    paths = [ppm(tmp_path / name, 200, 150, seed)
             for seed, name in enumerate(["drop one.ppm", "drop2.ppm"])]
    contents = [base64.b64encode(open(p, "rb").read()).decode()
                for p in paths]
    b = Browser(chromium)
    try:
        open_add_form(b, folder_url)
        assert b.page.evaluate(DROP, [[os.path.basename(p) for p in paths],
                                      contents]) == 2
        assert b.page.is_disabled("#id")
        with b.page.expect_navigation(url=folder_url + "/manage_main"):
            b.page.click("input[type=submit]")
    finally:
        b.close()
    assert same_bytes(folder_url + "/drop-one/download", paths[0])
    assert same_bytes(folder_url + "/drop2/download", paths[1])
    assert not b.errors
