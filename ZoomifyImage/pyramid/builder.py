"""The streaming pyramid: bands of rows in, tiles out.

Each tier keeps one buffer of ``tile_size`` rows of its own width. Rows go
into the full-size tier; whenever a tier's buffer is full (or the tier's
last row has arrived) it cuts one row of tiles from it, shrinks those rows
2x into the tier below and empties the buffer. Memory is about
2 x width x tile_size x channels bytes, whatever the image's height.
"""

import numpy as np


def shrink(rows, width):
    """2x2 box mean of a (2n, >=2*width, c) array -> (n, width, c), rounded.

    With the floor rule an odd last column is dropped; the caller passes an
    even number of rows.
    """
    n = len(rows) // 2
    c = rows.shape[2]
    # sum row pairs first (each row is contiguous: fast), then column pairs
    pairs = np.add(rows[0::2, :2 * width], rows[1::2, :2 * width],
                   dtype=np.uint16)
    pairs = pairs.reshape(n, width, 2, c)
    total = pairs[:, :, 0]
    total += pairs[:, :, 1]
    total += 2
    total >>= 2
    return total.astype(np.uint8)


class Tier:
    def __init__(self, index, width, height, channels, tile_size, emit,
                 below=None):
        self.index = index
        self.width = width
        self.height = height
        self.tile_size = tile_size
        self.emit = emit          # emit(tier, col, row, pixels)
        self.below = below
        self.buffer = np.empty((tile_size, width, channels), dtype=np.uint8)
        self.fill = 0             # rows in the buffer
        self.received = 0         # rows received in all
        self.tile_row = 0
        self.carry = None         # an odd row waiting for its pair

    def push(self, rows):
        """Take full-width rows of this tier, top to bottom."""
        i, n = 0, len(rows)
        while i < n:
            k = min(self.tile_size - self.fill, n - i)
            self.buffer[self.fill:self.fill + k] = rows[i:i + k]
            self.fill += k
            self.received += k
            i += k
            if self.fill == self.tile_size or self.received == self.height:
                self._flush()

    def _flush(self):
        band = self.buffer[:self.fill]
        t = self.tile_size
        for col, left in enumerate(range(0, self.width, t)):
            right = min(left + t, self.width)
            # a copy: the buffer is refilled while the tile is being encoded
            self.emit(self.index, col, self.tile_row,
                      band[:, left:right].copy())
        if self.below is not None:
            self.below.push_from_above(band)
        self.tile_row += 1
        self.fill = 0

    def push_from_above(self, rows):
        """Take rows of the tier above; shrink them 2x into this tier."""
        if self.carry is not None:
            rows = np.concatenate([self.carry, rows])
            self.carry = None
        pairs = min(len(rows) // 2, self.height - self.received)
        if pairs <= 0:
            return
        if len(rows) % 2:
            self.carry = rows[-1:].copy()
        self.push(shrink(rows[:2 * pairs], self.width))


def build_tiers(layout, channels, emit):
    """The chain of tiers; returns the full-size one.

    Tiers with a zero side (a very thin image) have no tiles and are left
    out: they are always the smallest ones, so the chain simply ends above
    them.
    """
    below = None
    for index, (w, h) in enumerate(layout.tiers):
        if w and h:
            below = Tier(index, w, h, channels, layout.tile_size, emit, below)
    return below
