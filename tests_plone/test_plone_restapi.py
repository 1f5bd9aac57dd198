"""plone.restapi: an item's JSON says where its pyramid is and how its
tiling stands; a small image sent as base64 JSON becomes a tiled item."""

import base64
import json

from tests_plone.helpers import add_item
from tests_plone.helpers import browser
from tests_plone.helpers import status
from tests_plone.images import jpeg


def api_browser(app, user="owner"):
    b = browser(app, user)
    b.addHeader("Accept", "application/json")
    return b


def test_the_json_of_an_item_carries_its_pyramid(functional):
    app, portal = functional["app"], functional["portal"]
    item = add_item(portal, state="published")
    url = item.absolute_url()
    b = api_browser(app, None)
    b.open(url)
    assert status(b) == 200
    data = json.loads(b.contents)
    assert data["@type"] == "ZoomifyImage"
    zoomify = data["zoomify"]
    assert zoomify["status"] == "ready" and zoomify["progress"] is None
    assert (zoomify["width"], zoomify["height"]) == (600, 400)
    assert zoomify["iiif_info"] == url + "/iiif/info.json"
    assert zoomify["manifest"] == url + "/manifest.json"
    assert zoomify["tiles_url"] == "%s/v/%s/" % (url, item.tiles_set())
    # the URLs answer
    plain = browser(app)
    for name in ("iiif_info", "manifest", "image_properties"):
        plain.open(zoomify[name])
        assert status(plain) == 200, name
    plain.open(zoomify["tiles_url"] + "TileGroup0/0-0-0.jpg")
    assert status(plain) == 200
    # IIIF clients that ask for JSON get IIIF (not plone.rest's 404)
    for name in ("iiif_info", "manifest"):
        b.open(zoomify[name])
        assert status(b) == 200 and json.loads(b.contents)["id"], name
    owner = api_browser(app)
    owner.open(url + "/download")
    assert status(owner) == 200 and owner.contents[:2] == b"\xff\xd8"
    # Plone's own scales of it, made from the pyramid
    assert data["image"]["scales"]["thumb"]["width"] == 128


def test_create_by_rest_with_a_base64_image(functional):
    app, portal = functional["app"], functional["portal"]
    b = api_browser(app)
    body = {"@type": "ZoomifyImage", "title": "Sent by REST",
            "image": {"data": base64.b64encode(jpeg(500, 300)).decode(),
                      "encoding": "base64", "filename": "rest.jpg",
                      "content-type": "image/jpeg"}}
    b.post(portal.absolute_url(), json.dumps(body), "application/json")
    assert status(b) == 201
    created = json.loads(b.contents)
    assert created["id"] == "sent-by-rest"
    assert created["zoomify"]["status"] == "ready"
    assert (created["zoomify"]["width"], created["zoomify"]["height"]) \
        == (500, 300)
    b.open(created["zoomify"]["iiif_info"])
    assert json.loads(b.contents)["width"] == 500


def test_rest_refuses_a_file_that_cannot_be_tiled(functional):
    app, portal = functional["app"], functional["portal"]
    b = api_browser(app)
    body = {"@type": "ZoomifyImage", "title": "Broken",
            "image": {"data": base64.b64encode(jpeg()[:400]).decode(),
                      "encoding": "base64", "filename": "broken.jpg",
                      "content-type": "image/jpeg"}}
    b.post(portal.absolute_url(), json.dumps(body), "application/json")
    assert status(b) == 400
    assert "broken.jpg: cannot read the image" in json.loads(
        b.contents)["message"]
    assert "broken" not in portal.objectIds()
