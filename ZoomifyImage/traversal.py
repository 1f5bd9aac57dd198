"""The names below an image with a pyramid (interfaces.IDeepZoomImage),
for its __bobo_traverse__: the Zoomify tiles (serving.py) and IIIF
(iiif.py). Any provider of the face publishes its pyramid by calling
traverse(); it has its own module so that serving stays below iiif."""

from ZPublisher.BaseRequest import UseTraversalDefault

from .downloads import REDUCED_NAME
from .downloads import ReducedDownload
from .iiif import About
from .iiif import IIIFService
from .iiif import Manifest
from .iiif import PreviewService
from .serving import TileFile
from .serving import TileGroup
from .serving import take_tile_name
from .serving import take_versioned_name
from .web_errors import NotFound


def traverse(image, REQUEST, name):
    """The published object for ``name`` below ``image``; raises
    UseTraversalDefault for any other name (its own attributes)."""
    if name == "ImageProperties.xml":
        return TileFile(name).__of__(image)
    if name == "v":  # the viewer's tiles: IMAGE/v/SET/TileGroupN/...
        versioned = take_versioned_name(REQUEST)
        if versioned is None:
            raise NotFound("not a tile of this image")
        return TileFile(versioned[1], versioned[0]).__of__(image)
    if name.startswith("TileGroup"):
        tile = take_tile_name(REQUEST, name)
        if tile is not None:
            return TileFile(tile).__of__(image)
        return TileGroup(name).__of__(image)
    if name == "iiif":
        return IIIFService().__of__(image)
    if name == "iiif-preview":
        return PreviewService().__of__(image)
    if name == REDUCED_NAME:  # what may be downloaded without the original
        return ReducedDownload().__of__(image)
    if name == "manifest.json":
        return Manifest().__of__(image)
    if name == "about.json":
        return About().__of__(image)
    raise UseTraversalDefault
