"""Many images at little cost, for the tests of folders (collections,
galleries, the ZMI listing): a small picture is tiled once in memory and
its set is installed into each new image as a background job installs
one (ITileable: start_tiling, put, install_tiles), so that a thousand
images take seconds, not a thousand tilings. Each image is a real
ZoomifyImage with a real tile store; it has no original."""

import dataclasses
import os
import tempfile

import numpy as np

from tests.images import save


@dataclasses.dataclass
class Prepared:
    tiles: dict      # name -> bytes, ImageProperties.xml included
    result: object   # the TilingResult


def picture(width, height, seed):
    """Gradients and stripes, a colour of their own for each ``seed``
    (made in milliseconds: tests/images.py's smooth() takes a second
    at 1200 x 800)."""
    y, x = np.ogrid[0:height, 0:width]
    stripes = ((x + y) // 24 % 2) * 60
    array = np.empty((height, width, 3), np.uint8)
    array[..., 0] = (x * 200 // max(1, width - 1) + stripes) % 256
    array[..., 1] = (y * 200 // max(1, height - 1) + stripes) % 256
    array[..., 2] = (seed * 85 + stripes) % 256
    return array


def prepare(width=64, height=48, seed=1):
    """A picture of ``width`` x ``height`` tiled once, in memory."""
    from ZoomifyImage.pyramid import tile_image
    from ZoomifyImage.pyramid.sinks import MemorySink
    path = save(picture(width, height, seed),
                os.path.join(tempfile.mkdtemp(), "prepared.png"))
    sink = MemorySink()
    result = tile_image(path, sink)
    return Prepared(dict(sink.tiles), result)


def add_prepared(container, id, prepared, title="", storage="zodb"):
    """A new image ``id`` in ``container`` serving ``prepared``'s tiles;
    the image (wrapped in its container)."""
    from ZoomifyImage.content import ZoomifyImage
    container._setObject(id, ZoomifyImage(id, title, storage=storage))
    image = container._getOb(id)
    writer = image.start_tiling()
    for name, data in prepared.tiles.items():
        writer.put(name, data)
    image.install_tiles(writer, prepared.result)
    return image


def add_many(container, count, prepared, prefix="img", storage="zodb"):
    """``count`` images PREFIX0001... titled "Image 1"..., in order."""
    import transaction
    for n in range(1, count + 1):
        add_prepared(container, "%s%04d" % (prefix, n), prepared,
                     "Image %d" % n, storage)
        if n % 200 == 0:
            transaction.savepoint(optimistic=True)
