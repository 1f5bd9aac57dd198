from zope.interface import Attribute
from zope.interface import Interface


class IZoomifyImage(Interface):
    """A high-resolution image served as Zoomify tiles."""

    width = Attribute("width of the full image in pixels")
    height = Attribute("height of the full image in pixels")
    storage = Attribute("'zodb' or 'filesystem'")
    status = Attribute("'empty', 'ready' or 'failed'")


class ITileSink(Interface):
    """Where the tiler puts what it makes (pyramid/tiler.py): every tile
    and ImageProperties.xml by name ("TileGroup0/0-0-0.jpg"), then
    finish() on success or abort() on failure. Nothing written may be
    visible as a tile set before finish(); after abort() the destination
    is as it was."""

    def put(name, data):
        """Store the bytes of one tile (or of ImageProperties.xml)."""

    def file_for(name):
        """A path the encoder threads may write the tile to themselves, or
        None: then put() is called with the bytes."""

    def finish():
        """The set is complete: make it the one served (a Zope store: when
        the transaction commits)."""

    def abort():
        """Forget the set being written."""


class ITileStore(Interface):
    """Where the tiles of one image live.

    A new tile set is written through ``writer()`` (an ITileSink); it
    replaces the current set only when the transaction commits, so
    readers never see a half built set and an aborted transaction leaves
    the old one in place.
    """

    kind = Attribute("'zodb' or 'filesystem'")
    set_id = Attribute("the id of the set served (ETag, ?v=), or None")

    def writer():
        """An ITileSink for a new set."""

    def get(name):
        """The tile's bytes, or None when missing."""

    def size(name):
        """Bytes of a tile, or None when missing."""

    def names():
        """Names of all tiles (and ImageProperties.xml) of the set."""

    def copy_from(other):
        """Replace this store's set with a copy of another store's set."""

    def clear():
        """Let go of the set (when the transaction commits)."""


# the tiler's own sinks: declared here, as the tiler imports nothing of
# Zope's (zope.interface included)
def _declare_pyramid_sinks():
    from zope.interface import classImplements

    from .pyramid.sinks import DirectorySink
    from .pyramid.sinks import MemorySink
    classImplements(DirectorySink, ITileSink)
    classImplements(MemorySink, ITileSink)


_declare_pyramid_sinks()
