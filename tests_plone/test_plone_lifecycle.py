"""Edit, copy, paste, rename and delete keep a Zoomify Image's tiles in
step (its zope.lifecycleevent subscribers); a file that cannot be tiled
is refused by Plone's form with the reason, and nothing is added."""

import io

import transaction
from PIL import Image
from plone import api

from tests_plone.helpers import add_item
from tests_plone.helpers import browser
from tests_plone.helpers import status
from tests_plone.images import jpeg
from tests_plone.test_plone_type import add_through_form


def properties(b, url):
    b.open(url + "/ImageProperties.xml")
    return status(b), b.contents


def test_a_new_image_in_the_edit_form_makes_new_tiles(functional):
    app, portal = functional["app"], functional["portal"]
    item = add_item(portal)
    url, old_set = item.absolute_url(), item.tiles_set()
    owner = browser(app, "owner")
    owner.open(url + "/edit")
    owner.getControl(name="form.widgets.image.action").value = ["replace"]
    owner.getControl(name="form.widgets.image").add_file(
        io.BytesIO(jpeg(300, 900)), "image/jpeg", "tall.jpg")
    owner.getControl("Save").click()
    assert status(owner) == 302
    assert properties(owner, url)[1].count('WIDTH="300" HEIGHT="900"') == 1
    assert portal["map"].tiles_set() != old_set
    # the old set's viewer URL no longer serves the new picture
    owner.open(url + "/v/%s/TileGroup0/0-0-0.jpg" % portal["map"]
               .tiles_set())
    assert Image.open(io.BytesIO(owner.contents)).size[1] > \
        Image.open(io.BytesIO(owner.contents)).size[0]
    # the title alone: the same tiles
    owner.open(url + "/edit")
    owner.getControl(name="form.widgets.IDublinCore.title").value = "New"
    owner.getControl("Save").click()
    assert portal["map"].title == "New"
    assert portal["map"].tiles_version == 2


def test_copy_paste_rename_delete(functional):
    app, portal = functional["app"], functional["portal"]
    item = add_item(portal)
    with api.env.adopt_roles(["Manager"]):
        folder = api.content.create(container=portal, type="Folder",
                                    id="folder", title="Folder")
        copy = api.content.copy(source=item, target=folder)
    transaction.commit()
    assert copy.uid != item.uid
    assert copy.tiles_set() and copy.current_status() == "ready"
    owner = browser(app, "owner")
    assert properties(owner, copy.absolute_url())[0] == 200
    # rename: the tiles stay
    with api.env.adopt_roles(["Manager"]):
        api.content.rename(obj=portal["map"], new_id="renamed")
    transaction.commit()
    code, body = properties(owner, portal.absolute_url() + "/renamed")
    assert code == 200 and 'WIDTH="600"' in body
    # delete the original: the copy keeps its own tiles
    with api.env.adopt_roles(["Manager"]):
        api.content.delete(obj=portal["renamed"])
    transaction.commit()
    assert properties(owner, portal.absolute_url() + "/renamed")[0] == 404
    owner.open(copy.absolute_url() + "/TileGroup0/0-0-0.jpg")
    assert status(owner) == 200


def test_a_file_that_cannot_be_tiled_is_refused_by_the_form(functional):
    app, portal = functional["app"], functional["portal"]
    owner = browser(app, "owner")
    damaged = jpeg()[:400]  # the header stops before the image's size
    add_through_form(owner, portal.absolute_url(), title="Broken",
                     data=damaged, filename="broken.jpg")
    assert status(owner) == 200  # the form again, with the reason
    assert "There were some errors" in owner.contents
    # (the reason in the engine's words: Pillow "header", pyvips "premature
    # end of JPEG image")
    assert "broken.jpg: cannot read the image" in owner.contents
    assert "broken" not in portal.objectIds()
    # not an image at all
    add_through_form(owner, portal.absolute_url(), title="Text",
                     data=b"just text", filename="notes.txt",
                     content_type="text/plain")
    assert "There were some errors" in owner.contents
    assert "text" not in portal.objectIds()


def damaged_png(width=1500, height=1000):
    """A PNG whose header is sound and whose image data has 64 zeroed
    bytes: only decoding its rows tells it is damaged."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height),
                    bytes(range(256)) * (width * height * 3 // 256 + 1)
                    ).save(out, "PNG")
    data = bytearray(out.getvalue())
    start = data.index(b"IDAT") + 4 + 200
    data[start:start + 64] = bytes(64)
    return bytes(data)


def test_a_damaged_image_in_the_edit_form_keeps_the_previous_tiles(
        functional):
    app, portal = functional["app"], functional["portal"]
    item = add_item(portal)
    url, old_set = item.absolute_url(), item.tiles_set()
    owner = browser(app, "owner")
    owner.open(url + "/edit")
    owner.getControl(name="form.widgets.image.action").value = ["replace"]
    owner.getControl(name="form.widgets.image").add_file(
        io.BytesIO(damaged_png()), "image/png", "damaged.png")
    owner.getControl("Save").click()
    # the form again, with the reason; nothing saved
    assert status(owner) == 200
    assert "There were some errors" in owner.contents
    assert "damaged.png: the image data is damaged" in owner.contents
    assert portal["map"].tiles_set() == old_set
    assert portal["map"].current_status() == "ready"
    assert properties(owner, url)[1].count('WIDTH="600" HEIGHT="400"') == 1
    owner.open(url + "/download")  # the original
    assert Image.open(io.BytesIO(owner.contents)).format == "JPEG"
