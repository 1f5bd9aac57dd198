"""A band source that decodes bands ahead, into buffers of its own.

The pyramid's top buffer is free for new rows only once the tiles cut
from it are encoded; a decoder that wrote straight into it would wait for
that, and decode and encode would take turns (each turn then waits for
its slowest thread). Decoding the next
band into our own buffer on pool threads, while the pyramid encodes the
band before, keeps both going; handing a band over is one copy.

Engines that read regions (tiff, jp2, slide) subclass AheadSource and
say how to decode band ``index`` into an array: ``band_jobs``. (The tiff
engine reads most files another way, without a band of its own: see
tiff.py, read_jobs; this costs a band of memory and one copy.) A band
that is one job (a TIFF strip) keeps one thread busy: such engines set
``depth`` to decode that many bands at once, a buffer each.
"""

from concurrent.futures import ThreadPoolExecutor

from .base import BandSource


class AheadSource(BandSource):

    MODES = {1: "L", 3: "RGB"}   # packed rows, as numpy makes them
    arrays = True                # numpy is loaded: tiles from arrays
    band = 256                   # rows of one of our bands
    threads = 1                  # pool threads that decode
    depth = 1                    # bands decoding at once

    pool = row = None
    row_index = -1

    def band_jobs(self, index, out):
        """Callables that decode band ``index`` into ``out`` (an array of
        its rows x width x channels), run on the pool."""
        raise NotImplementedError

    def band_rows(self, tile_size):
        return min(tile_size, self.band)

    def buffer_bytes(self, tile_size):
        # the bands decoding ahead, a buffer each
        return (self.depth * min(self.band, self.height) * self.width
                * self.channels)

    def read_into(self, memory, top, rows):
        import numpy as np
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.threads,
                                           thread_name_prefix="zoomify-"
                                           + self.engine)
            self.buffers = [None] * self.depth
            self.ahead = {}          # index: (rows, jobs) of bands started
            for index in range(top // self.band,
                               top // self.band + self.depth):
                self._start(index)
        out = np.frombuffer(memory, np.uint8).reshape(
            rows, self.width, self.channels)
        y = top
        while y < top + rows:
            index, offset = divmod(y, self.band)
            if index != self.row_index:
                self._take(index)
            n = min(top + rows - y, self.row.shape[0] - offset)
            out[y - top:y - top + n] = self.row[offset:offset + n]
            y += n
            if offset + n == self.row.shape[0]:
                # this band is used up: its buffer takes the next one
                self.row = None
                self._start(index + self.depth)

    def _start(self, index):
        """Start decoding band ``index`` into its buffer."""
        import numpy as np
        top = index * self.band
        if top >= self.height or index in self.ahead:
            return
        slot = index % self.depth
        if self.buffers[slot] is None:
            self.buffers[slot] = np.empty(
                (self.band, self.width, self.channels), np.uint8)
        out = self.buffers[slot][:min(self.band, self.height - top)]
        self.ahead[index] = (out, [self.pool.submit(job) for job in
                                   self.band_jobs(index, out)])

    def _take(self, index):
        """Wait for band ``index`` (started now if it was not)."""
        if index not in self.ahead:
            self._finish()     # rows asked out of order: start afresh
            self._start(index)
        out, jobs = self.ahead.pop(index)
        for job in jobs:
            job.result()
        self.row, self.row_index = out, index

    def _finish(self):
        """Let the bands decoding ahead run out (they write into the
        buffers)."""
        for out, jobs in getattr(self, "ahead", {}).values():
            for job in jobs:
                job.cancel()
            for job in jobs:
                if not job.cancelled():
                    job.exception()
        self.ahead = {}

    def close(self):
        self._finish()
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None
        self.row = None
        self.buffers = []
