"""The streaming pyramid: rows in, tiles out.

Each tier keeps a buffer of ``tile_size`` rows of its own width. Rows go
into the full-size tier; as soon as a pair of rows is in a tier, a job on
the encoder's pool shrinks it 2x into the tier below, so the shrinking runs
beside the decoding instead of after it. Whenever a tier's buffer is full
(or the tier's last row is in) its row of tiles goes to the encoder and
the buffer starts again at the top. Memory is about 2 x width x tile_size
x 3 bytes for colour, whatever the image's height; 3 x for a source that
decodes on a thread of its own, whose full-size tier has a second buffer
to write into while the tiles of the first are cut (build_tiers). It
grows with the width without bound: ``pyramid_bytes`` says what the
buffers of a layout take before any is made (budget.py checks it).

A buffer is our own bytearray: colour rows packed, 3 bytes a pixel
(buffers.PackedRGB; where the pillow engine converts rows with Pillow,
its top tier is a Pillow image in mode "RGBX", Pillow's own layout), grey
rows a Pillow image in mode "L".
The source writes rows straight into the top tier's memory; the jobs cut
tiles from a buffer and shrink it into the tier below with boxmean.py
(_boxmean.c, or numpy where it is not built), which reads and writes the
buffers in place (Pillow's reduce needed the packed rows unpacked and
packed again, over three times the CPU: benchmarks/README.txt, note
boxmean-c).
All the bookkeeping stays on the calling thread: a job only reads rows
that are complete, or waits for the jobs that write them (``writers``),
and a buffer is written again only once every job that reads it has
finished (``wait_free``): no copies.
"""

from .boxmean import shrink
from .buffers import PIXEL_BYTES
from .buffers import PackedRGB
from .buffers import image_on


