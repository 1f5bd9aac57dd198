"""A big image (over the site's background-megapixels) added or replaced
through Plone's Classic UI forms: the page the editor lands on says it
is being tiled in the background, with the progress, and refreshes
itself until the viewer is there; a failed tiling shows its reason to
the editor, never to anonymous."""

import io
import os

import pytest
import transaction
from plone.registry.interfaces import IRegistry
from zope.component import getUtility

from tests_plone.helpers import add_item
from tests_plone.helpers import browser
from tests_plone.helpers import status
from tests_plone.images import jpeg
from ZoomifyImage import jobs


@pytest.fixture
def big_over_one_megapixel(functional):
    # the site's setting, as an administrator sets it in the control panel
    getUtility(IRegistry)["zoomifyimage.background_megapixels"] = 1
    transaction.commit()
    return functional


def landing(b):
    """The page the form's redirect leads to."""
    assert status(b) == 302, b.contents
    b.open(b.headers["Location"])
    assert status(b) == 200
    return b.contents


def test_add_form_lands_on_the_progress(big_over_one_megapixel):
    app, portal = (big_over_one_megapixel["app"],
                   big_over_one_megapixel["portal"])
    owner = browser(app, "owner")
    jobs.pool.pause()  # the page is seen before the worker ends
    try:
        owner.open(portal.absolute_url() + "/++add++ZoomifyImage")
        owner.getControl(name="form.widgets.IDublinCore.title").value = "Big"
        owner.getControl(name="form.widgets.image").add_file(
            io.BytesIO(jpeg(1500, 1000)), "image/jpeg", "big.jpg")
        owner.getControl("Save").click()
        page = landing(owner)
        assert "Tiling in the background" in page
        assert "waiting to be cut into tiles" in page
        assert 'http-equiv="refresh"' in page
        assert 'id="zoomify-viewer"' not in page
        # the worker's progress, as its commits leave it
        transaction.begin()
        job = portal["big"].tiling_job()
        job.status, job.done, job.total = "tiling", 2, 5
        transaction.commit()
        owner.open(portal["big"].absolute_url())
        assert "Tiling in the background: 40 %" in owner.contents
        assert "2 of 5 tiles" in owner.contents
        assert 'http-equiv="refresh"' in owner.contents
        transaction.begin()
        job = portal["big"].tiling_job()
        job.status, job.done, job.total = "queued", 0, 0
        transaction.commit()
    finally:
        jobs.pool.resume()
    assert jobs.pool.wait(60)
    owner.open(portal.absolute_url() + "/big")
    assert 'id="zoomify-viewer"' in owner.contents
    assert 'http-equiv="refresh"' not in owner.contents
    assert "Tiling in the background" not in owner.contents


def test_edit_form_failed_tiling_reason_for_the_editor(
        big_over_one_megapixel):
    app, portal = (big_over_one_megapixel["app"],
                   big_over_one_megapixel["portal"])
    item = add_item(portal, state="published")  # small: tiled at once
    url = item.absolute_url()
    owner = browser(app, "owner")
    owner.open(url + "/edit")
    owner.getControl(name="form.widgets.image.action").value = ["replace"]
    owner.getControl(name="form.widgets.image").add_file(
        io.BytesIO(jpeg(1500, 1000)), "image/jpeg", "big.jpg")
    jobs.pool.pause()
    try:
        owner.getControl("Save").click()
        landing(owner)
        # the new original's file is lost before the worker reads it
        transaction.begin()
        os.remove(portal["map"].original_file())
    finally:
        jobs.pool.resume()
    assert jobs.pool.wait(60)
    transaction.begin()
    assert portal["map"].tiling_error()
    owner.open(url)
    assert 'id="zoomify-error"' in owner.contents
    assert "Tiling failed" in owner.contents
    assert "/tmp" not in owner.contents  # no server paths
    # the previous tiles are still served; anonymous sees no reason
    assert 'id="zoomify-viewer"' in owner.contents
    anonymous = browser(app)
    anonymous.open(url)
    assert status(anonymous) == 200
    assert 'id="zoomify-viewer"' in anonymous.contents
    assert "zoomify-error" not in anonymous.contents
    assert "Tiling failed" not in anonymous.contents
