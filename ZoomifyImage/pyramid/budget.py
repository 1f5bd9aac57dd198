"""The memory a tiling takes, known before anything is made, and the
budget it must fit (``max-tiling-memory``).

The pyramid keeps up to a tile of rows of every tier (builder.py), so its
memory grows with the image's width and nothing else bounds it: a 1-bit
PNG of a few kilobytes can declare a width of ten million pixels. The
tiler adds what the tier buffers of the layout take (builder.tier_plan,
the same description build_tiers makes them from) to what the source
keeps of its own (its band, a whole decoded image, a decoder's rows), and
refuses the image before the first buffer is made when the sum passes
the budget.
"""

import os

from .builder import pyramid_bytes
from .errors import TilingError

MB = 1 << 20

# a quarter of the machine's memory, and no more than 512 MB: a Zope
# process runs a background worker and its request threads side by side
BUDGET_CAP = 512 * MB


def machine_memory():
    """Bytes of physical memory, or 0 where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 0


def default_budget():
    memory = machine_memory()
    return min(BUDGET_CAP, memory // 4) if memory else BUDGET_CAP


DEFAULT_MAX_TILING_MEMORY = default_budget()


def tiling_memory(layout, source):
    """Bytes that tiling ``source`` as ``layout`` keeps at its peak: the
    tier buffers and the source's own (the encoder's tiles are a few
    hundred kilobytes whatever the image)."""
    return (pyramid_bytes(layout, source.mode, source.top_buffers)
            + source.buffer_bytes(layout.tile_size))


def format_bytes(n):
    """1.5 GB, 512 MB (binary units, as zope.conf's sizes)."""
    if n >= 1 << 30:
        return "%.1f GB" % (n / (1 << 30))
    return "%d MB" % -(-n // MB)


def check_memory(path, layout, source, budget):
    """Raise TilingError, naming the setting and the figures, when tiling
    needs more than ``budget`` bytes (0: no budget); else the bytes."""
    need = tiling_memory(layout, source)
    if budget and need > budget and not source.streaming:
        raise TilingError(
            path, "the image is %dx%d in a format decoded whole: tiling it "
            "would need %s of memory, more than max-tiling-memory (%s); "
            "raise max-tiling-memory if this machine has that memory to "
            "spare" % (layout.width, layout.height, format_bytes(need),
                       format_bytes(budget)))
    if budget and need > budget:
        raise TilingError(
            path, "the image is %d pixels wide (%dx%d): tiling it would "
            "need %s of memory, more than max-tiling-memory (%s); raise "
            "max-tiling-memory if this machine has that memory to spare"
            % (layout.width, layout.width, layout.height, format_bytes(need),
               format_bytes(budget)))
    return need
