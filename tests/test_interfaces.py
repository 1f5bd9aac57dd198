"""Every store and sink says what it implements, and does (issue 15)."""

import pytest
from zope.interface.verify import verifyClass
from zope.interface.verify import verifyObject

from ZoomifyImage.interfaces import ITileSink
from ZoomifyImage.interfaces import ITileStore
from ZoomifyImage.interfaces import IZoomifyImage


def store_classes():
    from ZoomifyImage.stores.filesystem import FilesystemTileStore
    from ZoomifyImage.stores.zodb import ZODBTileStore
    return [FilesystemTileStore, ZODBTileStore]


def sink_classes():
    from ZoomifyImage.pyramid.sinks import DirectorySink
    from ZoomifyImage.pyramid.sinks import MemorySink
    from ZoomifyImage.stores.filesystem import FilesystemTileWriter
    from ZoomifyImage.stores.zodb import ZODBTileWriter
    return [DirectorySink, MemorySink, FilesystemTileWriter, ZODBTileWriter]


@pytest.mark.parametrize("cls", store_classes(), ids=lambda c: c.__name__)
def test_stores_implement_ITileStore(cls):
    assert verifyClass(ITileStore, cls)


@pytest.mark.parametrize("cls", sink_classes(), ids=lambda c: c.__name__)
def test_sinks_implement_ITileSink(cls):
    assert verifyClass(ITileSink, cls)


def test_store_objects_and_their_writers(tmp_path, zope_settings):
    from ZoomifyImage.stores.filesystem import FilesystemTileStore
    from ZoomifyImage.stores.zodb import ZODBTileStore
    zope_settings(**{"tile-root": str(tmp_path)})
    for store in (ZODBTileStore(), FilesystemTileStore("ab" * 16)):
        assert verifyObject(ITileStore, store)
        writer = store.writer()
        assert verifyObject(ITileSink, writer)
        writer.abort()


def test_the_image_class():
    from ZoomifyImage.content import ZoomifyImage
    assert verifyClass(IZoomifyImage, ZoomifyImage)
    assert verifyObject(IZoomifyImage, ZoomifyImage("x"))
