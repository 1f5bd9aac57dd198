"""The Zoomify Image type in a real Plone 6.2 site (plone.app.testing),
through the real publisher with zope.testbrowser: added by Plone's add
form, it is a provider of the deep-zoom face, tiled, and served by the
same code as the Zope class."""

import io
import json

from PIL import Image
from zope.interface.verify import verifyClass

from tests_plone.helpers import add_item
from tests_plone.helpers import browser
from tests_plone.helpers import status
from tests_plone.images import jpeg
from ZoomifyImage.interfaces import IDeepZoomImage
from ZoomifyImage.interfaces import ITileable
from ZoomifyImage.plone.content import ZoomifyImageItem
from ZoomifyImage.plone.interfaces import IZoomifyImageItem


def add_through_form(b, folder_url, title="A big map", data=None,
                     filename="map.jpg", content_type="image/jpeg"):
    b.open(folder_url + "/++add++ZoomifyImage")
    b.getControl(name="form.widgets.IDublinCore.title").value = title
    b.getControl(name="form.widgets.image").add_file(
        io.BytesIO(jpeg() if data is None else data), content_type,
        filename)
    b.getControl("Save").click()
    return b


def test_the_class_provides_the_whole_face():
    """A method added to the face (interfaces.py) must be added here."""
    assert verifyClass(IZoomifyImageItem, ZoomifyImageItem)
    assert verifyClass(IDeepZoomImage, ZoomifyImageItem)
    assert verifyClass(ITileable, ZoomifyImageItem)


def test_add_through_the_form_and_see_tiles(functional):
    app, portal = functional["app"], functional["portal"]
    owner = browser(app, "owner")
    owner.followRedirects = True
    add_through_form(owner, portal.absolute_url())
    url = portal.absolute_url() + "/a-big-map"
    assert owner.url.removesuffix("/view") == url
    assert "Item created" in owner.contents
    assert 'id="zoomify-viewer"' in owner.contents
    item = portal["a-big-map"]
    assert IDeepZoomImage.providedBy(item) and ITileable.providedBy(item)
    assert item.current_status() == "ready"
    assert (item.width, item.height) == (600, 400)
    owner.open(url + "/ImageProperties.xml")
    assert 'WIDTH="600" HEIGHT="400"' in owner.contents
    owner.open(url + "/TileGroup0/0-0-0.jpg")
    tile = Image.open(io.BytesIO(owner.contents))
    assert tile.format == "JPEG" and tile.size == (150, 100)  # the top tier
    owner.open(url + "/iiif/info.json")
    info = json.loads(owner.contents)
    assert (info["width"], info["height"]) == (600, 400)


def test_the_view_shows_the_viewer_in_plones_page(functional):
    app, portal = functional["app"], functional["portal"]
    item = add_item(portal, title="Old <b>map</b>", state="published",
                    description="A town in 1750",
                    rights="Public domain, the city archive")
    path = "/plone/map"
    anonymous = browser(app)
    anonymous.open(item.absolute_url())
    page = anonymous.contents
    assert anonymous.headers["Cache-Control"] == "no-cache"
    # Plone's page: its title and description, our viewer inside
    assert 'id="visual-portal-wrapper"' in page or "portal-header" in page
    assert "Old &lt;b&gt;map&lt;/b&gt;" in page and "<b>map" not in page
    assert "A town in 1750" in page
    assert "Public domain, the city archive" in page
    assert 'id="zoomify-viewer"' in page
    assert '"tilesUrl": "%s/v/%s/"' % (path, item.tiles_set()) in page
    assert "++resource++zoomifyimage/openseadragon/openseadragon.min.js" \
        in page
    # what a librarian copies: paths (the page's script adds the host)
    assert 'value="%s/manifest.json"' % path in page
    assert 'value="%s/iiif/info.json"' % path in page
    assert '&lt;iframe src="%s/embed"' % path in page
    assert "600 x 400 pixels" in page
    # the embed page: the viewer alone
    anonymous.open(item.absolute_url() + "/embed")
    assert status(anonymous) == 200
    assert 'id="zoomify-embed"' in anonymous.contents
    assert "portal-header" not in anonymous.contents
    assert anonymous.headers["Content-Security-Policy"] == \
        "frame-ancestors *"  # over plone.protect's X-Frame-Options
