"""ITEM/@@zoomify-fullscreen: the viewer filling the window, no Plone
chrome, the title and a way back to the item; View permission (the
workflow), GET and HEAD only, cached as the item's page."""

from tests_plone.helpers import add_item
from tests_plone.helpers import browser
from tests_plone.helpers import status


def test_fullscreen_page_of_a_published_item(functional):
    app, portal = functional["app"], functional["portal"]
    item = add_item(portal, title="A <b>map</b>", state="published")
    anonymous = browser(app)
    # the default view links to it
    anonymous.open(item.absolute_url())
    link = anonymous.getLink(id="zoomify-fullscreen-link")
    assert link.url.endswith("/plone/map/@@zoomify-fullscreen")
    link.click()
    assert status(anonymous) == 200
    html = anonymous.contents
    # the viewer alone: no Plone chrome (header, portlets, footer)
    assert 'id="zoomify-fullscreen"' in html
    assert "portal-header" not in html and "portal-footer" not in html
    # the title (escaped) and a way back to the item's page (a site path)
    assert "<title>A &lt;b&gt;map&lt;/b&gt;</title>" in html
    back = anonymous.getLink(id="zoomify-back")
    assert back.attrs["href"] == "/plone/map"
    assert anonymous.headers["Cache-Control"] == "no-cache"
    # HEAD: the same headers; POST refused
    head = anonymous.testapp.head("/plone/map/@@zoomify-fullscreen")
    assert head.status_int == 200 and head.body == b""
    assert head.headers["Cache-Control"] == "no-cache"
    anonymous.post(item.absolute_url() + "/@@zoomify-fullscreen", "a=1")
    assert status(anonymous) == 405
    assert anonymous.headers["Allow"] == "GET, HEAD"


def test_fullscreen_page_of_a_private_item(functional):
    app, portal = functional["app"], functional["portal"]
    item = add_item(portal)
    url = item.absolute_url() + "/@@zoomify-fullscreen"
    anonymous = browser(app)
    anonymous.open(url)
    assert status(anonymous) in (302, 401)
    assert "zoomify-fullscreen" not in str(anonymous.contents)
    owner = browser(app, "owner")
    owner.open(url)
    assert status(owner) == 200
    assert 'id="zoomify-fullscreen"' in owner.contents
    assert owner.headers["Cache-Control"] == "private, no-cache"
