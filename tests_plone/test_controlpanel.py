"""The site's Zoomify Image settings in Site Setup (plone/controlpanel.py):
saved through the real form, checked by config.py's parsers (a bad value
is the form's error at its field, nothing saved), used by the type in
place of zope.conf's; uninstalling leaves the items readable."""

import ast
import base64
import io
import json
import urllib.error
import urllib.request

import transaction
from PIL import Image
from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import SITE_OWNER_PASSWORD
from plone.base.utils import get_installer
from plone.registry.interfaces import IRegistry
from zope.component import getUtility

from tests_plone.helpers import add_item
from tests_plone.helpers import browser
from tests_plone.helpers import status
from tests_plone.images import jpeg
from tests_plone.test_plone_type import add_through_form
from ZoomifyImage import jobs

PANEL = "/@@zoomifyimage-settings"


def save(b, **fields):
    b.open("http://nohost/plone" + PANEL)
    for name, value in fields.items():
        if name == "storage":  # a select
            b.getControl(name="form.widgets.storage:list").value = [value]
        else:
            b.getControl(name="form.widgets.%s" % name).value = value
    b.getControl("Save").click()
    return b


def manager(app, portal):
    b = browser(app, "owner")
    b.followRedirects = True
    return b


def registry_value(name):
    transaction.begin()  # (what the publisher committed)
    return getUtility(IRegistry).get("zoomifyimage." + name)


def configlet_ids(portal):
    return [a.getId() for a in portal.portal_controlpanel.listActions()]


def test_site_setup_lists_it_and_only_managers_open_it(functional):
    app, portal = functional["app"], functional["portal"]
    # (Site Setup's overview lists portal_controlpanel's configlets;
    # rendering it costs seconds)
    assert "zoomifyimage" in configlet_ids(portal)
    b = manager(app, portal)
    b.open(portal.absolute_url() + PANEL)
    assert "Zoomify Image settings" in b.contents
    assert "JPEG quality of the tiles" in b.contents
    anonymous = browser(app)
    anonymous.open(portal.absolute_url() + PANEL)
    assert status(anonymous) == 302  # to the login form
    assert "require_login" in anonymous.headers["Location"]


def test_a_bad_value_names_its_field_and_nothing_is_saved(functional):
    app, portal = functional["app"], functional["portal"]
    b = manager(app, portal)
    save(b, quality="55")
    assert "Changes saved" in b.contents
    assert registry_value("quality") == 55
    for field, value, reason in (
            ("quality", "101", "must be from 1 to 100"),
            ("max_tiling_memory", "lots", "not a size"),
            ("public_download", "everything", "must be none, tier PIXELS"),
            ("preview_size", "-3", "at least 256 pixels")):
        # with a good value beside it, which is not saved either
        save(b, **{"quality": "60", field: value})
        assert "There were some errors" in b.contents, field
        # config.py's reason, at the field
        at_field = b.contents.split('id="formfield-form-widgets-%s"'
                                    % field)[1].split('id="formfield-')[0]
        assert reason in at_field, (field, at_field)
        # nothing of this save kept: the good quality neither
        assert registry_value("quality") == 55, field
        assert registry_value(field) in (None, "", 55), field
    # s3 needs its bucket in zope.conf (the test's has none)
    save(b, storage="s3")
    assert "s3-bucket is not set in zope.conf" in b.contents.split(
        'id="formfield-form-widgets-storage"')[1].split('id="formfield-')[0]
    assert registry_value("storage") is None


def test_the_type_uses_the_sites_values(functional):
    app, portal = functional["app"], functional["portal"]
    b = manager(app, portal)
    save(b, quality="20", max_megapixels="1")
    assert "Changes saved" in b.contents
    # the limit: a 1.2-megapixel file is refused by the add form
    add_through_form(b, portal.absolute_url(), title="Too big",
                     data=jpeg(1200, 1000))
    assert "There were some errors" in b.contents
    assert "megapixel" in b.contents.lower()
    assert "too-big" not in portal.objectIds()
    # the quality: the tiles are encoded at the site's 20, not zope.conf's
    item = add_item(portal, state="published")
    b.open(item.absolute_url() + "/TileGroup0/0-0-0.jpg")
    tile = Image.open(io.BytesIO(b.contents))
    assert tile.quantization == quantization(20)
    # empty again: zope.conf's (80)
    save(b, quality="", max_megapixels="")
    assert registry_value("quality") is None
    other = add_item(portal, id="other")
    b.open(other.absolute_url() + "/TileGroup0/0-0-0.jpg")
    assert Image.open(io.BytesIO(b.contents)).quantization == \
        quantization(80)


def quantization(quality):
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "JPEG", quality=quality)
    return Image.open(out).quantization


def test_background_tiling_uses_the_sites_values(functional):
    """A worker thread has no current site: it tiles with the item's
    site's values all the same."""
    app, portal = functional["app"], functional["portal"]
    registry = getUtility(IRegistry)
    registry["zoomifyimage.background_megapixels"] = 1
    registry["zoomifyimage.quality"] = 20
    transaction.commit()
    item = add_item(portal, data=jpeg(1500, 1000), state="published")
    assert item.current_status() in ("queued", "tiling", "ready")
    assert item.tiling_job() is not None  # over the site's 1 megapixel
    assert jobs.pool.wait(60)
    transaction.begin()  # what the worker committed
    assert portal["map"].current_status() == "ready"
    b = browser(app)
    b.open(item.absolute_url() + "/TileGroup0/0-0-0.jpg")
    assert Image.open(io.BytesIO(b.contents)).quantization == \
        quantization(20)


