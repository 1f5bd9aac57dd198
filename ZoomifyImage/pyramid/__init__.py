"""The Zoomify tiler: pure Python, nothing from Zope.

    from ZoomifyImage.pyramid import tile_image, DirectorySink
    tile_image("big.tif", DirectorySink("out/big"))
"""

from .errors import DamagedImage  # noqa: F401
from .errors import TilingError  # noqa: F401
from .layout import Layout  # noqa: F401
from .layout import image_properties_xml  # noqa: F401
from .sinks import DirectorySink  # noqa: F401
from .sinks import MemorySink  # noqa: F401
from .sinks import TileSink  # noqa: F401
from .sources import open_source  # noqa: F401
from .sources import vips_available  # noqa: F401
from .tiler import TilingResult  # noqa: F401
from .tiler import read_size  # noqa: F401
from .tiler import tile_image  # noqa: F401
