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


def test_a_scale_reads_only_the_tier_it_needs(functional):
    """Plone's preview and large are 400:65536 and 800:65536 (no height
    bound): the scale is made from the tier just finer than the width
    asked, not from the full image (which, for a 600-megapixel item,
    composed a 30000 x 20000 canvas: 2.7 GB and 25 s a scale)."""
    from ZoomifyImage import iiif_pixels
    app, portal = functional["app"], functional["portal"]
    item = add_item(portal, id="wide", data=solid((0, 0, 150),
                                                  (2400, 1600)))
    owner = browser(app, "owner")
    for scale, box in (("preview", 400), ("large", 800)):
        iiif_pixels.decoded_tiles.clear()
        owner.open(item.absolute_url() + "/@@images/image/" + scale)
        assert status(owner) == 200, scale
        shown = Image.open(io.BytesIO(owner.contents)).size
        assert shown[0] == box and abs(shown[1] - box * 2 / 3) < 1, (
            scale, shown)
        # what was decoded: a tier at most twice the scale's width (4
        # bytes a pixel), not the 2400 x 1600 of the full image
        assert iiif_pixels.decoded_tiles.size <= 4 * (2 * box) ** 2, (
            scale, iiif_pixels.decoded_tiles.size)
