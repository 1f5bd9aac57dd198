"""Issue 11: nginx in front of Zope with docs/nginx.conf, the configuration
docs/frontend.txt shows: public tiles come from nginx's cache, private ones go
through Zope's permission check every time (for the filesystem store
nginx then sends the file, X-Accel-Redirect), and nginx's workers run as
www-data and can read the tile files."""

import glob
import os
import time

import pytest

from tests import nginx_fixture
from tests.http_upload import get
from tests.http_upload import post
from tests.http_upload import post_form
from tests.images import save
from tests.images import smooth
from tests.nginx_fixture import Nginx
from tests.nginx_fixture import front_end_servers
from tests.nginx_fixture import zope_behind_nginx
from tests.zope_fixtures import ADMIN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TILE = "TileGroup0/2-2-1.jpg"

pytestmark = pytest.mark.skipif(
    nginx_fixture.missing() is not None or os.geteuid() != 0,
    reason=nginx_fixture.missing() or "nginx's workers run as www-data "
    "only when root starts it")


class Site:
    """Zope with images, public and private, in both stores (by default)
    behind nginx."""

    def __init__(self, tmp, images=("fs", "db", "fs_private", "db_private")):
        self.zope = zope_behind_nginx().start()
        path = save(smooth(1500, 1000), tmp / "pic.jpg", quality=90)
        for name in images:
            store = "filesystem" if name.startswith("fs") else "zodb"
            status, body = post_form(
                self.zope.url + "/manage_addProduct/ZoomifyImage/"
                "manage_addZoomifyImage", {"id": name, "storage": store},
                "file", path, ADMIN)
            assert status == 302, body[:300]
        for name in [i for i in images if i.endswith("_private")]:
            status, headers, body = post(
                "%s/%s/manage_permission" % (self.zope.url, name),
                {"permission_to_manage": "View", "roles:list": "Manager",
                 "acquire:int": "0"}, ADMIN)
            assert status == 200, body[:300]
        self.nginx = Nginx(lambda n: front_end_servers(
            self.zope.port, self.zope.tile_root, n.prefix, n.port)).start()

    def version(self, image):
        """(uid, set id): the set from the ETag Zope sends ("zi-KEY-SET",
        KEY never the uid: issue 23, L1), the uid from where that set lies
        under tile-root (ab/UID/SET; None for the ZODB store)."""
        status, headers, body = get("%s/%s/%s" % (
            self.zope.url, image, TILE), auth=ADMIN)
        assert status == 200
        zi, key, set_id = headers["ETag"].strip('"').split("-")
        found = glob.glob(os.path.join(self.zope.tile_root, "*", "*",
                                       set_id))
        uid = os.path.basename(os.path.dirname(found[0])) if found else None
        return uid, set_id

    def stop(self):
        self.nginx.stop()
        self.zope.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = Site(tmp_path_factory.mktemp("frontend"))
    yield s
    s.stop()


def test_the_manual_shows_the_tested_configuration():
    with open(os.path.join(ROOT, "docs", "nginx.conf")) as f:
        tested = "".join("    " + line if line.strip() else "\n"
                         for line in f)
    with open(os.path.join(ROOT, "docs", "frontend.txt")) as f:
        assert tested in f.read()


def test_workers_run_as_www_data(site):
    assert site.nginx.worker_users() == {"www-data"}


def tile_url(base, image, set_id, form="path"):
    """A tile's URL that names its set: the viewer's (IMAGE/v/SET/TILE),
    or ?v=SET as pages made before it ask."""
    if form == "query":
        return "%s/%s/%s?v=%s" % (base, image, TILE, set_id)
    return "%s/%s/v/%s/%s" % (base, image, set_id, TILE)


@pytest.mark.parametrize("form", ["path", "query"])
@pytest.mark.parametrize("image", ["fs", "db"])
def test_public_tiles_come_from_the_cache(site, image, form):
    uid, set_id = site.version(image)
    url = tile_url(site.nginx.url, image, set_id, form)
    status, headers, first = get(url)
    assert status == 200 and first[:2] == b"\xff\xd8"
    assert headers["X-Cache-Status"] == "MISS"
    assert "immutable" in headers["Cache-Control"]
    status, headers, again = get(url)
    assert status == 200 and again == first
    assert headers["X-Cache-Status"] == "HIT"
    # what Zope and its server are is not told (nor kept in the cache),
    # with tiles or with pages
    assert "X-Powered-By" not in headers and "Via" not in headers
    status, headers, page = get("%s/%s" % (site.nginx.url, image))
    assert status == 200 and b"zoomify" in page
    assert "X-Powered-By" not in headers and "Via" not in headers
    # the key holds the set's version: another version is another entry
    other = tile_url(site.nginx.url, image, set_id + "0", form)
    status, headers, body = get(other)
    assert status == 200 and headers["X-Cache-Status"] == "MISS"
    assert "immutable" not in headers["Cache-Control"]
    # nor does a URL with more in its query share the viewer's entry (Zope
    # may answer it otherwise, and it must not fill the viewer's)
    status, headers, body = get(url + ("&" if "?" in url else "?") + "x=1")
    assert status == 200 and headers["X-Cache-Status"] == "MISS"