class Tier:
    def __init__(self, index, width, height, mode, tile_size, encoder,
                 name, below=None, buffers=1):
        # buffers: as tier_plan says (no more than the rows of tiles)
        self.index = index
        self.width = width
        self.height = height
        self.mode = mode
        self.tile_size = tile_size
        self.encoder = encoder
        self.name = name          # name(tier, col, row) of a tile
        self.below = below
        self.bpp = PIXEL_BYTES[mode]
        self.line = width * self.bpp            # bytes per row
        # a tier lower than a tile needs no more rows than it has
        self.rows = min(tile_size, height)
        self.memory, self.buffer, self.pixels = self._new_buffer()
        # the other buffers, each with the jobs that still read it
        self.spare = [(self._new_buffer(), []) for _ in range(buffers - 1)]
        self.fill = 0             # rows in the buffer
        self.shrunk = 0           # rows of the buffer sent to the tier below
        self.received = 0         # rows received in all
        self.tile_row = 0
        self.readers = []         # jobs that read the buffer
        self.writers = []         # jobs that write rows into the buffer

    def _new_buffer(self):
        """(memory, buffer, pixels) for one row of tiles."""
        memory = bytearray(self.line * self.rows)
        if self.mode == "RGB":
            buffer = PackedRGB(memory, self.width)
        else:
            buffer = image_on(memory, self.mode, self.width, self.rows)
        pixels = None
        if self.encoder.arrays:   # the tiles are encoded from a numpy view
            import numpy as np
            pixels = np.frombuffer(memory, np.uint8).reshape(
                self.rows, self.width, PIXEL_BYTES[self.mode])
        return memory, buffer, pixels

    def wait_free(self):
        """Wait until no job reads the buffer any more."""
        if self.readers:
            self.encoder.wait(self.readers)
            self.readers = []
            self.writers = []    # they came before the readers

    def space(self, rows):
        """(memory, n): where the next n <= rows rows go, once free."""
        if self.fill == 0:
            self.wait_free()
        n = min(rows, self.tile_size - self.fill, self.height - self.received)
        start = self.fill * self.line
        return memoryview(self.memory)[start:start + n * self.line], n

    def written(self, n, writers=()):
        """n rows are in the memory that space() gave (or will be, once the
        jobs ``writers`` have run)."""
        self.writers.extend(writers)
        self.fill += n
        self.received += n
        last = self.received == self.height
        if self.below is not None:
            self._shrink()
        if self.fill == self.tile_size or last:
            self._flush()

    def _shrink(self):
        """Send the complete pairs of rows not yet shrunk to the tier below
        (floor: an odd last row of the tier is dropped)."""
        below = self.below
        while below.received < below.height:
            pairs = (self.fill - self.shrunk) // 2
            if pairs == 0:
                return
            # one job shrinks up to a quarter of a tile of rows: a job
            # per row pair cost more than the shrinking at width 30000
            # (5,000 jobs for the top tier, each a future and a handover
            # of the GIL)
            n = below.space(min(pairs, self.tile_size // 4))[1]
            job = self.encoder.call(shrink_rows, self, self.memory,
                                    self.shrunk, n, below, below.memory,
                                    below.fill, list(self.writers))
            self.readers.append(job)
            self.shrunk += 2 * n
            below.written(n, [job])

    def _flush(self):
        t = self.tile_size
        tiles = []
        for col, left in enumerate(range(0, self.width, t)):
            tiles.append((self.name(self.index, col, self.tile_row),
                          (left, 0, min(left + t, self.width), self.fill)))
        self.readers.extend(self.encoder.submit(self.buffer, tiles,
                                                list(self.writers),
                                                self.pixels))
        self.tile_row += 1
        self.fill = self.shrunk = 0
        if self.spare:
            # the next row of tiles goes into another buffer while the
            # jobs still cut and shrink this one
            self.spare.append(((self.memory, self.buffer, self.pixels),
                               self.readers))
            (self.memory, self.buffer, self.pixels), self.readers = \
                self.spare.pop(0)
            self.writers = []


def shrink_rows(tier, source, top, pairs, below, target, at, writers):
    """(A job) 2x2 box mean of ``pairs`` row pairs of ``tier``'s buffer
    ``source`` from row ``top`` into the buffer ``target`` of the tier
    ``below`` from row ``at`` (the buffers are named: a tier's current
    buffer changes while the job waits)."""
    for job in writers:
        job.result()
    shrink(source, tier.line, tier.bpp, top, target, below.line, below.bpp,
           at, pairs, below.width)


def tier_plan(layout, mode, top_buffers=1):
    """(index, width, height, mode, buffers) of each tier that build_tiers
    makes, smallest first: the one description of the buffers, that
    pyramid_bytes counts before any is made.

    ``mode`` is the source's layout of rows ("L", "RGB" packed or
    "RGBX"); the smaller tiers are "L" or "RGB" packed (a quarter less
    memory than "RGBX"). With ``top_buffers=2`` the full-size tier has
    two buffers, so that a source that decodes beside the encoder (on its
    own thread) goes on into the second while the tiles of the first are
    cut: one more row of tiles in memory, for a decoder that never waits
    (not where the tier has one row of tiles: a wide panorama).

    Tiers with a zero side (a very thin image) have no tiles and are left
    out: they are always the smallest ones, so the chain simply ends above
    them.
    """
    top = layout.num_tiers - 1
    for index, (w, h) in enumerate(layout.tiers):
        if w and h:
            tier_mode = mode if index == top or mode == "L" else "RGB"
            buffers = top_buffers if index == top else 1
            rows_of_tiles = -(-h // layout.tile_size)
            yield index, w, h, tier_mode, min(buffers, rows_of_tiles)


def pyramid_bytes(layout, mode, top_buffers=1):
    """Bytes of the buffers of every tier that build_tiers would make."""
    return sum(w * min(layout.tile_size, h) * PIXEL_BYTES[m] * buffers
               for _, w, h, m, buffers in tier_plan(layout, mode,
                                                     top_buffers))


def build_tiers(layout, mode, encoder, top_buffers=1):
    """The chain of tiers (tier_plan); returns the full-size one."""
    below = None
    for index, w, h, tier_mode, buffers in tier_plan(layout, mode,
                                                     top_buffers):
        below = Tier(index, w, h, tier_mode, layout.tile_size, encoder,
                     layout.tile_name, below, buffers=buffers)
    return below
