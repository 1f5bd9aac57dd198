"""`make start-plone`, as a newcomer runs it: a real Zope process with
Plone 6.2 on HOST:PORT, the site "Plone" made with the add-on, the
ZOPE_ADMIN user; an image sent to it is tiled, private, 401 to
anonymous."""

import base64
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

from tests.processes import free_port
from tests_plone.images import jpeg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fetch(url, data=None, headers=(), auth=None):
    headers = dict(headers)
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(
            auth.encode()).decode()
    request = urllib.request.Request(url, data, headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_make_start_plone(tmp_path):
    port = free_port()
    env = dict(os.environ, HOST="127.0.0.1", PORT=str(port),
               PLONE_INSTANCE=str(tmp_path / "plone"),
               ZOPE_ADMIN="boss:s3cret-words")
    log = open(tmp_path / "start.log", "wb")
    process = subprocess.Popen(["make", "-s", "start-plone"], cwd=ROOT,
                               env=env, stdout=log, stderr=log,
                               start_new_session=True)
    site = "http://127.0.0.1:%d/Plone" % port
    try:
        deadline = time.monotonic() + 240
        while True:
            assert process.poll() is None, (tmp_path / "start.log") \
                .read_text()[-3000:]
            try:
                if fetch(site)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "Plone did not start"
            time.sleep(0.5)
        code, page = fetch(site + "/++add++ZoomifyImage",
                           auth="boss:s3cret-words")
        assert code == 200 and b"form.widgets.image" in page
        body = {"@type": "ZoomifyImage", "title": "First",
                "image": {"data": base64.b64encode(jpeg()).decode(),
                          "encoding": "base64", "filename": "first.jpg",
                          "content-type": "image/jpeg"}}
        code, answer = fetch(site, json.dumps(body).encode(),
                             {"Accept": "application/json",
                              "Content-Type": "application/json"},
                             auth="boss:s3cret-words")
        assert code == 201, answer[:500]
        zoomify = json.loads(answer)["zoomify"]
        assert zoomify["status"] == "ready" and zoomify["width"] == 600
        # private: its tiles are the admin's, 401 to anonymous
        assert fetch(zoomify["image_properties"])[0] == 401
        code, xml = fetch(zoomify["image_properties"],
                          auth="boss:s3cret-words")
        assert code == 200 and b'WIDTH="600"' in xml
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
        log.close()
    assert b"made the site Plone with Zoomify Image" in (
        tmp_path / "start.log").read_bytes()
