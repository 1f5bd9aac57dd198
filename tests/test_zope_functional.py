"""Through the real publisher with zope.testbrowser: the ZMI add form,
tiles over HTTP, caching, 404s and permissions."""

import email.utils
import io
import os

import pytest
from PIL import Image

from tests.images import save
from tests.images import smooth
from tests.zope_fixtures import BASE
from tests.zope_fixtures import add_by_form
from tests.zope_fixtures import browser
from tests.zope_fixtures import fetch
from tests.zope_fixtures import status
from tests.zope_fixtures import tile_root
from tests.zope_fixtures import zope_root
from ZoomifyImage.pyramid import Layout

PHOTO = {"width": 1300, "height": 700, "name": "harbour.jpg", "quality": 92}


@pytest.mark.parametrize("storage", ["zodb", "filesystem"])
def test_add_through_zmi_and_serve_tiles(folder, photo, storage):
    b = add_by_form(folder, photo, id="harbour", title="The harbour",
                         storage=storage)
    assert b.url.endswith("/%s/manage_main" % folder)
    assert "harbour" in b.contents
    # the Edit tab shows the facts
    b.open("%s/%s/harbour/manage_main" % (BASE, folder))
    assert "1300 x 700 pixels" in b.contents
    assert ">ready<" in b.contents
    assert ">%s<" % storage in b.contents
    layout = Layout(1300, 700)
    assert ">%d<" % layout.num_tiers in b.contents

    url = "%s/%s/harbour" % (BASE, folder)
    props = fetch(url + "/ImageProperties.xml")
    assert status(props) == 200
    assert props.headers["Content-Type"].startswith("text/xml")
    assert props.contents == (
        '<IMAGE_PROPERTIES WIDTH="1300" HEIGHT="700" NUMTILES="%d" '
        'NUMIMAGES="1" VERSION="1.8" TILESIZE="256" />\n' % layout.num_tiles)
    for tier, col, row in layout.all_tiles():
        tile = fetch(url + "/" + layout.tile_name(tier, col, row))
        assert status(tile) == 200
        assert tile.headers["Content-Type"] == "image/jpeg"
        assert int(tile.headers["Content-Length"]) == len(tile.contents)
        left, top, right, bottom = layout.tile_box(tier, col, row)
        assert Image.open(io.BytesIO(tile.contents)).size == (
            right - left, bottom - top)
    if storage == "filesystem":
        with zope_root(commit=False) as app:
            image = app[folder]["harbour"]
            uid, set_id = image.uid, image._store.set_id
        # TILE-ROOT/ab/UID/SETID/, a front-end can serve it as it is
        assert os.path.isfile(os.path.join(
            tile_root(), uid[:2], uid, set_id, "TileGroup0", "0-0-0.jpg"))


def test_caching_headers_and_304(folder, photo):
    add_by_form(folder, photo, id="p")
    url = "%s/%s/p/TileGroup0/0-0-0.jpg" % (BASE, folder)
    first = fetch(url)
    etag = first.headers["ETag"]
    modified = first.headers["Last-Modified"]
    assert etag and modified
    assert "max-age" in first.headers["Cache-Control"]
    assert "public" in first.headers["Cache-Control"]
    again = fetch(url, headers=[("If-None-Match", etag)])
    assert status(again) == 304 and not again.contents
    again = fetch(url, headers=[("If-Modified-Since", modified)])
    assert status(again) == 304
    older = email.utils.formatdate(
        email.utils.parsedate_to_datetime(modified).timestamp() - 3600,
        usegmt=True)
    assert status(fetch(url, headers=[("If-Modified-Since", older)])) == 200
    assert status(fetch(url, headers=[("If-None-Match", '"other"')])) == 200


def test_retile_changes_etag_but_not_urls(folder, photo, tmp_path):
    add_by_form(folder, photo, id="p")
    url = "%s/%s/p/TileGroup0/0-0-0.jpg" % (BASE, folder)
    etag = fetch(url).headers["ETag"]
    b = browser()
    b.open("%s/%s/p/manage_main" % (BASE, folder))
    other = save(smooth(900, 900, seed=3), tmp_path / "other.png")
    with open(other, "rb") as f:
        b.getControl(name="file").add_file(f, "image/png", "other.png")
        b.getControl("Save Changes").click()
    assert "900 x 900 pixels" in b.contents
    after = fetch(url)
    assert status(after) == 200 and after.headers["ETag"] != etag
    assert status(fetch(url, headers=[("If-None-Match", etag)])) == 200
    props = fetch("%s/%s/p/ImageProperties.xml" % (BASE, folder)).contents
    assert 'WIDTH="900" HEIGHT="900"' in props


