"""A worker whose client's blob cache (blob-cache-size) is smaller than
the original it tiles says so: a warning in the log, and on the image's
Edit tab for the manager (blob_cache.py). A real ZEO server and a Zope
client of it, whose cache is 50 KB (the original: some 90 KB)."""

from tests.http_upload import get
from tests.images import big_jpeg
from tests.zope_fixtures import ADMIN
from tests.zope_fixtures import ZEOServer
from tests.zope_fixtures import ZopeServer

WARNING = "bigger than this Zope client's blob cache"


def test_an_original_bigger_than_the_blob_cache_is_named(tmp_path):
    photo = big_jpeg(str(tmp_path / "photo.jpg"), 1400, 1000)
    zeo = ZEOServer().start()
    client = ZopeServer(zeo=zeo.address, blob_cache_size="50KB",
                        settings={"background-megapixels": "1"})
    try:
        client.start()
        client.add(photo, "photo")
        client.wait_for("photo", ["ready", "failed"], timeout=60)
        # tiled all the same
        assert client.job_status("photo")["status"] == "ready"
        log = client.log_text()
        assert WARNING in log and "blob-cache-size 50.0 KB" in log, log
        code, _, page = get(client.url + "/photo/manage_main", auth=ADMIN)
        assert code == 200
        assert b'id="zoomify-job-warning"' in page
        assert b"blob-cache-size 50.0 KB" in page, page[-3000:]
        # nothing of the sort to visitors
        assert WARNING.encode() not in get(client.url + "/photo")[2]
    finally:
        client.stop()
        zeo.stop()
