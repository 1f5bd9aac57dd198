"""JPEG encoding of tiles on a pool of threads.

Pillow's JPEG encoder and its crop release the GIL, so the threads use
every core. A job is a run of tiles of one tile row: the thread cuts each
tile from the tier's buffer and encodes it, so the thread that drives the
tiler does little per tile (less Python, less waiting for the GIL). The
encoded tiles reach the sink in the order they were cut, always from the
thread that drives the tiler (sinks such as a ZODB connection are not
thread-safe).
"""

import io
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

TILES_PER_JOB = 8  # few enough futures; small enough to share out evenly


def encode_jpeg(image, quality):
    """A tile image (L, RGB or RGBX) -> JPEG bytes."""
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def encode_tiles(image, boxes, quality):
    """Cut tiles from an image and encode them (in a pool thread)."""
    return [encode_jpeg(image.crop(box), quality) for box in boxes]


class TileEncoder:
    """Encodes rows of tiles in threads; puts the bytes into the sink."""

    def __init__(self, sink, quality, threads=None, progress=None, total=0):
        self.sink = sink
        self.quality = quality
        self.threads = threads or os.cpu_count() or 1
        self.pool = ThreadPoolExecutor(self.threads,
                                       thread_name_prefix="zoomify-encode")
        self.pending = deque()    # (names, future), oldest first
        self.progress = progress
        self.total = total
        self.done = 0
        self.bytes = 0

    def submit(self, image, tiles):
        """Encode (name, box) tiles cut from ``image``; returns the jobs.

        ``image`` must not change until wait() on the jobs has returned.
        """
        size = max(1, min(TILES_PER_JOB, -(-len(tiles) // self.threads)))
        jobs = []
        for i in range(0, len(tiles), size):
            chunk = tiles[i:i + size]
            future = self.pool.submit(encode_tiles, image,
                                      [box for _, box in chunk], self.quality)
            self.pending.append(([name for name, _ in chunk], future))
            jobs.append(future)
        self.drain()
        return jobs

    def wait(self, jobs):
        """Store tiles, oldest first, until every one of ``jobs`` is done."""
        for job in jobs:
            # the pool runs jobs in the order they came, so waiting for the
            # oldest first loses no time
            while not job.done():
                self._store_oldest()
        self.drain()

    def drain(self):
        """Store the tiles that are ready, without waiting."""
        while self.pending and self.pending[0][1].done():
            self._store_oldest()

    def _store_oldest(self):
        names, future = self.pending.popleft()
        for name, data in zip(names, future.result()):
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
        for names, future in self.pending:
            future.cancel()
        self.pending.clear()
        self.pool.shutdown()
