"""What a newcomer and the hostile review hit around the management flow
(issue 23): the instance's files, zoomify-import beside a running site,
the iiif-rights setting, CORS of Zoomify tiles, failed first tilings,
the Flash choice and server paths in tiling errors."""

import os
import stat
import subprocess
import urllib.parse

import pytest

from tests.browser_pages import needs_chromium
from tests.images import save
from tests.images import smooth
from tests.zope_fixtures import ADMIN
from tests.zope_fixtures import BASE
from tests.zope_fixtures import ZopeServer
from tests.zope_fixtures import add
from tests.zope_fixtures import add_by_form
from tests.zope_fixtures import browser
from tests.zope_fixtures import fetch
from tests.zope_fixtures import import_command
from tests.zope_fixtures import product_config
from tests.zope_fixtures import status
from tests.zope_fixtures import zope_root
from ZoomifyImage import jobs


@pytest.fixture(scope="module")
def server():
    """A Zope process of its own, on a FileStorage instance that
    make start's instance.py wrote."""
    s = ZopeServer().start()
    yield s
    s.stop()


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# ---------------------------------------------------------------- L8

def test_database_files_are_for_the_zope_user_only(server):
    var = os.path.join(server.home, "var")
    # the site has started: Zope has written into them
    assert os.path.getsize(os.path.join(var, "Data.fs")) > 4
    # password hashes and the tiles of private images are in these
    assert mode(os.path.join(var, "Data.fs")) == 0o600
    assert mode(os.path.join(var, "Data.fs.tmp")) == 0o600
    assert mode(os.path.join(var, "blobs")) == 0o700


def test_an_existing_database_is_made_private_at_the_next_start(tmp_path):
    from ZoomifyImage.instance import write_instance
    home = str(tmp_path / "old")
    write_instance(home, admin=("admin", "x"))
    data_fs = os.path.join(home, "var", "Data.fs")
    with open(data_fs, "wb") as f:  # a database from before the fix
        f.write(b"FS21")
    os.chmod(data_fs, 0o644)
    os.chmod(os.path.join(home, "var", "blobs"), 0o755)
    write_instance(home, admin=("admin", "x"))
    assert mode(data_fs) == 0o600
    assert mode(os.path.join(home, "var", "blobs")) == 0o700
    with open(data_fs, "rb") as f:
        assert f.read() == b"FS21"  # kept as it was


# -------------------------------------------------- zoomify-import, lock

def test_import_while_the_site_runs_says_so_in_one_line(server, tmp_path):
    photo = save(smooth(300, 200), tmp_path / "p.png")
    result = subprocess.run(
        [import_command(), "--zope-conf", server.conf, photo],
        capture_output=True, text=True)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "the site is running" in lines[0]
    assert "stop it" in lines[0] and "ZEO" in lines[0]


# ------------------------------------------------------------ iiif-rights

GOOD_RIGHTS = [
    "http://creativecommons.org/licenses/by/4.0/",
    "https://creativecommons.org/licenses/by-nc-sa/3.0/de/",
    "http://creativecommons.org/publicdomain/zero/1.0/",
    "http://creativecommons.org/publicdomain/mark/1.0/",
    "http://rightsstatements.org/vocab/InC-EDU/1.0/",
    "http://rightsstatements.org/vocab/NoC-US/1.0/",
]
BAD_RIGHTS = [
    "not a licence",
    "CC-BY 4.0",
    "http://creativecommons.org/licenses/by/4.0/deed.en",
    "http://creativecommons.org/licenses/by/4.0",
    "https://en.wikipedia.org/wiki/License",
    "http://rightsstatements.org/page/InC/1.0/",
    "javascript:alert(1)//creativecommons.org/licenses/by/4.0/",
]


@pytest.mark.parametrize("value", GOOD_RIGHTS)
def test_iiif_rights_takes_the_uris_iiif_allows(value):
    from ZoomifyImage import config
    # both bodies define http URIs: the https form is taken as the same
    assert config.load({"iiif-rights": value}).iiif_rights == \
        value.replace("https://", "http://")


