"""Issue 11, the short load test: wrk at 16 connections for a few seconds
against the tiles of each store in a real runwsgi (loopback only). No
errors, and Zope's memory does not grow once warm.
benchmarks/bench_serving.py is the long version, with the figures."""

import pytest

from tests import nginx_fixture
from tests.http_upload import get
from tests.http_upload import post_form
from tests.images import save
from tests.images import smooth
from tests.nginx_fixture import wrk
from tests.zope_fixtures import ADMIN
from tests.zope_fixtures import ZopeServer
from ZoomifyImage.pyramid import Layout

SIZE = (2000, 1500)

pytestmark = pytest.mark.skipif(
    not nginx_fixture.has_wrk(),
    reason="wrk is not installed (make test installs it)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = ZopeServer(storage="filesystem").start()
    path = save(smooth(*SIZE), tmp_path_factory.mktemp("load") / "p.jpg",
                quality=90)
    for store in ("filesystem", "zodb"):
        status, body = post_form(
            s.url + "/manage_addProduct/ZoomifyImage/manage_addZoomifyImage",
            {"id": store, "storage": store}, "file", path, ADMIN)
        assert status == 302, body[:300]
    yield s
    s.stop()


@pytest.mark.parametrize("store", ["filesystem", "zodb"])
def test_tiles_under_load(server, store):
    code, headers, body = get("%s/%s/TileGroup0/0-0-0.jpg"
                              % (server.url, store))
    etag = {k.lower(): v for k, v in headers.items()}["etag"]
    set_id = etag.strip('"').rsplit("-", 1)[1]
    # as the viewer asks: random tiles of the set, with its version
    paths = ["/%s/v/%s/%s" % (store, set_id, name)
             for name in Layout(*SIZE).tile_names()]
    warm = wrk(server.url, paths, 1, 16)
    before = server.memory_kb()
    run = wrk(server.url, paths, 4, 16)
    after = server.memory_kb()
    assert warm["errors"] == 0 and run["errors"] == 0, (warm, run)
    assert run["requests"] > 100, run
    assert run["bytes"] > 1000, run  # tiles, not error pages
    assert after <= before * 1.1, "RSS %d KB -> %d KB" % (before, after)
