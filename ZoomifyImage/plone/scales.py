"""Plone's image scales of a Zoomify Image (@@images/image/thumb, the
listings, the REST API's image_scales) made from the nearest stored tier
of its pyramid, never from the original: Plone's own scaling decodes the
whole original, which for a 20-gigapixel scan is out of any process's
memory. An IImageScaleFactory adapter for the item (more specific than
plone.namedfile's for any object): the pyramid gives an image just big
enough for the scale asked (iiif_pixels.compose, the code of IIIF's
composed answers), then plone.scale crops or fits it as for any image;
scales are JPEGs (tiles are)."""

import io
import math

from plone.namedfile.scaling import DefaultImageScalingFactory
from plone.scale.scale import scalePILImage
from zope.component import adapter

from .. import config
from .. import iiif_pixels
from .. import resolution
from .interfaces import IZoomifyImageItem


def shared_layout(item, tiles):
    """The pyramid a scale is made from. Plone stores one scale for
    everyone (its URL names no user, and a listing shows it to anyone),
    so never more than anonymous sees: the pyramid cut at the preview
    size (resolution.py) unless anonymous has full resolution; None when
    no tier fits."""
    if tiles.limit and not resolution.anonymous_full(item):
        return resolution.cut_layout(tiles.layout, tiles.limit)
    return tiles.layout


@adapter(IZoomifyImageItem)
class PyramidScaleFactory(DefaultImageScalingFactory):

    def get_raw_data(self, orig_value):
        # never the original's file: create_scale reads the tiles
        tiles = self.context.tile_set()
        if tiles.layout is None or shared_layout(self.context, tiles) is None:
            return None
        return tiles

    def create_scale(self, data, mode, height, width, **parameters):
        layout = shared_layout(self.context, data)
        # nothing above that pyramid is read (resolution.guarded)
        get_tile = resolution.guarded(
            resolution.Sight(layout is data.layout, layout, True),
            data.store.get)
        w, h = layout.width, layout.height
        # big enough to cover the box asked (for the cropping modes too),
        # never bigger than the image
        factor = min(1.0, max((width or 0) / w, (height or 0) / h))
        size = (max(1, math.ceil(w * factor)), max(1, math.ceil(h * factor)))
        image = iiif_pixels.compose(
            layout, get_tile, (0, 0, w, h), size,
            config.settings().iiif_max_area, set_key=data.etag)
        image = scalePILImage(image, width=width, height=height, mode=mode)
        if image.mode not in ("L", "RGB"):
            image = image.convert("RGB")
        out = io.BytesIO()
        image.save(out, "JPEG", quality=parameters.get("quality") or 88,
                   optimize=True)
        return out.getvalue(), "jpeg", image.size
