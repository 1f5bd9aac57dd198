"""Degraded access through the publisher: an image with a preview size
is seen up to it by those without "View Zoomify full resolution" (the
pyramid cut at a tier: ImageProperties.xml, the preview IIIF service),
and every tile and IIIF request above it is refused with 401 and no
pixels. The crawler asks every tile name and IIIF size/region above the
preview at the trap sizes of the viewer tests. The viewer in Chromium:
test_degraded_browser.py."""

import json

import pytest

from tests.degraded_images import RESEARCHER
from tests.degraded_images import VISITOR
from tests.degraded_images import above
from tests.degraded_images import app
from tests.degraded_images import basic
from tests.degraded_images import degraded_image
from tests.degraded_images import iiif_above
from tests.images import colourful
from tests.zope_fixtures import product_config
from tests.zope_fixtures import put_jpeg
from tests.zope_fixtures import zope_root
from ZoomifyImage.pyramid import Layout
from ZoomifyImage.pyramid.layout import image_properties_xml

JPEG = b"\xff\xd8"


def _refused(response):
    assert response.status_int == 401, (response.request.url,
                                         response.status)
    assert not response.body.startswith(JPEG)
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# (size, preview size): the cut lands on a tier with a floor-halving trap
TRAPS = [((513, 513), 300), ((2049, 1025), 1200), ((3001, 7), 1200),
         ((6000, 4001), 1200)]


