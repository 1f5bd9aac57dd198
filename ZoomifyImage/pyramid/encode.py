"""JPEG encoding of tiles (and the pyramid's other jobs) on a pool of
threads.

A job is a run of tiles of one tile row: the thread cuts each tile from
the tier's buffer and encodes it, so the thread that drives the tiler does
little per tile. A sink whose tiles are files names each tile's path
beforehand and the threads write the files themselves; other sinks get
the encoded tiles in the order they were cut, always from the thread that
drives the tiler (sinks such as a ZODB connection are not thread-safe).
"""

import os
import tempfile
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from .errors import TilingError

TILES_PER_JOB = 8  # few enough futures; small enough to share out evenly

_scratch = threading.local()


def jpeg_options(quality):
    """Pillow's save options for a tile. At 90 and above the user asks for
    fidelity: every chroma sample is kept, as libvips does (4:2:0 halves
    the colour resolution: a one-pixel hue ramp drops from 48.8 to 28.5 dB
    at Q92); below, 4:2:0 keeps the tiles small."""
    if quality >= 90:
        return {"quality": quality, "subsampling": 0}
    return {"quality": quality}


def encode_jpeg(image, quality):
    """A tile image (L, RGB or RGBX) -> JPEG bytes.

    Pillow holds the GIL while it encodes into a BytesIO, but lets it go
    while it writes to a real file, so each thread encodes into a file of
    its own in memory and reads the bytes back: two threads then encode
    more tiles a second than one, instead of fewer (benchmarks/README.txt,
    note encode-file).
    """
    out = getattr(_scratch, "file", None)
    if out is None:
        out = _scratch.file = scratch_file()
    out.seek(0)
    out.truncate()
    image.save(out, "JPEG", **jpeg_options(quality))
    return os.pread(out.fileno(), out.tell(), 0)


def save_jpeg(image, quality, path):
    """Write a tile image straight to its file; returns the size."""
    try:
        with open(path, "wb", buffering=0) as out:
            image.save(out, "JPEG", **jpeg_options(quality))
            return out.tell()
    except OSError as e:
        raise TilingError(path, "cannot write the tile (%s)"
                          % (e.strerror or e)) from e


def scratch_file():
    if hasattr(os, "memfd_create"):
        return open(os.memfd_create("zoomify-tile"), "w+b", buffering=0)
    return tempfile.TemporaryFile(buffering=0)


def array_encoder():
    """imagecodecs' JPEG encoder (libjpeg-turbo, as Pillow's), or None
    where imagecodecs is not installed."""
    try:
        from imagecodecs import JPEG8
        from imagecodecs import jpeg8_encode
    except ImportError:
        return None
    return jpeg8_encode, JPEG8.CS.EXT_RGBX


def encode_array(pixels, quality):
    """A tile's pixels (a numpy view of a tier's rows: grey, packed RGB
    or RGBX) -> JPEG bytes, with the settings of jpeg_options().

    The encoder reads the rows where they are (any row stride) and lets
    go of the GIL while it works: no tile image is made. Cutting a tile
    of packed RGB into a Pillow image (unpacked to 4 bytes a pixel) cost
    about as much as encoding it (benchmarks/README.txt, note
    encode-array)."""
    encode, rgbx = _array_encoder
    options = {"level": quality,
               "subsampling": "444" if quality >= 90 else "420"}
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        options["colorspace"] = rgbx
        options["outcolorspace"] = "YCBCR"
    elif pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    return encode(contiguous(pixels), **options)


def contiguous(pixels):
    """The tile's pixels copied into this thread's scratch memory, one
    block: libjpeg then reads rows that follow each other instead of rows
    a tier's width apart, which is slower than the copy
    (benchmarks/README.txt, note encode-block)."""
    import numpy as np
    size = pixels.size
    scratch = getattr(_scratch, "pixels", None)
    if scratch is None or scratch.size < size:
        scratch = _scratch.pixels = np.empty(size, np.uint8)
    block = scratch[:size].reshape(pixels.shape)
    np.copyto(block, pixels)
    return block


_array_encoder = None


def write_tile(data, path):
    try:
        with open(path, "wb", buffering=0) as out:
            out.write(data)
    except OSError as e:
        raise TilingError(path, "cannot write the tile (%s)"
                          % (e.strerror or e)) from e
    return len(data)


def encode_tiles(image, boxes, paths, quality, writers, pixels=None):
    """Cut tiles from an image and encode them (in a pool thread), once
    the jobs that write its rows have run: into their files where the
    sink gave paths (their sizes are returned), else as bytes. With
    ``pixels`` (a numpy view of the image's rows) the tiles are encoded
    from it by encode_array()."""
    for job in writers:
        job.result()
    if pixels is not None:
        out = []
        for (left, top, right, bottom), path in zip(boxes, paths):
            data = encode_array(pixels[top:bottom, left:right], quality)
            out.append(write_tile(data, path) if path else data)
        return out
    return [save_jpeg(image.crop(box), quality, path) if path
            else encode_jpeg(image.crop(box), quality)
            for box, path in zip(boxes, paths)]


class TileEncoder:
    """Encodes rows of tiles in threads; puts the bytes into the sink."""

    def __init__(self, sink, quality, threads=None, progress=None, total=0,
                 arrays=False):
        global _array_encoder
        self.sink = sink
        # tiles encoded from numpy views of the tiers (encode_array) where
        # the caller asks for it and imagecodecs is there
        if arrays and _array_encoder is None:
            _array_encoder = array_encoder()
        self.arrays = bool(arrays and _array_encoder)
        self.quality = quality
        self.threads = threads or os.cpu_count() or 1
        self.pool = ThreadPoolExecutor(self.threads,
                                       thread_name_prefix="zoomify-encode")
        self.pending = deque()    # (names, future), oldest first
        self.progress = progress
        self.total = total
        self.done = 0
        self.bytes = 0

    def submit(self, image, tiles, writers=(), pixels=None):
        """Encode (name, box) tiles cut from ``image`` (or from
        ``pixels``, its rows as a numpy array, where self.arrays) once
        the jobs ``writers`` have run; returns the jobs.

        ``image`` must not change until wait() on the jobs has returned.
        """
        size = max(1, min(TILES_PER_JOB, -(-len(tiles) // self.threads)))
        jobs = []
        for i in range(0, len(tiles), size):
            chunk = tiles[i:i + size]
            future = self.pool.submit(encode_tiles, image,
                                      [box for _, box in chunk],
                                      [self.sink.file_for(name)
                                       for name, _ in chunk],
                                      self.quality, writers, pixels)
            self.pending.append(([name for name, _ in chunk], future))
            jobs.append(future)
        self.drain()
        return jobs

    def call(self, function, *args):
        """Run another job on the pool (one that stores no tiles); its
        errors come out like an encoding error."""
        future = self.pool.submit(function, *args)
        self.pending.append(((), future))
        return future

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
        for name, data in zip(names, future.result() or ()):
            if isinstance(data, int):   # written to its file already
                self.bytes += data
            else:
                self.sink.put(name, data)
                self.bytes += len(data)
            self.done += 1
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