def test_title_change_does_not_retile(folder, photo):
    add_by_form(folder, photo, id="p")
    url = "%s/%s/p/TileGroup0/0-0-0.jpg" % (BASE, folder)
    etag = fetch(url).headers["ETag"]
    b = browser()
    b.open("%s/%s/p/manage_main" % (BASE, folder))
    b.getControl(name="title").value = "New title"
    b.getControl("Save Changes").click()
    assert "Saved changes" in b.contents
    assert fetch(url).headers["ETag"] == etag
    with zope_root(commit=False) as app:
        assert app[folder]["p"].title == "New title"


BAD_NAMES = [
    "TileGroup0/5-0-0.jpg",        # no such tier
    "TileGroup0/2-9-0.jpg",        # column out of range
    "TileGroup0/2-0-9.jpg",        # row out of range
    "TileGroup1/0-0-0.jpg",        # right tile, wrong group
    "TileGroup0/0-0-0.png",
    "TileGroup0/00-0-0.jpg",
    "TileGroup0/-1-0-0.jpg",
    "TileGroup0/0-0-0.jpg.bak",
    "TileGroup0/..%2F..%2Fetc%2Fpasswd",
    "TileGroup0/%2e%2e/%2e%2e/ImageProperties.xml",
    "TileGroup0",
    "TileGroup0/",
    "TileGroup99/0-0-0.jpg",
    "TileGroupX/0-0-0.jpg",
]


@pytest.mark.parametrize("storage", ["zodb", "filesystem"])
def test_bad_tile_names_are_404(folder, photo, storage):
    add_by_form(folder, photo, id="p", storage=storage)
    base = "%s/%s/p/" % (BASE, folder)
    for name in BAD_NAMES:
        b = fetch(base + name)
        assert status(b) == 404, name


def test_internal_methods_are_not_published(folder, photo):
    add_by_form(folder, photo, id="p")
    base = "%s/%s/p/" % (BASE, folder)
    assert status(fetch(base + "status_json")) == 200
    for name in ["job", "_current_job", "_install", "_store", "_original"]:
        assert status(fetch(base + name, login=True)) == 404, name


def test_no_reading_other_images_tiles(folder, photo, tmp_path):
    add_by_form(folder, photo, id="a", storage="filesystem")
    small = save(smooth(100, 100), tmp_path / "small.png")
    add_by_form(folder, small, id="b", storage="filesystem")
    with zope_root(commit=False) as app:
        uid_a = app[folder]["a"].uid
    base = "%s/%s/b/" % (BASE, folder)
    for name in ["TileGroup0/1-1-0.jpg",
                 "TileGroup0/..%%2F..%%2F%s%%2F%s%%2FTileGroup0%%2F0-0-0.jpg"
                 % (uid_a[:2], uid_a)]:
        assert status(fetch(base + name)) == 404, name


def test_private_image_tiles_refuse_anonymous(folder, photo):
    add_by_form(folder, photo, id="secret")
    url = "%s/%s/secret" % (BASE, folder)
    assert status(fetch(url + "/TileGroup0/0-0-0.jpg")) == 200
    with zope_root() as app:
        app[folder]["secret"].manage_permission("View", ["Manager"],
                                                acquire=0)
    for path in ["/TileGroup0/0-0-0.jpg", "/ImageProperties.xml",
                 "/download", ""]:
        anonymous = fetch(url + path)
        assert status(anonymous) in (401, 403), path
        assert anonymous.headers.get("Content-Type") != "image/jpeg"
    assert status(fetch(url + "/TileGroup0/0-0-0.jpg", login=True)) == 200


