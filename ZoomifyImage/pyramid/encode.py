"""JPEG encoding of tiles on a bounded pool of threads.

Pillow's JPEG encoder releases the GIL, so the threads use every core. The
queue of tiles waiting to be encoded is bounded (memory stays flat) and
the encoded tiles reach the sink in the order they were cut, always from
the thread that drives the tiler (sinks such as a ZODB connection are not
thread-safe).
"""

import io
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor



def encode_jpeg(image, quality):
    """A tile image (L, RGB or RGBX) -> JPEG bytes."""
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


class TileEncoder:
    """Takes (name, tile image); encodes in threads; puts bytes into the sink."""

    def __init__(self, sink, quality, threads=None, progress=None, total=0):
        self.sink = sink
        self.quality = quality
        self.threads = threads or os.cpu_count() or 1
        self.pool = ThreadPoolExecutor(self.threads,
                                       thread_name_prefix="zoomify-encode")
        self.pending = deque()
        self.limit = 8 * self.threads
        self.progress = progress
        self.total = total
        self.done = 0
        self.bytes = 0

    def submit(self, name, image):
        future = self.pool.submit(encode_jpeg, image, self.quality)
        self.pending.append((name, future))
        while len(self.pending) > self.limit:
            self._store_oldest()

    def _store_oldest(self):
        name, future = self.pending.popleft()
        data = future.result()
        self.sink.put(name, data)
        self.done += 1
        self.bytes += len(data)
        if self.progress is not None:
            self.progress(self.done, self.total)

    def finish(self):
        while self.pending:
            self._store_oldest()
        self.pool.shutdown()

    def cancel(self):
        for name, future in self.pending:
            future.cancel()
        self.pending.clear()
        self.pool.shutdown()
