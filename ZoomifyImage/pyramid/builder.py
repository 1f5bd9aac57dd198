"""The streaming pyramid: rows in, tiles out.

Each tier keeps one buffer of ``tile_size`` rows of its own width. Rows go
into the full-size tier; whenever a tier's buffer is full (or the tier's
last row has arrived) it hands one row of tiles to the encoder, shrinks
those rows 2x into the tier below and starts again at the top of its
buffer. Memory is about 2 x width x tile_size x 4 bytes, whatever the
image's height.

A buffer is our own bytearray seen as a Pillow image in mode "RGBX"
(Pillow's own layout for colour pixels) or "L". The source writes rows
straight into the top tier's memory, the encoder threads cut their tiles
from a buffer while the next steps go on, and the 2x2 box mean
(Image.reduce, about three times faster than numpy here) reads it in place.
A buffer is written again only once the encoder has finished with the
tiles of its last row (``wait_free``): one buffer per tier, no copies.
"""

from PIL import Image

from .sources import image_on


class Tier:
    def __init__(self, index, width, height, mode, tile_size, encoder,
                 name, below=None):
        self.index = index
        self.width = width
        self.height = height
        self.mode = mode
        self.tile_size = tile_size
        self.encoder = encoder
        self.name = name          # name(tier, col, row) of a tile
        self.below = below
        self.line = width * (1 if mode == "L" else 4)   # bytes per row
        self.memory = bytearray(self.line * tile_size)
        self.buffer = image_on(self.memory, mode, width, tile_size)
        self.fill = 0             # rows in the buffer
        self.received = 0         # rows received in all
        self.tile_row = 0
        self.carry = None         # an odd row waiting for its pair
        self.jobs = []            # encoder jobs still reading the buffer

    def wait_free(self):
        """Wait until no encoder job reads the buffer any more."""
        if self.jobs:
            self.encoder.wait(self.jobs)
            self.jobs = []

    def space(self, rows):
        """(memory, n): where the next n <= rows rows go, once free."""
        self.wait_free()
        n = min(rows, self.tile_size - self.fill, self.height - self.received)
        start = self.fill * self.line
        return memoryview(self.memory)[start:start + n * self.line], n

    def written(self, n):
        """n rows were written into the memory that space() gave."""
        self.fill += n
        self.received += n
        if self.fill == self.tile_size or self.received == self.height:
            self._flush()

    def push(self, rows):
        """Take an image of full-width rows of this tier, top to bottom."""
        i, n = 0, rows.size[1]
        while i < n:
            _, k = self.space(n - i)
            part = rows if (i, k) == (0, n) else rows.crop(
                (0, i, self.width, i + k))
            self.buffer.paste(part, (0, self.fill))
            i += k
            self.written(k)

    def _flush(self):
        t = self.tile_size
        tiles = []
        for col, left in enumerate(range(0, self.width, t)):
            tiles.append((self.name(self.index, col, self.tile_row),
                          (left, 0, min(left + t, self.width), self.fill)))
        # the encoder starts on the tiles while this thread shrinks
        self.jobs = self.encoder.submit(self.buffer, tiles)
        if self.below is not None:
            self.below.push_from_above(self.buffer, self.fill)
        self.tile_row += 1
        self.fill = 0

    def push_from_above(self, image, rows):
        """Take the first ``rows`` rows of an image of the tier above and
        shrink them 2x into this tier (floor: an odd last row or column of
        the tier above is dropped)."""
        if self.carry is not None:
            joined = Image.new(self.mode, (image.size[0], rows + 1))
            joined.paste(self.carry, (0, 0))
            joined.paste(image.crop((0, 0, image.size[0], rows)), (0, 1))
            image, rows = joined, rows + 1
            self.carry = None
        pairs = min(rows // 2, self.height - self.received)
        if pairs <= 0:
            return
        if rows % 2 and pairs < self.height - self.received:
            self.carry = image.crop((0, rows - 1, image.size[0], rows))
        # in pieces: a small temporary image instead of one of half the
        # buffer (7.7 MB at width 30000), for the same speed
        step = max(1, self.tile_size // 8)
        for first in range(0, pairs, step):
            last = min(pairs, first + step)
            self.push(image.reduce(2, box=(0, 2 * first, 2 * self.width,
                                           2 * last)))


def build_tiers(layout, mode, encoder):
    """The chain of tiers; returns the full-size one.

    Tiers with a zero side (a very thin image) have no tiles and are left
    out: they are always the smallest ones, so the chain simply ends above
    them.
    """
    below = None
    for index, (w, h) in enumerate(layout.tiers):
        if w and h:
            below = Tier(index, w, h, mode, layout.tile_size, encoder,
                         layout.tile_name, below)
    return below