def test_bad_file_through_add_form_adds_nothing(folder, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg at all" * 100)
    b = add_by_form(folder, str(bad), id="broken")
    assert status(b) == 400
    assert "broken.jpg" in b.contents and "not an image" in b.contents
    with zope_root(commit=False) as app:
        assert "broken" not in app[folder].objectIds()


def test_bad_file_through_edit_keeps_everything(folder, photo, tmp_path):
    add_by_form(folder, photo, id="p", storage="filesystem")
    base = "%s/%s/p" % (BASE, folder)
    before = fetch(base + "/TileGroup0/0-0-0.jpg").contents
    original = fetch(base + "/download", login=True).contents
    bad = tmp_path / "truncated.png"
    data = open(save(smooth(500, 500), tmp_path / "w.png"), "rb").read()
    bad.write_bytes(data[:len(data) // 3])
    b = browser()
    b.open(base + "/manage_main")
    b.getControl(name="title").value = "changed"
    with open(bad, "rb") as f:
        b.getControl(name="file").add_file(f, "image/png", "truncated.png")
        b.getControl("Save Changes").click()
    assert status(b) == 400
    assert "truncated.png" in b.contents
    assert fetch(base + "/TileGroup0/0-0-0.jpg").contents == before
    assert fetch(base + "/download", login=True).contents == original
    with zope_root(commit=False) as app:
        image = app[folder]["p"]
        assert image.title == "" and image.width == 1300
        assert image.filename == "harbour.jpg"


def test_download_original_with_ranges(folder, photo):
    add_by_form(folder, photo, id="p")
    data = open(photo, "rb").read()
    url = "%s/%s/p/download" % (BASE, folder)
    whole = fetch(url, login=True)
    assert status(whole) == 200
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert "harbour.jpg" in whole.headers["Content-Disposition"]
    b = browser(login=True)
    b.addHeader("Range", "bytes=10-99")
    b.open(url)
    assert status(b) == 206
    assert b.headers["Content-Range"] == "bytes 10-99/%d" % len(data)
    assert b.headers["Content-Length"] == "90"
    b = browser(login=True)
    b.addHeader("Range", "bytes=%d-" % (len(data) + 5))
    b.open(url)
    assert status(b) == 416


def test_switching_storage_moves_tiles(folder, photo):
    add_by_form(folder, photo, id="p", storage="zodb")
    url = "%s/%s/p/TileGroup0/1-0-0.jpg" % (BASE, folder)
    before = fetch(url).contents
    b = browser()
    b.open("%s/%s/p/manage_main" % (BASE, folder))
    b.getControl(name="storage").value = ["filesystem"]
    b.getControl("Save Changes").click()
    assert ">filesystem<" in b.contents
    with zope_root(commit=False) as app:
        image = app[folder]["p"]
        assert image._store.kind == "filesystem"
        path = os.path.join(image._store.directory(), "TileGroup0",
                            "1-0-0.jpg")
    assert open(path, "rb").read() == before  # moved, not re-encoded
    assert fetch(url).contents == before
    # and back
    b.getControl(name="storage").value = ["zodb"]
    b.getControl("Save Changes").click()
    assert fetch(url).contents == before
    # the filesystem set is no longer used: the sweep removes it
    from ZoomifyImage.sweep import sweep
    with zope_root(commit=False) as app:
        db = app._p_jar.db()
    sweep(db, tile_root(), trash_days=0, grace=0)
    assert not os.path.exists(path)


def test_quality_override_retiles(folder, photo):
    add_by_form(folder, photo, id="p")
    url = "%s/%s/p/TileGroup0/2-0-0.jpg" % (BASE, folder)
    size = len(fetch(url).contents)
    b = browser()
    b.open("%s/%s/p/manage_main" % (BASE, folder))
    b.getControl(name="quality").value = "20"
    b.getControl("Save Changes").click()
    assert len(fetch(url).contents) < size * 0.8


def test_x_sendfile_header_for_a_front_end(folder, photo, zope_settings):
    add_by_form(folder, photo, id="p", storage="filesystem")
    zope_settings(**{"x-sendfile-header": "X-Accel-Redirect",
                     "x-sendfile-prefix": "/protected-tiles/"})
    b = fetch("%s/%s/p/TileGroup0/1-0-0.jpg" % (BASE, folder))
    assert status(b) == 200 and not b.contents
    with zope_root(commit=False) as app:
        image = app[folder]["p"]
        uid, set_id = image.uid, image._store.set_id
    assert b.headers["X-Accel-Redirect"] == (
        "/protected-tiles/%s/%s/%s/TileGroup0/1-0-0.jpg"
        % (uid[:2], uid, set_id))
    assert b.headers["Content-Type"] == "image/jpeg"
    # the permission check still happens in Zope first
    with zope_root() as app:
        app[folder]["p"].manage_permission("View", ["Manager"], acquire=0)
    assert status(fetch("%s/%s/p/TileGroup0/1-0-0.jpg" % (BASE, folder))) \
        in (401, 403)
