from zope.interface import Interface

from ..interfaces import IDeepZoomImage
from ..interfaces import ITileable


class IZoomifyImageItem(IDeepZoomImage, ITileable):
    """The Dexterity item (content.py): the deep-zoom face serving, IIIF
    and the jobs know, plus what its events (events.py) call."""

    def needs_tiles():
        """A new original, quality or tile storage since the last cut."""

    def tile_if_needed(background=None):
        """Tile now or queue a background job, if needs_tiles()."""

    def copied():
        """A fresh copy: its own uid and tile set."""

    def removed():
        """Deleted: its filesystem tiles go (after the sweep's wait)."""

    def original_file():
        """The path of the original's committed file, or None."""


class IZoomifyImageLayer(Interface):
    """The browser layer of the add-on (browserlayer.xml): its views and
    scales are there only where the profile is installed."""
