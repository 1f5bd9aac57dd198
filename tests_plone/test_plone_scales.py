"""Plone's scales of a Zoomify Image come from its pyramid, never from
the original: after the original's file is changed behind the tiles'
back (no event, no retiling), thumb and preview still show the tiles'
picture."""

import io

import transaction
from PIL import Image

from tests_plone.helpers import add_item
from tests_plone.helpers import browser
from tests_plone.helpers import status


def solid(color, size=(1200, 800)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", quality=95)
    return out.getvalue()


def test_scales_are_made_from_the_tiles(functional):
    app, portal = functional["app"], functional["portal"]
    item = add_item(portal, data=solid((200, 0, 0)))
    # the original becomes blue; the tiles stay red
    with item.image._blob.open("w") as f:
        f.write(solid((0, 0, 200)))
    transaction.commit()
    owner = browser(app, "owner")
    owner.open(item.absolute_url() + "/download")
    assert Image.open(io.BytesIO(owner.contents)).getpixel((5, 5))[2] > 150
    for scale, box in (("thumb", 128), ("preview", 400), ("large", 800)):
        owner.open(item.absolute_url() + "/@@images/image/" + scale)
        assert status(owner) == 200, scale
        assert owner.headers["Content-Type"] == "image/jpeg"
        thumb = Image.open(io.BytesIO(owner.contents))
        assert max(thumb.size) == box, (scale, thumb.size)
        assert abs(thumb.size[0] / thumb.size[1] - 1.5) < 0.02  # its shape
        red, green, blue = thumb.getpixel((thumb.size[0] // 2, 5))
        assert red > 150 and blue < 50, (scale, red, green, blue)


def test_scales_never_show_more_than_the_preview(functional):
    """With a preview size, a scale (stored once, served to everyone by
    its URL) is made from the tiers anonymous may see: @@images/image/large
    of a 1200 x 800 item is no bigger than its 300 x 200 tier."""
    app, portal = functional["app"], functional["portal"]
    item = add_item(portal, id="limited", data=solid((0, 150, 0)),
                    state="published")
    item.preview_size = 300
    transaction.commit()
    anonymous = browser(app)
    anonymous.open(item.absolute_url() + "/TileGroup0/0-0-0.jpg")
    assert status(anonymous) == 200
    for scale in ("large", "preview", "mini"):
        anonymous.open(item.absolute_url() + "/@@images/image/" + scale)
        assert status(anonymous) == 200, scale
        shown = Image.open(io.BytesIO(anonymous.contents)).size
        assert max(shown) <= 300, (scale, shown)