def test_the_cache_answers_while_zope_is_down(tmp_path):
    site = Site(tmp_path, images=["db"])
    try:
        uid, set_id = site.version("db")
        url = tile_url(site.nginx.url, "db", set_id)
        status, headers, body = get(url)
        assert status == 200
        site.zope.stop()
        status, headers, again = get(url)
        assert status == 200 and again == body
        assert headers["X-Cache-Status"] == "HIT"
        # what is not cached needs Zope
        assert get(site.nginx.url + "/db/")[0] == 502
        assert "X-Powered-By" not in headers
    finally:
        site.stop()


@pytest.mark.parametrize("form", ["path", "query"])
@pytest.mark.parametrize("image", ["fs_private", "db_private"])
def test_private_tiles_ask_zope_every_time(site, image, form):
    uid, set_id = site.version(image)
    url = tile_url(site.nginx.url, image, set_id, form)
    for _ in range(2):
        status, headers, body = get(url, auth=ADMIN)
        assert status == 200 and body[:2] == b"\xff\xd8"
        assert headers["Cache-Control"].startswith("private")
        assert "X-Powered-By" not in headers and "Via" not in headers
        assert headers["X-Cache-Status"] == "MISS"
        # the manager fetched it; anonymous is still refused, by Zope
        for _ in range(3):
            status, headers, refused = get(url)
            assert status == 401 and b"\xff\xd8" not in refused
    if image == "fs_private":
        # Zope only names the file; nginx (www-data) sent it from disc
        zope_url = url.replace(site.nginx.url, site.zope.url)
        status, headers, empty = get(zope_url, auth=ADMIN)
        assert status == 200 and empty == b""
        accel = headers["X-Accel-Redirect"]
        assert accel == "/protected-tiles/%s/%s/%s/%s" % (
            uid[:2], uid, set_id, TILE)
        path = os.path.join(site.zope.tile_root, uid[:2], uid, set_id, TILE)
        with open(path, "rb") as f:
            assert f.read() == body
        # the internal location cannot be asked from outside
        for who in (False, True):
            status, headers, refused = get(site.nginx.url + accel,
                                           auth=ADMIN if who else None)
            assert status == 404 and b"\xff\xd8" not in refused
    assert "Permission denied" not in site.nginx.error_log()


@pytest.mark.parametrize("image", ["fs_private", "db_private"])
def test_private_tiles_asked_at_once_do_not_wait(site, image):
    """Several viewers of a private image ask the same tile at once: each
    answer comes as soon as Zope gives it. (With proxy_cache_lock, nginx
    held all but one request for half a second or more, waiting for a
    cache entry that a private answer never makes: p99 near 1 s.)"""
    import statistics
    import threading
    uid, set_id = site.version(image)
    url = tile_url(site.nginx.url, image, set_id)
    times = []
    for _ in range(3):
        start = threading.Barrier(8)

        def ask():
            start.wait()
            began = time.monotonic()
            status, headers, body = get(url, auth=ADMIN)
            assert status == 200 and body[:2] == b"\xff\xd8"
            times.append(time.monotonic() - began)
        threads = [threading.Thread(target=ask) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(times) == 24
    # Zope answers a tile in milliseconds; a lock wait is 500 ms at least
    assert statistics.median(times) < 0.3, sorted(times)


def test_nginx_reads_every_file_of_a_set(site):
    """Directories and files the filesystem store writes are readable by
    www-data (no 403), through X-Accel-Redirect."""
    uid, set_id = site.version("fs_private")
    folder = os.path.join(site.zope.tile_root, uid[:2], uid, set_id)
    names = ["ImageProperties.xml"] + [
        "%s/%s" % (group, name) for group in os.listdir(folder)
        if group.startswith("TileGroup")
        for name in os.listdir(os.path.join(folder, group))]
    for name in names:
        status, headers, body = get("%s/fs_private/%s" % (
            site.nginx.url, name), auth=ADMIN)
        assert status == 200, (name, status)
        with open(os.path.join(folder, name), "rb") as f:
            assert f.read() == body


@pytest.mark.parametrize("image", ["fs", "db", "fs_private", "db_private"])
def test_other_sites_may_read_public_tiles_only(site, image):
    """OpenLayers with crossOrigin (WebGL, canvas export) on another site:
    public tiles and ImageProperties.xml carry CORS, from Zope, from
    nginx's cache, and sent from tile-root by X-Accel-Redirect; private
    ones never."""
    uid, set_id = site.version(image)
    base = "%s/%s/v/%s/" % (site.nginx.url, image, set_id)
    public = not image.endswith("_private")
    for url in (base + TILE, base + "ImageProperties.xml"):
        for _ in range(2):  # MISS, then HIT for a public one
            status, headers, body = get(url, auth=None if public
                                        else ADMIN)
            assert status == 200
            if public:
                assert headers.get("Access-Control-Allow-Origin") == "*"
            else:
                assert "Access-Control-Allow-Origin" not in headers


@pytest.mark.parametrize("path", [
    "/VirtualHostBase/http/evil.example:80/VirtualHostRoot/fs",
    "/fs/VirtualHostBase/http/evil.example:80/fs",
    "/VirtualHostRoot/_vh_/_vh_evil/fs"])
def test_a_clients_own_virtual_host_is_refused(site, path):
    """Issue 23, H1: only the front-end chooses the host Zope names."""
    status, headers, body = get(site.nginx.url + path)
    assert status == 404
    assert b"evil" not in body
    status, headers, body = get(site.nginx.url + "/fs")
    assert status == 200 and b"evil" not in body
