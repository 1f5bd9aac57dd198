"""plone.restapi's own resumable upload (@tus-upload, the tus protocol)
ends as a tiled Zoomify Image: the file comes in three PATCHes over real
HTTP, is kept on disc by plone.restapi, streamed into the item's blob,
and cut into tiles; the download gives back the same bytes."""

import base64
import urllib.error
import urllib.request

import transaction
from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import SITE_OWNER_PASSWORD

from tests_plone.images import jpeg

OWNER = base64.b64encode(
    ("%s:%s" % (SITE_OWNER_NAME, SITE_OWNER_PASSWORD)).encode()).decode()


def call(url, method, data=None, **headers):
    headers = {k.replace("_", "-"): v for k, v in headers.items()}
    headers.update({"Authorization": "Basic " + OWNER,
                    "Tus-Resumable": "1.0.0",
                    "Accept": "application/json"})
    request = urllib.request.Request(url, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def metadata(**values):
    return ",".join("%s %s" % (k.replace("_", "-"), base64.b64encode(
        v.encode()).decode()) for k, v in values.items())


def test_a_resumable_upload_becomes_a_tiled_item(acceptance):
    portal = acceptance["portal"]
    base = "http://%s:%s/plone" % (acceptance["host"], acceptance["port"])
    data = jpeg(1100, 700)
    code, headers, _ = call(
        base + "/@tus-upload", "POST", b"", Upload_Length=str(len(data)),
        Upload_Metadata=metadata(filename="scan.jpg",
                                 content_type="image/jpeg",
                                 **{"@type": "ZoomifyImage"}))
    assert code == 201
    upload = headers["Location"]
    third = len(data) // 3 + 1
    for offset in range(0, len(data), third):
        code, headers, _ = call(
            upload, "PATCH", data[offset:offset + third],
            Upload_Offset=str(offset),
            Content_Type="application/offset+octet-stream")
        assert code == 204
        assert int(headers["Upload-Offset"]) == min(offset + third,
                                                    len(data))
    item_url = headers["Location"]  # the new item, after the last PATCH
    transaction.begin()
    item = portal[item_url.rsplit("/", 1)[1]]
    assert item.portal_type == "ZoomifyImage"
    assert item.current_status() == "ready"
    assert (item.width, item.height) == (1100, 700)
    code, _, xml = call(item_url + "/ImageProperties.xml", "GET")
    assert code == 200 and b'WIDTH="1100" HEIGHT="700"' in xml
    code, _, original = call(item_url + "/download", "GET")
    assert code == 200 and original == data
