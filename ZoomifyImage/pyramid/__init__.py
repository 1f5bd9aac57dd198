"""The Zoomify tiler: pure Python, nothing from Zope.

    from ZoomifyImage.pyramid import tile_image, DirectorySink
    tile_image("big.tif", DirectorySink("out/big"))
"""

from .errors import DamagedImage, TilingError  # noqa: F401
from .layout import Layout, image_properties_xml  # noqa: F401
from .sinks import DirectorySink, MemorySink, TileSink  # noqa: F401
from .sources import open_source, vips_available  # noqa: F401
from .tiler import TilingResult, read_size, tile_image  # noqa: F401