@pytest.mark.parametrize("value", BAD_RIGHTS)
def test_iiif_rights_refuses_other_text(value):
    from ZoomifyImage import config
    with pytest.raises(config.ConfigError) as info:
        config.load({"iiif-rights": value})
    message = str(info.value)
    assert "iiif-rights %s" % value in message
    assert "creativecommons.org" in message and "rightsstatements.org" \
        in message


def test_bad_iiif_rights_stop_zope_at_start_up():
    s = ZopeServer(settings={"iiif-rights": "not-a-licence"})
    with pytest.raises(RuntimeError) as info:
        s.start(timeout=60)
    assert "iiif-rights not-a-licence" in str(info.value)


# ------------------------------------------- Edit tab after Retile, Save

def edit_tab_after(page, url, act):
    """Open the Edit tab, ``act`` on it, and look at it again after the
    page's own refresh (every 3 s while a job waits) has come."""
    page.goto(url + "/manage_main")
    with page.expect_navigation():
        act()
    said = page.text_content("body")
    # the page's own refresh (3 s), and what it brought
    with page.expect_navigation(timeout=15000):
        pass
    page.wait_for_load_state()
    return said, page.url, page.content()


@needs_chromium
def test_edit_tab_keeps_showing_progress_after_retile_and_save(
        small_threshold, folder, local_url, chromium, tmp_path):
    path = save(smooth(1500, 1000), tmp_path / "big.png")
    jobs.pool.pause()  # the job waits: the Edit tab refreshes itself
    add(folder, path, "big")
    url = "%s/%s/big" % (local_url, folder)
    context = chromium.new_context(
        http_credentials={"username": ADMIN[0], "password": ADMIN[1]})
    page = context.new_page()
    try:
        said, now, html = edit_tab_after(
            page, url, lambda: page.click("input[name=retile]"))
        assert "Retiling in the background." in said
        assert "Site Error" not in html and "Resource not found" not in html
        assert 'id="zoomify-progress"' in html  # queued: the progress row
        assert now.split("?")[0] == url + "/manage_main"

        def save_quality():
            page.fill("#quality", "70")
            page.click("input[name=submit]")
        said, now, html = edit_tab_after(page, url, save_quality)
        assert "Saved changes." in said
        assert "Site Error" not in html and "Resource not found" not in html
        assert 'id="zoomify-progress"' in html
        assert now.split("?")[0] == url + "/manage_main"
    finally:
        context.close()


# ------------------------------------------------------------ Flash viewer

def post(url, data, login=True):
    b = browser(login=login)
    b.post(url, urllib.parse.urlencode(data),
           "application/x-www-form-urlencoded")
    return b


def viewer_of(folder, id="img"):
    with zope_root(commit=False) as app:
        return app[folder][id].viewer


def test_flash_is_offered_only_with_a_flash_viewer_url(folder, photo):
    url = add(folder, photo)
    b = browser()
    b.open(url + "/manage_main")
    assert 'value="flash"' not in b.contents
    b = post(url + "/manage_edit", {"viewer": "flash"})
    assert status(b) == 400
    assert "flash-viewer-url" in b.contents  # the manager is told why
    assert viewer_of(folder) == "openseadragon"
    with product_config(**{"flash-viewer-url": "/Viewer.swf"}):
        b = browser()
        b.open(url + "/manage_main")
        assert 'value="flash"' in b.contents
        b = post(url + "/manage_edit", {"viewer": "flash"})
        assert status(b) == 200 and "Saved changes." in b.contents
    assert viewer_of(folder) == "flash"


def test_visitors_never_see_the_flash_settings_text(folder, photo):
    url = add(folder, photo)
    with product_config(**{"flash-viewer-url": "/Viewer.swf"}):
        post(url + "/manage_edit", {"viewer": "flash"})
    assert viewer_of(folder) == "flash"
    # the setting is gone (a new zope.conf): the visitor gets a viewer
    b = browser(login=False)
    b.open(url)
    assert status(b) == 200
    assert "flash-viewer-url" not in b.contents
    assert "product-config" not in b.contents
    assert "zoomifyImageQueue" in b.contents  # OpenSeadragon
    with zope_root(commit=False) as app:
        html = app[folder]["img"].flash_tag(width=500, height=300)
    assert "flash-viewer-url" not in html and "<object" not in html
    assert "zoomifyImageQueue" in html and "width:500px" in html


