"""Cut an image file into a Zoomify tile set: file -> bands -> tiers -> tiles.
"""

import logging
import time

from .budget import DEFAULT_MAX_TILING_MEMORY
from .budget import check_memory
from .builder import build_tiers
from .encode import TileEncoder
from .errors import DamagedImage
from .errors import TilingError
from .layout import Layout
from .sources import DEFAULT_MAX_MEGAPIXELS
from .sources import DEFAULT_WHOLE_DECODE_MEGAPIXELS
from .sources import open_source

logger = logging.getLogger("ZoomifyImage.pyramid")


class TilingResult:
    """What was made; ``damaged`` says what was wrong with an image tiled
    with accept_damaged (None when nothing was)."""

    damaged = None

    def __init__(self, width, height, tiers, tiles, bytes, seconds, engine,
                 tile_size):
        self.width = width
        self.height = height
        self.tiers = tiers
        self.tiles = tiles
        self.bytes = bytes
        self.seconds = seconds
        self.engine = engine
        self.tile_size = tile_size

    def __repr__(self):
        return ("<TilingResult %dx%d, %d tiers, %d tiles, %.1f s>"
                % (self.width, self.height, self.tiers, self.tiles,
                   self.seconds))


def parse_colour(text):
    """'#rrggbb', 'rrggbb', '#rgb' or 'r,g,b' -> (r, g, b)."""
    if isinstance(text, (tuple, list)):
        colour = tuple(int(v) for v in text)
    else:
        t = text.strip().lstrip("#")
        try:
            if "," in t:
                colour = tuple(int(v) for v in t.split(","))
            elif len(t) == 3:
                colour = tuple(int(c * 2, 16) for c in t)
            elif len(t) == 6:
                colour = tuple(int(t[i:i + 2], 16) for i in (0, 2, 4))
            else:
                colour = ()
        except ValueError:
            colour = ()
    if len(colour) != 3 or not all(0 <= v <= 255 for v in colour):
        raise ValueError("not a colour: %r (use #rrggbb)" % (text,))
    return colour


def read_size(path, engine="auto", accept_damaged=False):
    """(width, height) as the tiles will have them (orientation applied)."""
    with open_source(path, engine, max_megapixels=0,
                     whole_decode_megapixels=0,
                     lenient=accept_damaged) as source:
        return source.width, source.height


def plan_tiling(path, tile_size=256, engine="auto",
                max_megapixels=DEFAULT_MAX_MEGAPIXELS,
                whole_decode_megapixels=DEFAULT_WHOLE_DECODE_MEGAPIXELS,
                max_tiling_memory=DEFAULT_MAX_TILING_MEMORY,
                accept_damaged=False):
    """(width, height, bytes of memory) of tiling ``path``, from its
    header only; raises the TilingError that tile_image would for an
    image over the limits, without decoding a row."""
    with open_source(path, engine, max_megapixels=max_megapixels,
                     whole_decode_megapixels=whole_decode_megapixels,
                     lenient=accept_damaged) as source:
        layout = Layout(source.width, source.height, tile_size)
        need = check_memory(path, layout, source, max_tiling_memory)
        return source.width, source.height, need


def check_options(path, tile_size, quality, background):
    """The background colour; raises TilingError for options the tiler
    cannot use."""
    if not 1 <= int(quality) <= 100:
        raise TilingError(path, "JPEG quality must be 1 to 100, not %s"
                          % quality)
    if tile_size < 16 or tile_size % 2:
        # even: a pair of rows to shrink never spans two rows of tiles
        raise TilingError(path, "tile size must be an even number of at "
                          "least 16, not %s" % tile_size)
    try:
        return parse_colour(background)
    except ValueError as e:
        raise TilingError(path, str(e)) from None


