"""Every store and sink says what it implements, and does (issue 15)."""

import pytest
from zope.interface.verify import verifyClass
from zope.interface.verify import verifyObject

from ZoomifyImage.interfaces import ITileSink
from ZoomifyImage.interfaces import ITileStore
from ZoomifyImage.interfaces import ITileWriter
from ZoomifyImage.interfaces import IZoomifyImage


def store_classes():
    from ZoomifyImage.stores.filesystem import FilesystemTileStore
    from ZoomifyImage.stores.s3 import S3TileStore
    from ZoomifyImage.stores.zodb import ZODBTileStore
    return [FilesystemTileStore, ZODBTileStore, S3TileStore]


def sink_classes():
    from ZoomifyImage.pyramid.sinks import DirectorySink
    from ZoomifyImage.pyramid.sinks import MemorySink
    from ZoomifyImage.stores.filesystem import FilesystemTileWriter
    from ZoomifyImage.stores.s3 import S3TileWriter
    from ZoomifyImage.stores.zodb import ZODBTileWriter
    return [DirectorySink, MemorySink, FilesystemTileWriter, ZODBTileWriter,
            S3TileWriter]


@pytest.mark.parametrize("cls", store_classes(), ids=lambda c: c.__name__)
def test_stores_implement_ITileStore(cls):
    assert verifyClass(ITileStore, cls)


@pytest.mark.parametrize("cls", sink_classes(), ids=lambda c: c.__name__)
def test_sinks_implement_ITileSink(cls):
    assert verifyClass(ITileSink, cls)


def test_store_objects_and_their_writers(tmp_path, zope_settings,
                                        s3_settings):
    from ZoomifyImage.stores.filesystem import FilesystemTileStore
    from ZoomifyImage.stores.s3 import S3TileStore
    from ZoomifyImage.stores.zodb import ZODBTileStore
    zope_settings(**{"tile-root": str(tmp_path)})
    for store in (ZODBTileStore(), FilesystemTileStore("ab" * 16),
                  S3TileStore("cd" * 16)):
        assert verifyObject(ITileStore, store)
        writer = store.writer()
        assert verifyObject(ITileSink, writer)
        assert verifyObject(ITileWriter, writer)
        writer.abort()


def test_the_image_class():
    from ZoomifyImage.content import ZoomifyImage
    assert verifyClass(IZoomifyImage, ZoomifyImage)
    assert verifyObject(IZoomifyImage, ZoomifyImage("x"))


def test_the_lint_refuses_the_image_private_names(tmp_path):
    import sys
    sys.path.insert(0, "tools")
    try:
        import check_image_privates as check
    finally:
        sys.path.remove("tools")
    assert check.main(["ZoomifyImage"]) == 0
    sample = tmp_path / "sample.py"
    for line in ("image._store", "ZoomifyImage._check_title('x')",
                 "self.context._layout()", "self._image()._etag()"):
        sample.write_text("def f(self, image):\n    return %s\n" % line)
        assert check.main([str(sample)]) == 1, line
    sample.write_text("def f(self, image):\n    return image._p_jar, "
                      "image.tile_set(), self._store\n")
    assert check.main([str(sample)]) == 0


@pytest.mark.parametrize("cls", sink_classes()[2:], ids=lambda c: c.__name__)
def test_store_writers_implement_ITileWriter(cls):
    assert verifyClass(ITileWriter, cls)
