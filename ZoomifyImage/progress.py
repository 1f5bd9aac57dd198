"""The progress bar of both commands (zoomify-tile, zoomify-import)."""

import contextlib
import sys


@contextlib.contextmanager
def tile_progress(show, stream=None):
    """A progress(done, total) callback drawing a tqdm bar of tiles on
    ``stream`` (default stderr), or None when ``show`` is false. The bar
    is made once the total is known, and closed at the end."""
    if not show:
        yield None
        return
    from tqdm import tqdm
    bar = None

    def report(done, total):
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="tile", desc="tiling", leave=False,
                       mininterval=0.2, file=stream or sys.stderr)
        bar.update(done - bar.n)

    try:
        yield report
    finally:
        if bar is not None:
            bar.close()
