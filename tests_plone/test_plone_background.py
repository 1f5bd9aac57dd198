"""A big Zoomify Image is tiled by the same background jobs as the Zope
class's (over background-megapixels): the add answers at once, the page
and the REST API say it waits or is being tiled, and a worker thread
with its own connection installs the set."""

import json

import pytest
import transaction
from App.config import getConfiguration

from tests_plone.helpers import add_item
from tests_plone.helpers import browser
from tests_plone.helpers import status
from tests_plone.images import jpeg
from ZoomifyImage import jobs


@pytest.fixture
def background_over_one_megapixel(monkeypatch):
    monkeypatch.setattr(getConfiguration(), "product_config", {
        "zoomifyimage": {"background-megapixels": "1"}}, raising=False)


def test_a_big_image_is_tiled_by_a_worker(functional,
                                          background_over_one_megapixel):
    app, portal = functional["app"], functional["portal"]
    jobs.pool.pause()  # the page is seen before the worker starts
    try:
        item = add_item(portal, data=jpeg(1500, 1000), state="published")
        assert item.current_status() == "queued"
        anonymous = browser(app)
        anonymous.open(item.absolute_url())
        assert status(anonymous) == 200
        assert "waiting to be cut into tiles" in anonymous.contents
        assert 'http-equiv="refresh"' in anonymous.contents
        anonymous.open(item.absolute_url() + "/TileGroup0/0-0-0.jpg")
        assert status(anonymous) == 404
        anonymous.addHeader("Accept", "application/json")
        anonymous.open(item.absolute_url())
        assert json.loads(anonymous.contents)["zoomify"]["status"] \
            == "queued"
    finally:
        jobs.pool.resume()
    assert jobs.pool.wait(60)
    transaction.begin()  # what the worker committed
    item = portal["map"]
    assert item.current_status() == "ready", item.tiling_error()
    assert (item.width, item.height) == (1500, 1000)
    plain = browser(app)
    plain.open(item.absolute_url() + "/ImageProperties.xml")
    assert 'WIDTH="1500" HEIGHT="1000"' in plain.contents
    plain.open(item.absolute_url())
    assert 'id="zoomify-viewer"' in plain.contents
