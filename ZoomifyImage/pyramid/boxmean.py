"""The pyramid's 2x2 box mean: ``shrink``, from the C extension
(_boxmean.c) where it is built, else the numpy function below, which has
the same arguments, the same checks and the same bytes.

An installation from source without a C compiler gets no extension
(setup.py builds it optionally), so numpy must give exactly what the C
gives: tests/test_boxmean.py holds one against the other. The C is
faster (benchmarks/README.txt, "box mean").
"""

import logging
import operator

import numpy as np

# Python's ints for the C's Py_ssize_t ("n") and int ("i") arguments
_SSIZE = (-2 ** 63, 2 ** 63 - 1)
_INT = (-2 ** 31, 2 ** 31 - 1)
# source bytes of one numpy step (at least a row pair): its temporaries,
# about five times that, stay small and in the cache
_STEP_BYTES = 1 << 18


def _integer(value, bounds):
    value = operator.index(value)
    if not bounds[0] <= value <= bounds[1]:
        raise OverflowError("shrink: %d does not fit a C integer" % value)
    return value


def numpy_shrink(src, src_line, src_bpp, top, dst, dst_line, dst_bpp, at,
                 pairs, width, /):
    """shrink(src, src_line, src_bpp, top, dst, dst_line, dst_bpp, at,
    pairs, width)

    2x2 box mean of ``pairs`` row pairs of ``src`` from row ``top`` into
    ``pairs`` rows of ``dst`` from row ``at``, ``width`` output pixels a
    row. Rows are ``*_line`` bytes apart, pixels ``*_bpp`` bytes; the
    first ``dst_bpp`` channels of each source pixel are kept. Each byte is
    (a + b + c + d + 2) >> 2, Pillow's Image.reduce(2). Rows or sizes
    outside the buffers raise ValueError, a read-only ``dst`` TypeError;
    ``src`` and ``dst`` do not overlap.
    """
    source = memoryview(src)
    target = memoryview(dst)
    if target.readonly:
        raise TypeError("shrink: the target must be a writable buffer")
    source = source.cast("B") if source.format != "B" else source
    target = target.cast("B") if target.format != "B" else target
    src_line, top, dst_line, at, pairs, width = (
        _integer(v, _SSIZE) for v in (src_line, top, dst_line, at, pairs,
                                      width))
    src_bpp, dst_bpp = (_integer(v, _INT) for v in (src_bpp, dst_bpp))
    # the C's bounds, in the C's order, so that no check needs a product
    empty = pairs == 0 or width == 0
    ok = (1 <= src_bpp <= 4 and 1 <= dst_bpp <= src_bpp and top >= 0
          and at >= 0 and pairs >= 0 and width >= 0
          and (empty or (src_line > 0 and dst_line > 0
                         and width <= src_line // (2 * src_bpp)
                         and width <= dst_line // dst_bpp
                         and top <= len(source) // src_line
                         and pairs <= (len(source) // src_line - top) // 2
                         and at <= len(target) // dst_line
                         and pairs <= len(target) // dst_line - at)))
    if not ok:
        raise ValueError("shrink: rows or pixel sizes outside the buffers")
    if empty:
        return
    rows = np.frombuffer(source, np.uint8, 2 * pairs * src_line,
                         top * src_line).reshape(pairs, 2, src_line)
    used = 2 * width * src_bpp
    # a pixel's kept channels as one item of dst_bpp bytes, so that the
    # last copy runs along the row instead of channel by channel
    pixel = np.dtype("V%d" % dst_bpp)
    out = np.ndarray((pairs, width), pixel, target, at * dst_line,
                     (dst_line, dst_bpp))
    step = max(1, _STEP_BYTES // used)
    for first in range(0, pairs, step):
        part = rows[first:first + step, :, :used]
        n = len(part)
        # whole rows at a time, so that numpy's loops run long: the two
        # rows summed, then each byte with the byte a pixel further on;
        # each pixel's first dst_bpp bytes are then its mean
        pair = part[:, 0].astype(np.uint16)
        pair += part[:, 1]
        total = np.empty_like(pair)
        np.add(pair[:, :-src_bpp], pair[:, src_bpp:],
               out=total[:, :-src_bpp])
        total += 2
        total >>= 2
        means = total.astype(np.uint8)
        out[first:first + n] = np.ndarray(
            (n, width), pixel, means, 0, (used, 2 * src_bpp))


try:
    from ._boxmean import shrink
    compiled = True
except ImportError:   # built without a C compiler, or a bare checkout
    shrink = numpy_shrink
    compiled = False
    logging.getLogger(__name__).info(
        "the C box mean (_boxmean.c) is not built: numpy makes the smaller "
        "tiers, the same bytes, more slowly")
