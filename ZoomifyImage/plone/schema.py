"""The fields of a Zoomify Image. Title, description, rights and creators
come from the behaviors (profiles/default/types/ZoomifyImage.xml)."""

from plone.namedfile.field import NamedBlobImage
from plone.supermodel import model
from zope import schema
from zope.schema import ValidationError

from .. import config
from .. import originals
from .. import tiling
from ..pyramid import TilingError
from ..viewer import without_server_paths


class NotTileable(ValidationError):
    """The file cannot be tiled."""

    def doc(self):
        # the reason, for the form and the REST API's error
        return self.args[0]


def tileable(value):
    """A file we can tile, read from its header only (the limits of the
    site's settings too): else the form says why, and nothing is added."""
    blob = getattr(value, "_blob", None)
    try:
        tiling.plan(originals.open_path(blob),
                    getattr(value, "filename", None) or "image", 256)
    except TilingError as e:
        raise NotTileable(without_server_paths(str(e)))
    return True


class IZoomifyImageSchema(model.Schema):

    model.primary("image")
    image = NamedBlobImage(
        title="Image",
        description="A large image (JPEG, PNG, TIFF, JPEG 2000, ...): it "
                    "is cut into deep-zoom tiles.",
        required=True,
        constraint=tileable,
    )

    storage = schema.Choice(
        title="Tile storage",
        description="Where the tiles are kept; empty: the site's setting.",
        values=config.STORAGES,
        required=False,
    )

    quality = schema.Int(
        title="JPEG quality of the tiles",
        description="1 to 100; empty: the site's setting.",
        min=1, max=100,
        required=False,
    )
