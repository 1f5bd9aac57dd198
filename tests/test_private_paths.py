"""Issue 23, L1: with tile-url, a front-end serves the whole tile root
with no check, and a private image's sets lie there too
(TILE-ROOT/ab/UID/SET). Their path must be no one's to learn: nothing a
viewer of a private image receives (pages, headers, tiles, IIIF, the
manifest, the original) names the image's uid, so that a former viewer
cannot fetch its tiles from tile-url."""

import pytest

from tests.zope_fixtures import add
from tests.zope_fixtures import browser
from tests.zope_fixtures import product_config
from tests.zope_fixtures import status
from tests.zope_fixtures import zope_root

NAMES = ("", "/view", "/ImageProperties.xml", "/TileGroup0/0-0-0.jpg",
         "/iiif/info.json", "/iiif/full/max/0/default.jpg",
         "/iiif/0,0,256,256/256,/0/default.jpg", "/manifest.json",
         "/status_json", "/download", "/download.jpg", "/about.json",
         "/iiif/probe", "/embed")
# the folder's names that list it (thumbnails, manifests)
FOLDER_NAMES = ("/collection.json", "/gallery", "/@@zoomify-listing",
                "/@@iiif-activity", "/@@iiif-activity?page=0")


@pytest.mark.parametrize("storage", ["filesystem", "s3"])
def test_a_viewer_never_learns_where_a_private_set_lies(folder, photo,
                                                        storage, request):
    if storage == "s3":  # s3-tile-url: the bucket serves public sets
        request.getfixturevalue("s3_settings")
        request.getfixturevalue("zope_settings")(
            **{"s3-tile-url": "https://bucket.example.org/tiles"})
    url = add(folder, photo, "p", storage=storage)
    with zope_root() as app:
        image = app[folder]["p"]
        image.manage_permission("View", ["Manager"], acquire=0)
        uid, set_id = image.uid, image.tiles_set()
    seen = 0
    with product_config(**{"tile-url": "https://tiles.example.org/"}):
        b = browser(login=True)
        for name in NAMES:
            b.open(url + name)
            assert status(b) == 200, name
            headers = str(b.headers)
            payload = b._response.body
            assert uid not in headers, (name, headers)
            assert uid.encode() not in payload, name
            seen += 1
        for name in FOLDER_NAMES:
            b.open("/".join(url.split("/")[:-1]) + name)
            assert status(b) == 200, name
            assert uid not in str(b.headers), name
            assert uid.encode() not in b._response.body, name
            seen += 1
        # the versioned tile URLs the viewer page names
        b.open("%s/v/%s/TileGroup0/0-0-0.jpg" % (url, set_id))
        assert status(b) == 200 and uid not in str(b.headers)
    assert seen == len(NAMES) + len(FOLDER_NAMES)