@pytest.mark.parametrize("size,limit", TRAPS)
def test_a_crawler_gets_nothing_above_the_preview(folder, tmp_path, size,
                                                  limit):
    path, _, layout, cut = degraded_image(folder, tmp_path, size, limit)
    assert cut is not layout and cut.num_tiers < layout.num_tiers
    web = app()
    # the cut pyramid: its own ImageProperties.xml, the same tile names
    for url in (path + "/ImageProperties.xml",
                path + "/v/%s/ImageProperties.xml" % _set(path)):
        got = web.get(url)
        assert got.body == image_properties_xml(cut.width, cut.height,
                                                cut.num_tiles)
        assert got.headers["Cache-Control"] == "private, no-cache"
    for tier, col, row in cut.all_tiles():
        got = web.get(path + "/" + cut.tile_name(tier, col, row))
        assert got.body.startswith(JPEG)
        assert cut.tile_name(tier, col, row) == layout.tile_name(
            tier, col, row)
    names = above(layout, cut)
    assert names
    for name in names:
        _refused(web.get(path + "/" + name, expect_errors=True))
    etag = web.get(path + "/" + cut.tile_name(0, 0, 0) if cut.grids[0][0]
                   else path + "/ImageProperties.xml").headers["ETag"]
    for i, request in enumerate(iiif_above(layout, cut)):
        _refused(web.get(path + "/iiif/" + request, expect_errors=True))
        if i % 10 == 0:  # a validator's ETag earns no 304 either
            _refused(web.get(path + "/iiif/" + request, expect_errors=True,
                             headers={"If-None-Match": etag}))
    # logged in without the permission: the same
    visitor = {"Authorization": basic(VISITOR)}
    for name in names[:: max(1, len(names) // 10)]:
        _refused(web.get(path + "/" + name, headers=visitor,
                         expect_errors=True))
    _refused(web.get(path + "/iiif/full/max/0/default.jpg",
                     headers=visitor, expect_errors=True))
    # what the preview may show through IIIF: its own service, and the
    # full service's answers made of its tiers
    info = web.get(path + "/iiif-preview/info.json").json
    assert (info["width"], info["height"]) == (cut.width, cut.height)
    assert (info["maxWidth"], info["maxHeight"]) == (cut.width, cut.height)
    assert all(s["width"] <= cut.width for s in info["sizes"])
    assert max(info["tiles"][0]["scaleFactors"]) == 1 << (cut.num_tiers - 1)
    got = web.get(path + "/iiif-preview/full/max/0/default.jpg")
    assert got.body.startswith(JPEG)
    assert web.get(path + "/iiif/full/%d,%d/0/default.jpg" % (
        cut.width, cut.height)).body.startswith(JPEG)
    # the researcher sees it all, kept out of shared caches
    researcher = {"Authorization": basic(RESEARCHER)}
    got = web.get(path + "/" + names[-1], headers=researcher)
    assert got.body.startswith(JPEG)
    assert got.headers["Cache-Control"].startswith("private")
    got = web.get(path + "/ImageProperties.xml", headers=researcher)
    assert got.body == layout.properties_xml()
    assert got.headers["Cache-Control"] == "private, no-cache"


def _set(path):
    with zope_root() as root:
        return root.unrestrictedTraverse(path.lstrip("/")).tiles_set()


def test_the_preview_is_public_and_the_rest_private(folder, tmp_path):
    path, _, layout, cut = degraded_image(folder, tmp_path, (2049, 1025))
    web = app()
    low = web.get(path + "/" + cut.tile_name(cut.num_tiers - 1, 0, 0))
    assert low.headers["Cache-Control"].startswith("public")
    assert low.headers["Access-Control-Allow-Origin"] == "*"
    high = web.get(path + "/" + above(layout, cut)[0],
                   headers={"Authorization": basic(RESEARCHER)})
    assert high.headers["Cache-Control"].startswith("private")
    assert "Access-Control-Allow-Origin" not in high.headers
    tile = web.get(path + "/iiif/0,0,256,256/256,256/0/default.jpg",
                   headers={"Authorization": basic(RESEARCHER)})
    assert tile.headers["Cache-Control"].startswith("private")
    # the documents are the same for all: they stay public
    info = web.get(path + "/iiif/info.json")
    assert info.headers["Cache-Control"].startswith("public")


def test_the_site_default_and_the_image_own(folder, tmp_path):
    array = colourful(2049, 1025, seed=3)
    path = put_jpeg(folder, "img", array, tmp_path)
    web = app()
    whole = Layout(2049, 1025).properties_xml()
    assert web.get(path + "/ImageProperties.xml").body == whole
    with product_config(**{"preview-size": "600"}):
        assert web.get(path + "/ImageProperties.xml").body == \
            Layout(512, 256).properties_xml()
        page = web.get(path)
        assert page.headers["Cache-Control"] == "private, no-cache"
        assert "preview 512 x 256 of 2049 x 1025 pixels" in page.text
        assert 'id="zoomify-login"' in page.text
        with zope_root() as root:
            root.unrestrictedTraverse(path.lstrip("/")).manage_edit(
                preview_size="0")  # this image: none
        assert web.get(path + "/ImageProperties.xml").body == whole
    with zope_root() as root:
        image = root.unrestrictedTraverse(path.lstrip("/"))
        image.manage_edit(preview_size="")  # the site's again: none
        assert image.preview_size is None
    page = web.get(path)
    assert 'id="zoomify-login"' not in page.text
    assert page.headers["Cache-Control"] == "no-cache"


def test_a_bad_preview_size_is_refused(folder, tmp_path):
    from ZoomifyImage.config import ConfigError
    from ZoomifyImage.config import load
    path = put_jpeg(folder, "img", colourful(600, 400, seed=1), tmp_path)
    with zope_root() as root:
        image = root.unrestrictedTraverse(path.lstrip("/"))
        page = image.manage_edit(preview_size="100", REQUEST=root.REQUEST)
        assert "at least 256 pixels" in page
        assert image.preview_size is None
    with pytest.raises(ConfigError, match="preview-size"):
        load({"preview-size": "abc"})


def test_the_viewer_page_shows_the_preview(folder, tmp_path):
    path, _, layout, cut = degraded_image(folder, tmp_path, (2049, 1025))
    web = app()
    page = web.get(path).text
    settings = json.loads(page.split("(function(c)")[1].split("})(", 1)[1]
                          .rsplit(");", 1)[0])
    assert (settings["width"], settings["height"]) == (1024, 512)
    assert "Log in for full resolution" in page
    full = web.get(path, headers={"Authorization": basic(RESEARCHER)}).text
    assert "Log in for full resolution" not in full
    assert '"width": 2049' in full
    with zope_root() as root:
        root.unrestrictedTraverse(path.lstrip("/")).manage_edit(
            viewer="iiif")
    page = web.get(path).text
    assert "/iiif-preview/info.json" in page


def test_a_preview_never_names_where_the_tiles_lie(folder, tmp_path):
    """With tile-url a front-end serves the tile root unchecked: who sees
    the preview must not be sent there (every tier lies there), nor learn
    the set's place (the uid) from any answer."""
    array = colourful(2049, 1025, seed=5)
    path = put_jpeg(folder, "fs", array, tmp_path, storage="filesystem")
    with zope_root() as root:
        image = root.unrestrictedTraverse(path.lstrip("/"))
        image.manage_edit(preview_size="1200")
        uid = image.uid
    web = app()
    with product_config(**{"tile-url": "https://tiles.example.org/"}):
        for name in ("", "/view", "/embed", "/ImageProperties.xml",
                     "/TileGroup0/0-0-0.jpg", "/iiif/info.json",
                     "/iiif/probe", "/iiif-preview/info.json",
                     "/iiif-preview/full/max/0/default.jpg",
                     "/manifest.json", "/download.jpg"):
            got = web.get(path + name)
            assert uid.encode() not in got.body, name
            assert uid not in str(got.headers), name
            assert b"tiles.example.org" not in got.body, name


def test_tiles_kept_decoded_pass_the_guard_too():
    """resolution.guarded is the one way to pixels: a tile above the
    preview that a full-resolution answer left decoded in memory is
    refused from there too (the decoded cache was read before the
    guard)."""
    import io

    from PIL import Image

    from ZoomifyImage import iiif_pixels
    from ZoomifyImage import resolution
    layout = Layout(1024, 1024, 256)
    out = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 30, 30)).save(out, "JPEG")
    tiles = {}
    for tier, (w, h) in enumerate(layout.tiers):
        for col in range(-(-w // 256)):
            for row in range(-(-h // 256)):
                tiles[layout.tile_name(tier, col, row)] = out.getvalue()
    key = ("a set of test_degraded", id(tiles))
    region, size = (0, 0, 300, 300), (200, 200)
    # a user with full resolution: the top tier's tiles stay decoded
    iiif_pixels.compose(layout, tiles.get, region, size, 10 ** 7, key)
    seen = resolution.Sight(False, resolution.cut_layout(layout, 512), True)
    with pytest.raises(resolution.Refused):
        iiif_pixels.compose(layout, resolution.guarded(seen, tiles.get),
                            region, size, 10 ** 7, key)
