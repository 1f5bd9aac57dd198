"""Issue 24: serving and IIIF know an image only by its declared face
(interfaces.IDeepZoomImage). The proof: a plain persistent object that
is not our content class, with a tile set in the real ZODB store, is
served by the real serving code and described by the real IIIF code,
through the publisher. (tools/check_image_privates.py, run by `make
lint`, keeps other modules out of the content class's private names.)"""

import hashlib
import io
import json
import time

import transaction
from AccessControl.class_init import InitializeClass
from AccessControl.Permissions import view as View
from AccessControl.SecurityInfo import ClassSecurityInfo
from Acquisition import Implicit
from Acquisition import aq_parent
from persistent import Persistent
from PIL import Image
from zope.interface import implementer
from zope.interface.verify import verifyClass
from zope.interface.verify import verifyObject
from ZPublisher import zpublish

from tests.images import save
from tests.images import smooth
from tests.zope_fixtures import BASE
from tests.zope_fixtures import get
from tests.zope_fixtures import zope_root
from ZoomifyImage.interfaces import IDeepZoomImage
from ZoomifyImage.interfaces import IZoomifyImage
from ZoomifyImage.pyramid import tile_image
from ZoomifyImage.serving import anonymous_may_view
from ZoomifyImage.serving import tile_set_of
from ZoomifyImage.stores.zodb import ZODBTileStore
from ZoomifyImage.traversal import traverse


@zpublish
@implementer(IDeepZoomImage)
class Picture(Implicit, Persistent):
    """A picture with a pyramid: all it has is the face."""

    security = ClassSecurityInfo()
    security.declareObjectProtected(View)
    meta_type = "Test Picture"

    def __init__(self, id, store, size):
        self.id = id
        self.store = store
        self.size = size  # width, height, tile size
        self.tiled_at = time.time()

    def getId(self):
        return self.id

    def __bobo_traverse__(self, REQUEST, name):
        return traverse(self, REQUEST, name)

    @security.private
    def tile_set(self):
        key = hashlib.sha256(self.id.encode()).hexdigest()[:16]
        return tile_set_of(key, self.store.set_id, self.store, self.tiled_at,
                           anonymous_may_view(self), self.size)

    @security.private
    def current_status(self):
        return "ready"

    @security.private
    def effective_quality(self):
        return 85

    @security.private
    def title_or_id(self):
        return "A picture"

    @security.private
    def absolute_url(self):
        return aq_parent(self).absolute_url() + "/" + self.id


InitializeClass(Picture)


def add_picture(folder, path, id="pic"):
    """A Picture in ``folder`` with the tiles of ``path`` in a ZODB tile
    store, committed; its URL and tile set."""
    store = ZODBTileStore()
    with zope_root() as app:
        app[folder]._setObject(id, Picture(id, store, (0, 0, 256)),
                               set_owner=0)
        picture = app[folder][id]
        transaction.savepoint()  # the store has a connection to write to
        writer = store.writer()
        result = tile_image(path, writer, quality=85)
        writer.finish()
        picture.size = (result.width, result.height, 256)
    with zope_root(commit=False) as app:
        tiles = app[folder][id].tile_set()
    return "%s/%s/%s" % (BASE, folder, id), tiles


def test_a_second_provider_of_the_face():
    assert verifyClass(IDeepZoomImage, Picture)
    assert not IZoomifyImage.implementedBy(Picture)
    picture = Picture("p", ZODBTileStore(), (0, 0, 256))
    assert verifyObject(IDeepZoomImage, picture)
    tiles = picture.tile_set()
    assert tiles.layout is None and tiles.store is picture.store


def test_serving_serves_the_second_provider(folder, tmp_path):
    path = save(smooth(600, 400), tmp_path / "pic.png")
    url, tiles = add_picture(folder, path)
    assert tiles.set_id and tiles.layout.width == 600
    code, headers, body = get(url + "/ImageProperties.xml")
    assert code == 200 and b'WIDTH="600" HEIGHT="400"' in body
    assert headers["Content-Type"].startswith("text/xml")
    assert headers["ETag"] == tiles.etag
    assert tiles.etag.startswith('"zi-') and tiles.set_id in tiles.etag
    # anonymous may view it: a shared cache may keep it, any site read it
    assert headers["Access-Control-Allow-Origin"] == "*"
    code, headers, body = get(url + "/TileGroup0/2-1-1.jpg")
    assert code == 200 and body == tiles.store.get("TileGroup0/2-1-1.jpg")
    assert Image.open(io.BytesIO(body)).size == (256, 144)
    code, headers, body = get(url + "/TileGroup0/2-1-1.jpg",
                              headers=[("If-None-Match", tiles.etag)])
    assert code == 304 and body == b""
    # the viewer's URL that names the set: immutable
    code, headers, _ = get("%s/v/%s/TileGroup0/0-0-0.jpg"
                           % (url, tiles.set_id))
    assert code == 200 and "immutable" in headers["Cache-Control"]
    # its layout decides what a tile is
    for name in ("TileGroup0/2-3-0.jpg", "TileGroup0/9-0-0.jpg"):
        assert get(url + "/" + name)[0] == 404, name


def test_iiif_describes_the_second_provider(folder, tmp_path):
    path = save(smooth(600, 400), tmp_path / "pic.png")
    url, tiles = add_picture(folder, path)
    code, headers, body = get(url + "/iiif/info.json")
    assert code == 200
    info = json.loads(body)
    assert info["id"] == url + "/iiif"
    assert (info["width"], info["height"]) == (600, 400)
    assert info["tiles"][0]["scaleFactors"] == [1, 2, 4]
    assert headers["ETag"].startswith(tiles.etag[:-1] + "-")
    # composed from several tiles of the finest tier
    code, headers, body = get(url + "/iiif/200,100,300,200/150,/0/"
                              "default.png")
    assert code == 200 and headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(body)).size == (150, 100)
    assert headers["ETag"] == tiles.etag
    code, headers, body = get(url + "/manifest.json")
    assert code == 200
    assert json.loads(body)["label"] == {"none": ["A picture"]}