# ------------------------------------------------------- CORS of tiles

def tile_urls(folder, id):
    with zope_root(commit=False) as app:
        set_id = app[folder][id].tiles_set()
    url = "%s/%s/%s" % (BASE, folder, id)
    return [url + "/ImageProperties.xml", url + "/TileGroup0/0-0-0.jpg",
            url + "/TileGroup0/0-0-0.jpg?v=" + set_id,
            "%s/v/%s/ImageProperties.xml" % (url, set_id),
            "%s/v/%s/TileGroup0/0-0-0.jpg" % (url, set_id)]


@pytest.mark.parametrize("storage", ["zodb", "filesystem", "s3"])
def test_public_tiles_may_be_read_by_other_sites(folder, photo, storage,
                                                 request):
    if storage == "s3":
        request.getfixturevalue("s3_settings")
    add(folder, photo, "pub", storage=storage)
    for url in tile_urls(folder, "pub"):
        b = fetch(url, headers=[("Origin", "http://other.example")])
        assert status(b) == 200, url
        assert b.headers.get("Access-Control-Allow-Origin") == "*", url
    # as IIIF's answers do
    b = fetch("%s/%s/pub/iiif/info.json" % (BASE, folder))
    assert b.headers.get("Access-Control-Allow-Origin") == "*"


@pytest.mark.parametrize("storage", ["zodb", "filesystem", "s3"])
def test_private_tiles_are_for_no_other_site(folder, photo, storage,
                                             request):
    if storage == "s3":
        request.getfixturevalue("s3_settings")
    add(folder, photo, "priv", storage=storage)
    with zope_root() as app:
        app[folder]["priv"].manage_permission("View", ["Manager"], 0)
    for url in tile_urls(folder, "priv"):
        assert status(fetch(url)) == 401, url
        b = fetch(url, login=True,
                  headers=[("Origin", "http://other.example")])
        assert status(b) == 200, url
        assert "Access-Control-Allow-Origin" not in b.headers, url


# ------------------------------------------------ a failed first tiling

