from zope.interface import Attribute, Interface


class IZoomifyImage(Interface):
    """A high-resolution image served as Zoomify tiles."""

    width = Attribute("width of the full image in pixels")
    height = Attribute("height of the full image in pixels")
    storage = Attribute("'zodb' or 'filesystem'")
    status = Attribute("'empty', 'ready' or 'failed'")


class ITileStore(Interface):
    """Where the tiles of one image live.

    A new tile set is written through ``writer()``; it replaces the current
    set only when the transaction commits, so readers never see a half
    built set and an aborted transaction leaves the old one in place.
    """

    def writer():
        """A sink (put(name, data), finish(), abort()) for a new set."""

    def get(name):
        """The tile's bytes or an open file, or None when missing."""

    def size(name):
        """Bytes of a tile, or None when missing."""

    def names():
        """Names of all tiles (and ImageProperties.xml) of the set."""

    def copy_from(other):
        """Replace this store's set with a copy of another store's set."""

    def clear():
        """Remove the set (when the transaction commits)."""
