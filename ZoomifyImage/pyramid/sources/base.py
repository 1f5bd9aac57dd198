"""The band-source interface every engine implements, and the colour
helpers they share.

A source hands out full-width bands of rows, top to bottom, already
converted to what the tiles need: 8-bit sRGB or 8-bit greyscale, EXIF
orientation applied, transparency flattened over the background colour.
"""

from ..buffers import PIXEL_BYTES
from ..errors import TilingError

GREY_MODES = {"1", "L", "LA", "La", "I", "F"}


class UnknownFormat(TilingError):
    """The engine has no reader for the file (another engine may have)."""


class Unsupported(UnknownFormat):
    """The engine knows the format but lacks its codec (a HEIF of a codec
    libheif was built without, a TIFF compression libtiff was built
    without): what a user is told when no engine reads the file, never
    that it is damaged."""


class MissingExtra(Unsupported):
    """The codec is in an extra that is not installed (HEVC, in the
    `heif` extra): what to install is the one thing to say, whatever
    another engine said of the file."""


def flatten(rgba, background):
    """Blend an (n, w, c+1) array with alpha over a background colour."""
    # numpy only where it is needed: importing it costs memory
    # (benchmarks/README.txt, note numpy-import)
    import numpy as np
    if rgba[..., -1].min() == 255:
        return rgba[..., :-1]   # opaque (a slide's scanned area): as it is
    colour = rgba[..., :-1].astype(np.uint16)
    alpha = rgba[..., -1:].astype(np.uint16)
    bg = np.array(background, dtype=np.uint16)
    out = colour * alpha + bg * (255 - alpha) + 127
    out //= 255
    return out.astype(np.uint8)


def pixels(image):
    import numpy as np
    return np.asarray(image)


def grey_background(background):
    r, g, b = background
    return (round(0.299 * r + 0.587 * g + 0.114 * b),)


class BandSource:
    """Base: width, height, channels (1 or 3), read_into(), close().

    ``engine`` names the engine (what the tiling result reports);
    ``streaming`` is False where the whole image is decoded at once.
    """

    engine = None
    # mode of the rows handed out, by channels
    MODES = {1: "L", 3: "RGBX"}

    width = height = 0
    channels = 3
    streaming = True
    # whether the tiles are encoded from numpy views of the rows
    # (encode.encode_array, where imagecodecs is installed): for the
    # sources that load numpy anyway (note numpy-import)
    arrays = False
    # buffers of the full-size tier (builder.build_tiers): 2 for a source
    # that decodes on a thread of its own while the tiles are cut
    top_buffers = 1

    @property
    def mode(self):
        return self.MODES[self.channels]

    @property
    def pixel_bytes(self):
        return PIXEL_BYTES[self.mode]

    def band_rows(self, tile_size):
        """How many rows to read at a time: a quarter tile keeps the
        reading buffers small (libvips' grow with the band height) and is
        about as fast as a whole tile."""
        return max(16, tile_size // 4)

    def buffer_bytes(self, tile_size):
        """Bytes the source keeps of its own while it is read, beside the
        pyramid's (budget.py counts them before anything is read): here a
        band of rows, as the file stores them and converted."""
        rows = min(self.band_rows(tile_size), self.height)
        return 2 * rows * self.width * self.pixel_bytes

    def read_into(self, memory, top, rows):
        """Write rows [top, top + rows) into ``memory``, a writable buffer
        of rows x width pixels in the layout of ``self.mode``: Pillow's for
        "L" and "RGBX", 3 bytes a pixel for "RGB".

        Rows are asked for top to bottom, each once.
        """
        raise NotImplementedError

    def job_rows(self, tile_size):
        """Rows of the requests that read_jobs() serves, or None where
        the source only reads with read_into()."""
        return None

    def read_jobs(self, memory, top, rows):
        """Callables that, once all have run (on any threads, in any
        order), have written rows [top, top + rows) into ``memory`` as
        read_into() does. Only for sources whose job_rows() is not None,
        with requests of that many rows (fewer at the bottom), top to
        bottom."""
        raise NotImplementedError

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

