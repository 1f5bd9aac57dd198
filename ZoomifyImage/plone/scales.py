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
from .interfaces import IZoomifyImageItem


@adapter(IZoomifyImageItem)
class PyramidScaleFactory(DefaultImageScalingFactory):

    def get_raw_data(self, orig_value):
        # never the original's file: create_scale reads the tiles
        tiles = self.context.tile_set()
        return tiles if tiles.layout is not None else None

    def create_scale(self, data, mode, height, width, **parameters):
        layout = data.layout
        w, h = layout.width, layout.height
        # big enough to cover the box asked (for the cropping modes too),
        # never bigger than the image
        factor = min(1.0, max((width or 0) / w, (height or 0) / h))
        size = (max(1, math.ceil(w * factor)), max(1, math.ceil(h * factor)))
        image = iiif_pixels.compose(
            layout, data.store.get, (0, 0, w, h), size,
            config.settings().iiif_max_area, set_key=data.etag)
        image = scalePILImage(image, width=width, height=height, mode=mode)
        if image.mode not in ("L", "RGB"):
            image = image.convert("RGB")
        out = io.BytesIO()
        image.save(out, "JPEG", quality=parameters.get("quality") or 88,
                   optimize=True)
        return out.getvalue(), "jpeg", image.size
