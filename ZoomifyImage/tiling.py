"""The tiler (pyramid/) with this site's settings, for the content class.
Its errors name the file the user gave, never the blob's temporary file
the tiler reads."""

import contextlib

from . import config
from .pyramid import TilingError
from .pyramid import read_size
from .pyramid import tile_image
from .pyramid.tiler import plan_tiling


@contextlib.contextmanager
def _naming(path, name, only_path=False):
    # the TilingError of ``path`` (of any file unless only_path) as ``name``
    try:
        yield
    except TilingError as e:
        if only_path and e.path != path:
            raise
        raise TilingError(name, e.problem) from None


def plan(path, name, tile_size):
    """(width, height, bytes of memory) of tiling ``path``, from its
    header only ((0, 0, 0) without a file); the TilingError of a file
    over the limits."""
    if path is None:
        return 0, 0, 0
    site = config.settings()
    with _naming(path, name):
        return plan_tiling(
            path, tile_size, site.engine,
            max_megapixels=site.max_megapixels,
            whole_decode_megapixels=site.whole_decode_megapixels,
            max_tiling_memory=site.max_tiling_memory,
            accept_damaged=site.accept_damaged)


def is_big(plan):
    """Whether a plan is tiled in a worker: over background-megapixels,
    or needing more than a quarter of max-tiling-memory (a wide image:
    four request threads must stay within one budget)."""
    width, height, memory = plan
    site = config.settings()
    limit = site.background_megapixels
    return (bool(limit) and width * height > limit * 1e6) or (
        memory > site.max_tiling_memory // 4)


def pixels(path, name):
    """Pixels of the image in ``path`` (0 without a file), read from its
    header only."""
    if path is None:
        return 0
    site = config.settings()
    with _naming(path, name):
        width, height = read_size(path, site.engine, site.accept_damaged)
    return width * height


def cut(path, name, sink, tile_size, quality, progress=None):
    """Tile ``path`` into ``sink`` (pyramid.tile_image): the
    TilingResult."""
    site = config.settings()
    with _naming(path, name, only_path=True):
        return tile_image(
            path, sink, tile_size=tile_size, quality=quality,
            engine=site.engine, progress=progress,
            max_megapixels=site.max_megapixels,
            max_tiling_memory=site.max_tiling_memory,
            whole_decode_megapixels=site.whole_decode_megapixels,
            accept_damaged=site.accept_damaged)


def cut_original(image, sink, progress=None):
    """Tile the committed original of ``image`` (ITileable.cut_tiles)
    into ``sink`` at its tile size and quality: the TilingResult."""
    path = image.original_file()
    if path is None:
        raise TilingError(image.getId(), "there is no original image to "
                          "tile")
    return cut(path, image.filename or image.getId(), sink,
               image.tile_size, image.effective_quality(), progress)


def note_result(image, result):
    """The facts of a TilingResult on the image, for the Edit tab."""
    image.width, image.height = result.width, result.height
    image.tiers, image.num_tiles = result.tiers, result.tiles
    image.tiles_bytes = result.bytes
    image.tiling_seconds = result.seconds
    image.engine_used = result.engine
