"""HTTP serving of an image's tiles and original: the published tile
objects, conditional requests (304) and byte ranges."""

import email.utils
import os

from AccessControl.class_init import InitializeClass
from AccessControl.Permissions import view as View
from AccessControl.SecurityInfo import ClassSecurityInfo
from Acquisition import Implicit
from zExceptions import NotFound
from zope.interface import implementer
from ZPublisher import zpublish
from ZPublisher.Iterators import IStreamIterator

from .interfaces import IZoomifyImage

CHUNK = 1 << 18


@implementer(IStreamIterator)
class FileRange:
    """Streams bytes [start, end) of a file, in chunks."""

    def __init__(self, path, start=0, end=None):
        self.file = open(path, "rb")
        self.file.seek(start)
        if end is None:
            end = os.fstat(self.file.fileno()).st_size
        self.left = end - start
        self.length = self.left

    def __iter__(self):
        return self

    def __next__(self):
        if self.left <= 0:
            self.file.close()
            raise StopIteration
        data = self.file.read(min(CHUNK, self.left))
        if not data:
            self.file.close()
            raise StopIteration
        self.left -= len(data)
        return data

    def __len__(self):
        return self.length

    def close(self):
        self.file.close()


class _TileBase(Implicit):
    """Published sub-objects of an image: the View permission of the image
    (acquired through the wrapper) guards them; each subclass declares
    it for itself, as InitializeClass reads a class's own security."""

    def __init__(self, name):
        self.name = name  # a tile name, relative to the image

    def _image(self):
        parent = self.aq_parent
        return parent if IZoomifyImage.providedBy(parent) else \
            parent.aq_parent


@zpublish
class TileGroup(_TileBase):
    """A TileGroupN folder of an image."""

    security = ClassSecurityInfo()
    security.declareObjectProtected(View)

    def __bobo_traverse__(self, REQUEST, name):
        return TileFile(self.name + "/" + name).__of__(self)

    @security.protected(View)
    @zpublish
    def index_html(self, REQUEST=None, RESPONSE=None):
        """No listing of tile groups."""
        raise NotFound(self.name)


InitializeClass(TileGroup)


@zpublish
class TileFile(_TileBase):
    """One tile, or ImageProperties.xml."""

    security = ClassSecurityInfo()
    security.declareObjectProtected(View)

    @security.protected(View)
    @zpublish
    def index_html(self, REQUEST=None, RESPONSE=None):
        """The tile's bytes."""
        return self._image()._serve_tile(self.name, REQUEST, RESPONSE)

    @security.protected(View)
    @zpublish
    def HEAD(self, REQUEST=None, RESPONSE=None):
        """Headers only."""
        return self._image()._serve_tile(self.name, REQUEST, RESPONSE)


InitializeClass(TileFile)


def http_date(timestamp):
    return email.utils.formatdate(timestamp or 0, usegmt=True)


def not_modified(REQUEST, etag, modified):
    match = REQUEST.get_header("If-None-Match", "")
    if match:
        tags = [t.strip() for t in match.split(",")]
        tags = [t[2:] if t.startswith("W/") else t for t in tags]
        return "*" in tags or etag in tags
    since = REQUEST.get_header("If-Modified-Since", "")
    if since:
        try:
            when = email.utils.parsedate_to_datetime(since.split(";")[0])
        except (TypeError, ValueError, IndexError):
            return False
        return int(modified) <= when.timestamp()
    return False


def parse_range(header, size):
    """(start, end) of a single 'bytes=a-b' range, None, or 'invalid'."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None  # no range, or several: send it all
    spec = header[6:].strip()
    first, _, last = spec.partition("-")
    try:
        if first == "":
            length = int(last)
            if length <= 0:
                return "invalid"
            return (max(0, size - length), size)
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start >= size or end <= start:
        return "invalid"
    return (start, min(end, size))