def test_preview_size_and_public_download_of_the_site(functional):
    """What anonymous sees of a published 600 x 400 item follows the
    site's preview-size and public-download."""
    app, portal = functional["app"], functional["portal"]
    item = add_item(portal, state="published")
    url = item.absolute_url()
    anonymous = browser(app)
    anonymous.open(url + "/download.jpg")  # zope.conf's: tier 2000
    assert Image.open(io.BytesIO(anonymous.contents)).size == (600, 400)
    registry = getUtility(IRegistry)
    registry["zoomifyimage.preview_size"] = "256"
    registry["zoomifyimage.public_download"] = "tier 200"
    transaction.commit()
    anonymous.open(url + "/ImageProperties.xml")
    assert 'WIDTH="150" HEIGHT="100"' in anonymous.contents
    anonymous.open(url + "/iiif/full/max/0/default.jpg")
    assert status(anonymous) == 401
    anonymous.open(url + "/download.jpg")
    assert Image.open(io.BytesIO(anonymous.contents)).size == (150, 100)
    registry["zoomifyimage.public_download"] = "none"
    transaction.commit()
    anonymous.open(url + "/download.jpg")
    assert status(anonymous) == 404


def test_uninstall_leaves_the_items_readable(functional):
    app, portal = functional["app"], functional["portal"]
    item = add_item(portal, state="published")
    url = item.absolute_url()
    get_installer(portal).uninstall_product("ZoomifyImage.plone")
    transaction.commit()
    assert "ZoomifyImage" not in portal.portal_types.objectIds()
    assert getUtility(IRegistry).get("zoomifyimage.quality") is None
    assert "zoomifyimage" not in configlet_ids(portal)
    b = manager(app, portal)
    b.open(portal.absolute_url() + PANEL)
    assert status(b) == 404  # the view is the add-on layer's
    anonymous = browser(app)
    for part in ("/ImageProperties.xml", "/TileGroup0/0-0-0.jpg",
                 "/iiif/info.json", "/manifest.json"):
        anonymous.open(url + part)
        assert status(anonymous) == 200, part
    b.open(url + "/download")
    assert status(b) == 200
    assert b.contents == jpeg()


def test_a_site_of_version_1001_gets_the_settings_by_its_upgrade(
        functional):
    portal = functional["portal"]
    setup = portal.portal_setup
    profile = "ZoomifyImage.plone:default"
    registry = getUtility(IRegistry)
    # as a site installed before the control panel: no records, no
    # configlet, profile version 1001
    for name in [n for n in registry.records.keys()
                 if n.startswith("zoomifyimage.")]:
        del registry.records[name]
    portal.portal_controlpanel.unregisterConfiglet("zoomifyimage")
    setup.setLastVersionForProfile(profile, "1001")
    assert "zoomifyimage" not in configlet_ids(portal)
    setup.upgradeProfile(profile)
    assert setup.getLastVersionForProfile(profile) == ("1002",)
    assert registry.get("zoomifyimage.quality", "missing") is None
    assert "zoomifyimage" in configlet_ids(portal)


def rest(acceptance, method, path, body=None):
    """plone.restapi over real HTTP on loopback, as the site's owner."""
    url = "http://%s:%s/plone%s" % (acceptance["host"], acceptance["port"],
                                    path)
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data, {
        "Authorization": "Basic " + base64.b64encode(("%s:%s" % (
            SITE_OWNER_NAME, SITE_OWNER_PASSWORD)).encode()).decode(),
        "Accept": "application/json",
        "Content-Type": "application/json"}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_the_rest_api_reads_and_checks_the_settings(acceptance):
    """@controlpanels/zoomifyimage (what a Volto site would edit): the
    same fields and the same checks as the form."""
    code, body = rest(acceptance, "GET", "/@controlpanels/zoomifyimage")
    assert code == 200, body
    panel = json.loads(body)
    assert panel["title"] == "Zoomify Image"
    assert "quality" in panel["schema"]["properties"]
    assert panel["data"]["quality"] is None
    code, _ = rest(acceptance, "PATCH", "/@controlpanels/zoomifyimage",
                   {"quality": 35})
    assert code == 204, _
    code, body = rest(acceptance, "PATCH", "/@controlpanels/zoomifyimage",
                      {"quality": 101, "public_download": "tier 500"})
    assert code == 400
    errors = json.loads(body)["message"]
    assert {"field": "quality", "message": "must be from 1 to 100",
            "error": "ValidationError"} in eval_errors(errors)
    code, body = rest(acceptance, "GET", "/@controlpanels/zoomifyimage")
    data = json.loads(body)["data"]
    assert data["quality"] == 35 and data["public_download"] is None


def eval_errors(message):
    # plone.restapi's BadRequest carries the list of errors as its text
    return message if isinstance(message, list) else \
        ast.literal_eval(message)