def tile_image(path, sink, tile_size=256, quality=80, engine="auto",
               background=(255, 255, 255), progress=None,
               max_megapixels=DEFAULT_MAX_MEGAPIXELS,
               whole_decode_megapixels=DEFAULT_WHOLE_DECODE_MEGAPIXELS,
               threads=None, accept_damaged=False,
               max_tiling_memory=DEFAULT_MAX_TILING_MEMORY):
    """Write every tile of ``path`` and ImageProperties.xml into ``sink``.

    ``progress(done, total)`` is called after each tile. Raises
    TilingError for bad input (DamagedImage for damaged image data); the
    sink is then aborted, so the destination stays as it was. With
    ``accept_damaged``, damaged data is tiled as the decoders make it out
    (the result's ``damaged`` says what was wrong, and a warning is
    logged). An image whose tiling needs more than ``max_tiling_memory``
    bytes (0: no limit) is refused before any buffer is made.
    """
    started = time.monotonic()
    damaged = None
    try:
        # in the try: whatever is refused, the sink is aborted (a
        # DirectorySink has made its .partial directory already)
        colour = check_options(path, tile_size, quality, background)
        options = dict(tile_size=tile_size, quality=int(quality),
                       engine=engine, background=colour,
                       progress=progress, max_megapixels=max_megapixels,
                       whole_decode_megapixels=whole_decode_megapixels,
                       threads=threads, max_tiling_memory=max_tiling_memory)
        try:
            layout, encoder, engine_used = _tile(path, sink, **options)
        except DamagedImage as e:
            if not accept_damaged:
                raise
            # once more, from the start, letting the decoders make up
            # what is damaged: a strict first run is what tells damaged
            # from sound data (libvips says nothing once it is lenient);
            # the same tiles are written again into the sink
            damaged = e.detail
            logger.warning("%s: the image data is damaged (%s); tiling it "
                           "anyway", path, damaged)
            layout, encoder, engine_used = _tile(path, sink, lenient=True,
                                                 **options)
        sink.put("ImageProperties.xml", layout.properties_xml())
        sink.finish()
    except BaseException as e:
        sink.abort()
        if isinstance(e, (TilingError, KeyboardInterrupt, SystemExit)):
            raise
        if isinstance(e, MemoryError):
            raise TilingError(path, "out of memory while tiling") from e
        if isinstance(e, (OSError, ValueError, SyntaxError)):
            raise TilingError(path, "cannot decode the image (truncated or "
                              "corrupt?): %s" % e) from e
        raise
    result = TilingResult(layout.width, layout.height, layout.num_tiers,
                          encoder.done, encoder.bytes,
                          time.monotonic() - started, engine_used, tile_size)
    result.damaged = damaged
    return result


def _tile(path, sink, tile_size, quality, engine, background, progress,
          max_megapixels, whole_decode_megapixels, threads,
          max_tiling_memory, lenient=False):
    """Every tile of the image into the sink (not ImageProperties.xml);
    returns (layout, encoder, engine used)."""
    encoder = None
    try:
        with open_source(path, engine, background, max_megapixels,
                         whole_decode_megapixels, lenient) as source:
            layout = Layout(source.width, source.height, tile_size)
            # before the first buffer: the width alone can ask for more
            # memory than the machine has
            check_memory(path, layout, source, max_tiling_memory)
            encoder = TileEncoder(sink, quality, threads, progress,
                                  layout.num_tiles, source.arrays)
            top = build_tiers(layout, source.mode, encoder,
                              source.top_buffers)
            # a source that decodes in jobs (the tiff engine) writes each
            # tile row straight into the top tier's buffer on the
            # encoder's threads, and the shrinking and encoding jobs wait
            # for those: no band of its own is held
            jobs = source.job_rows(tile_size)
            band = jobs or source.band_rows(tile_size)
            # else the source writes each band of rows straight into the
            # top tier's buffer; while it decodes (libvips and file reads
            # release the GIL) the encoder threads work on the tiles cut
            # before
            y = 0
            while y < layout.height:
                # n is cut short where a tile row of the buffer ends
                memory, n = top.space(min(band, layout.height - y))
                if jobs:
                    writers = [encoder.call(job) for job in
                               source.read_jobs(memory, y, n)]
                else:
                    source.read_into(memory, y, n)
                    writers = ()
                del memory  # no view of the buffer outlives the write
                top.written(n, writers)
                y += n
            encoder.finish()
            engine_used = source.engine
    except BaseException:
        if encoder is not None:
            encoder.cancel()
        raise
    return layout, encoder, engine_used