def add_damaged_big(folder, tmp_path):
    """A truncated JPEG over the background threshold: its header reads,
    so it is added and its job fails. Its URL."""
    whole = save(smooth(1500, 1000), tmp_path / "whole.jpg", quality=90)
    data = open(whole, "rb").read()
    path = tmp_path / "trunc.jpg"
    path.write_bytes(data[:len(data) // 2])
    url = add(folder, str(path), "trunc")
    assert jobs.pool.wait(60)
    with zope_root(commit=False) as app:
        assert app[folder]["trunc"].current_status() == "failed"
    return url


VISITOR_NAMES = ["", "/view", "/download.jpg",
                 "/ImageProperties.xml", "/TileGroup0/0-0-0.jpg",
                 "/iiif/info.json", "/iiif/full/max/0/default.jpg",
                 "/manifest.json"]


def test_a_failed_first_tiling_is_invisible_to_visitors(
        small_threshold, folder, tmp_path):
    url = add_damaged_big(folder, tmp_path)
    for name in VISITOR_NAMES:
        b = fetch(url + name)
        assert status(b) == 404, name
        assert "damaged" not in b.contents, name
    # the manager sees why, where he looks
    b = fetch(url + "/manage_main", login=True)
    assert status(b) == 200
    assert "the image data is damaged" in b.contents
    assert "0.0 megapixels" not in b.contents
    assert "by )" not in b.contents and "cut in 0.0 s" not in b.contents
    b = fetch(url, login=True)
    assert status(b) == 200 and "the image data is damaged" in b.contents
    b = fetch(url + "/download", login=True)
    assert status(b) == 200  # the manager may fetch what he uploaded
    # and the folder listing marks it
    b = fetch("%s/%s/manage_main" % (BASE, folder), login=True)
    assert "fa-exclamation-triangle text-danger" in b.contents


# ------------------------------------------- L5: no server path in errors

@pytest.fixture
def full_tile_root(tmp_path, zope_settings):
    """A 1 MB tmpfs as the tile root: a real disc that fills up."""
    from tests.zope_fixtures import tmpfs
    with tmpfs(tmp_path / "tiny-tile-root", "1m") as mount:
        zope_settings(**{"tile-root": mount})
        yield mount


def noise(tmp_path, side=1500):
    import numpy
    pixels = numpy.random.default_rng(7).integers(
        0, 255, (side, side, 3), dtype=numpy.uint8)
    return save(pixels, tmp_path / "noise.png")  # tiles of over 1 MB


def test_a_full_disc_is_told_without_server_paths(folder, tmp_path,
                                                  full_tile_root):
    b = add_by_form(folder, noise(tmp_path), "full", storage="filesystem")
    assert status(b) == 400
    assert "No space left on device" in b.contents
    assert full_tile_root not in b.contents
    assert str(tmp_path) not in b.contents
    # named from the tile root: what an admin needs, nothing more
    assert ".partial/" in b.contents


def test_a_background_job_on_a_full_disc_is_told_without_paths(
        small_threshold, folder, tmp_path, full_tile_root):
    add(folder, noise(tmp_path), "full", storage="filesystem")
    assert jobs.pool.wait(60)
    for page in ("/manage_main", ""):
        b = fetch("%s/%s/full%s" % (BASE, folder, page), login=True)
        assert "No space left on device" in b.contents, page
        assert full_tile_root not in b.contents, page


def test_a_file_where_the_tile_root_needs_a_directory(folder, tmp_path,
                                                      zope_settings):
    root = tmp_path / "root"
    root.mkdir()
    (root / ".partial").write_text("not a directory")
    zope_settings(**{"tile-root": str(root)})
    b = add_by_form(folder, save(smooth(300, 200), tmp_path / "s.png"),
                    "blocked", storage="filesystem")
    assert status(b) == 400
    assert "cannot write tiles under the tile root" in b.contents
    assert "tile-root" in b.contents  # the setting to look at
    assert str(tmp_path) not in b.contents


def test_without_server_paths_leaves_other_text_alone(zope_settings):
    from ZoomifyImage.serving import without_server_paths
    zope_settings(**{"tile-root": "/srv/tiles"})
    assert without_server_paths(
        "/srv/tiles/.partial/ab-1/TileGroup0/4-0-6.jpg: cannot write the "
        "tile (No space left on device)") == (
        ".partial/ab-1/TileGroup0/4-0-6.jpg: cannot write the tile (No "
        "space left on device)")
    assert without_server_paths("/srv/tiles: cannot write tiles") == \
        "tile-root: cannot write tiles"
    assert without_server_paths(
        "cannot read /var/lib/zope/blobs/0x00/0x1f/x.blob (gone)") == \
        "cannot read x.blob (gone)"
    for text in ("photo.jpg: the image data is damaged: 1/2 read",
                 "Content-Type must be application/offset+octet-stream.",
                 "see https://example.org/a/b and http://x/y", ""):
        assert without_server_paths(text) == text


def test_a_refused_change_refreshes_the_edit_tab_by_its_own_url(
        small_threshold, folder, tmp_path):
    # a refusal is answered in place (400, with the form as it was sent):
    # its refresh, while a job waits, must not ask the POST's URL again
    jobs.pool.pause()
    url = add(folder, save(smooth(1500, 1000), tmp_path / "big.png"), "big")
    b = post(url + "/manage_edit", {"quality": "abc"})
    assert status(b) == 400 and "JPEG quality" in b.contents
    # (a path: the host of the request may be a client's, issue 23 H1)
    assert '<meta http-equiv="refresh" content="3; url=%s/manage_main" />' \
        % urllib.parse.urlsplit(url).path in b.contents
