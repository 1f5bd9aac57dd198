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
from plone.scale.scale import MAX_HEIGHT
from plone.scale.scale import get_scale_mode
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


def source_factor(w, h, width, height, mode):
    """The scale of the image a scale is cut from: what plone.scale will
    bring it to, never above 1. Plone's named scales have no height bound
    (preview is 400:65536): plone.scale drops a height from MAX_HEIGHT up,
    and so does this, or a 400 px preview was made from the whole image.
    'scale' fits the box (the smaller factor); the cropping modes cover
    it (the larger; 'contain' without a height is a square)."""
    if height is not None and (height >= MAX_HEIGHT or height <= 0):
        height = None
    if width is not None and width <= 0:
        width = None
    mode = get_scale_mode(mode)
    if mode == "contain" and height is None:
        height = width
    factors = [side / whole for side, whole in ((width, w), (height, h))
               if side]
    if not factors:
        return 1.0
    return min(1.0, (min if mode == "scale" else max)(factors))


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
        factor = source_factor(w, h, width, height, mode)
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
