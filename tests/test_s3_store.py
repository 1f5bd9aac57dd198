"""The S3 tile store end to end, on a real SeaweedFS (the session's, see
conftest.seaweedfs): an image added with storage s3 through the
publisher, its viewer's tiles and IIIF served by Zope; a public set with
s3-tile-url fetched by viewers straight from the bucket (HTTP on
loopback), a private one only through Zope; the settings and what goes
wrong. The store contract (the same tests as every store) is in
test_stores.py and test_two_phase.py."""

import io
import json
import urllib.error
import urllib.request

import pytest
from PIL import Image

from tests.images import save
from tests.images import smooth
from tests.seaweedfs_fixture import BUCKET
from tests.seaweedfs_fixture import PUBLIC_BUCKET
from tests.test_viewer_pages import Elements
from tests.test_viewer_pages import settings_of
from tests.zope_fixtures import BASE
from tests.zope_fixtures import add_by_form
from tests.zope_fixtures import browser
from tests.zope_fixtures import fetch
from tests.zope_fixtures import status
from tests.zope_fixtures import zope_root
from ZoomifyImage import config

PHOTO = {"width": 700, "height": 500, "name": "photo.jpg", "quality": 90}


def viewer_settings(url):
    """The settings of the viewer on an image's page, as a visitor gets
    it."""
    b = fetch(url)
    assert status(b) == 200
    script = [s for s in Elements(b.contents).scripts if "tilesUrl" in s]
    return settings_of(script[0])


def get_url(url):
    """(status, bytes) of a GET over HTTP."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def jpeg_size(data):
    assert data[:2] == b"\xff\xd8"
    return Image.open(io.BytesIO(data)).size


def test_an_image_on_s3_is_served_by_zope(folder, photo, s3_settings,
                                          seaweedfs):
    b = add_by_form(folder, photo, "ons3", storage="s3")
    assert status(b) == 200
    url = "%s/%s/ons3" % (BASE, folder)
    with zope_root(commit=False) as app:
        image = app[folder]["ons3"]
        assert image.storage == "s3" and image.tile_set().store.kind == "s3"
        uid, set_id = image.uid, image.tiles_set()
    # the set is in the bucket under the prefix, laid out as Zoomify's
    keys = seaweedfs.keys(prefix=s3_settings + "/")
    place = "%s/%s/%s/%s/" % (s3_settings, uid[:2], uid, set_id)
    assert place + "ImageProperties.xml" in keys
    assert place + "TileGroup0/0-0-0.jpg" in keys
    # the viewer's tiles, from Zope (no s3-tile-url)
    tiles = viewer_settings(url)["tilesUrl"]
    assert tiles == "/%s/ons3/v/%s/" % (folder, set_id)
    b = fetch(BASE + tiles + "ImageProperties.xml")
    assert status(b) == 200 and 'WIDTH="700"' in b.contents
    for name in ("TileGroup0/0-0-0.jpg", "TileGroup0/2-2-1.jpg"):
        b = fetch(BASE + tiles + name)
        assert status(b) == 200, name
        assert b.headers["Content-Type"] == "image/jpeg"
        assert "immutable" in b.headers["Cache-Control"]
        assert b._response.body == seaweedfs.client().get_object(
            Bucket=config.settings().s3_bucket,
            Key=place + name)["Body"].read()
    assert status(fetch(BASE + tiles + "TileGroup0/9-0-0.jpg")) == 404
    # IIIF, composed from the tiles in the bucket
    info = json.loads(fetch(url + "/iiif/info.json").contents)
    assert (info["width"], info["height"]) == (700, 500)
    b = fetch(url + "/iiif/full/350,/0/default.jpg")
    assert status(b) == 200 and jpeg_size(b._response.body) == (350, 250)
    b = fetch(url + "/iiif/100,100,200,100/max/0/default.jpg")
    assert status(b) == 200 and jpeg_size(b._response.body) == (200, 100)


def test_a_retile_is_a_new_set_and_the_old_one_waits(folder, photo,
                                                     s3_settings, seaweedfs):
    add_by_form(folder, photo, "again", storage="s3")
    with zope_root(commit=False) as app:
        first = app[folder]["again"].tiles_set()
    with zope_root() as app:
        app[folder]["again"].manage_retile()
    with zope_root(commit=False) as app:
        second = app[folder]["again"].tiles_set()
    assert second != first
    sets = {k.split("/")[-3] for k in seaweedfs.keys(prefix=s3_settings + "/")
            if k.endswith("/TileGroup0/0-0-0.jpg")}
    assert sets == {first, second}  # the first for an Undo, until the sweep
    b = fetch("%s/%s/again/TileGroup0/0-0-0.jpg" % (BASE, folder))
    assert status(b) == 200 and second in b.headers["ETag"]


def test_a_public_set_is_fetched_straight_from_the_bucket(folder, photo,
                                                          seaweedfs,
                                                          s3_settings,
                                                          zope_settings):
    public = "%s/%s/%s" % (seaweedfs.endpoint, PUBLIC_BUCKET, s3_settings)
    zope_settings(**{"s3-bucket": PUBLIC_BUCKET, "s3-tile-url": public})
    add_by_form(folder, photo, "pub", storage="s3")
    url = "%s/%s/pub" % (BASE, folder)
    tiles = viewer_settings(url)["tilesUrl"]
    assert tiles.startswith(public + "/")
    # what a viewer's browser does: GETs on the bucket, no Zope
    code, data = get_url(tiles + "ImageProperties.xml")
    assert code == 200 and b'WIDTH="700"' in data
    code, data = get_url(tiles + "TileGroup0/0-0-0.jpg")
    assert code == 200
    assert data == fetch(url + "/TileGroup0/0-0-0.jpg")._response.body
    # made private: the viewer takes its tiles through Zope's check
    with zope_root() as app:
        app[folder]["pub"].manage_permission("View", ["Manager"], 0)
    assert status(fetch(url)) == 401
    b = browser()
    b.open(url)
    private = settings_of([s for s in Elements(b.contents).scripts
                           if "tilesUrl" in s][0])["tilesUrl"]
    assert private.startswith("/%s/pub/v/" % folder)
    assert status(fetch(BASE + private + "TileGroup0/0-0-0.jpg")) == 401
    b.open(BASE + private + "TileGroup0/0-0-0.jpg")
    assert status(b) == 200 and b.headers["Cache-Control"].startswith(
        "private")


def test_the_private_bucket_serves_nothing_to_visitors(folder, photo,
                                                       seaweedfs,
                                                       s3_settings):
    add_by_form(folder, photo, "priv", storage="s3")
    key = [k for k in seaweedfs.keys(prefix=s3_settings + "/")
           if k.endswith("TileGroup0/0-0-0.jpg")][0]
    code, data = get_url("%s/%s/%s" % (seaweedfs.endpoint,
                                       config.settings().s3_bucket, key))
    assert code == 403


def test_a_bucket_that_refuses_keeps_the_previous_tiles(folder, photo,
                                                        tmp_path,
                                                        s3_settings,
                                                        zope_settings,
                                                        seaweedfs):
    add_by_form(folder, photo, "keep", storage="s3")
    url = "%s/%s/keep" % (BASE, folder)
    old_tile = fetch(url + "/TileGroup0/0-0-0.jpg")._response.body
    zope_settings(**{"s3-bucket": "no-such-bucket"})
    b = browser()
    b.open(url + "/manage_main")
    b.raiseHttpErrors = False
    other = save(smooth(900, 300, seed=3), tmp_path / "other.png")
    with open(other, "rb") as f:
        b.getControl(name="file").add_file(f, "image/png", "other.png")
        b.getControl("Save Changes").click()
    assert status(b) == 400
    assert "S3 bucket no-such-bucket: cannot write tiles (" \
        in b.contents
    assert seaweedfs.endpoint not in b.contents
    zope_settings(**{"s3-bucket": "zoomify-tiles"})
    assert fetch(url + "/TileGroup0/0-0-0.jpg")._response.body == old_tile
    assert b'WIDTH="700"' in fetch(url + "/ImageProperties.xml") \
        ._response.body


def test_tiles_move_between_stores(folder, photo, s3_settings, seaweedfs):
    from tests.zope_fixtures import add
    url = add(folder, photo, "moving", storage="zodb")
    old = fetch(url + "/TileGroup0/1-1-0.jpg")._response.body
    with zope_root() as app:
        app[folder]["moving"].manage_edit(storage="s3")
    with zope_root(commit=False) as app:
        uid = app[folder]["moving"].uid
        assert app[folder]["moving"].tile_set().store.kind == "s3"
    assert [k for k in seaweedfs.keys(prefix=s3_settings + "/")
            if uid in k and k.endswith("1-1-0.jpg")]
    assert fetch(url + "/TileGroup0/1-1-0.jpg")._response.body == old
    with zope_root() as app:
        app[folder]["moving"].manage_edit(storage="filesystem")
    assert fetch(url + "/TileGroup0/1-1-0.jpg")._response.body == old


def test_credentials_from_the_environment(folder, photo, seaweedfs,
                                          s3_settings, zope_settings,
                                          monkeypatch):
    from tests.seaweedfs_fixture import ACCESS_KEY
    from tests.seaweedfs_fixture import SECRET_KEY
    zope_settings(**{"s3-credentials-file": ""})
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    assert status(add_by_form(folder, photo, "env", storage="s3")) == 200
    assert status(fetch("%s/%s/env/TileGroup0/0-0-0.jpg"
                        % (BASE, folder))) == 200
    # wrong ones: refused, and said so
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not the secret")
    from ZoomifyImage.stores import s3
    monkeypatch.setattr(s3, "_client", None)
    b = add_by_form(folder, photo, "wrong", storage="s3")
    assert status(b) == 400 and "cannot write tiles" in b.contents


def test_s3_without_a_bucket_is_refused(folder, photo, zope_settings):
    zope_settings(**{"s3-bucket": ""})
    b = add_by_form(folder, photo, "nobucket", storage="s3")
    assert status(b) == 400
    assert "S3 tile storage is not set up" in b.contents
    with zope_root(commit=False) as app:
        assert "nobucket" not in app[folder].objectIds()


@pytest.mark.parametrize("settings, message", [
    ({"storage": "s3"}, "storage s3: s3-bucket is not set"),
    ({"s3-bucket": "Tiles_2"}, "s3-bucket Tiles_2: must be a bucket name"),
    ({"s3-prefix": "a/../b"}, "s3-prefix a/../b: must be names"),
    ({"s3-endpoint": "127.0.0.1:8333"}, "must be an http(s) URL"),
])
def test_bad_s3_settings_stop_the_start(settings, message):
    with pytest.raises(config.ConfigError) as info:
        config.load(settings)
    assert message in str(info.value)


def test_a_credentials_file_without_keys_is_named(tmp_path):
    from ZoomifyImage.stores.s3 import read_credentials
    path = tmp_path / "credentials"
    path.write_text("[other]\naws_access_key_id = x\n")
    with pytest.raises(config.ConfigError) as info:
        read_credentials(str(path))
    assert "s3-credentials-file %s" % path in str(info.value)
    assert "aws_secret_access_key" in str(info.value)


def test_a_big_image_is_tiled_into_s3_by_a_worker(small_threshold, folder,
                                                  tmp_path, s3_settings,
                                                  seaweedfs):
    """The background job's writer (it keeps its set over a retried
    transaction) on S3: the set is placed, nothing is left 'writing'."""
    from tests.zope_fixtures import add
    from tests.zope_fixtures import job_status
    from ZoomifyImage import jobs
    url = add(folder, save(smooth(900, 700, 3), tmp_path / "big.png"),
              id="big", storage="s3")
    assert jobs.pool.wait(60)
    assert job_status(folder, "big")["status"] == "ready"
    b = fetch(url + "/ImageProperties.xml")
    assert status(b) == 200 and 'WIDTH="900"' in b.contents
    assert status(fetch(url + "/TileGroup0/0-0-0.jpg")) == 200
    records = [k for k in seaweedfs.keys(prefix=s3_settings + "/")
               if "/.sets/" in k]
    client = seaweedfs.client()
    texts = [client.get_object(Bucket=config.settings().s3_bucket, Key=k)
             ["Body"].read().decode() for k in records]
    assert len(texts) == 1 and not texts[0].startswith("writing")


def test_a_job_taken_from_a_dead_worker_removes_its_s3_set(
        small_threshold, folder, tmp_path, s3_settings, seaweedfs):
    """A worker that died mid-job left its set 'writing' in the bucket:
    the worker that takes the job over removes it at once (not the sweep
    6 hours later); a set another writer of the same image is writing
    meanwhile (a retile in a request) stays."""
    import threading

    from tests.zope_fixtures import add
    from tests.zope_fixtures import job_status
    from ZoomifyImage import jobs
    from ZoomifyImage import stores
    from ZoomifyImage.jobs import records
    from ZoomifyImage.stores.s3 import S3TileStore
    jobs.pool.pause()
    add(folder, save(smooth(900, 700, 3), tmp_path / "big.png"), id="big",
        storage="s3")
    with zope_root() as app:
        image = app[folder]["big"]
        uid, job = image.uid, image.tiling_job()
        key, db = job.key, app._p_jar.db()
    written = {}

    def dead_worker():  # a thread that writes some tiles, then is gone
        writer = S3TileStore(uid).writer()
        writer.put("TileGroup0/0-0-0.jpg", b"a tile of the dead worker")
        writer._wait()
        written["dead"] = writer
    thread = threading.Thread(target=dead_worker, name="zoomify-dead")
    thread.start()
    thread.join()
    dead = written["dead"]
    with zope_root() as app:
        job = app[folder]["big"].tiling_job()
        # the job's owner: that thread of this process
        job.status, job.attempts = "tiling", 1
        job.owner = "%s:zoomify-dead" % records.process_id()
        job.temp_dir = stores.relative_to_root(dead.unfinished)
    live = S3TileStore(uid).writer()
    live.put("TileGroup0/0-0-0.jpg", b"a tile of a live writer")
    try:
        live._wait()
        jobs.run_job(db, key)
        assert job_status(folder, "big")["status"] == "ready"
        keys = seaweedfs.keys(prefix=s3_settings + "/")
        assert not [k for k in keys if dead.set_id in k], keys
        assert live.prefix + "TileGroup0/0-0-0.jpg" in keys
    finally:
        live.abort()
    assert not [k for k in seaweedfs.keys(prefix=s3_settings + "/")
                if live.set_id in k]


def test_zoomify_import_into_a_site_on_s3(seaweedfs, tmp_path, unique_id):
    """zoomify-import --storage s3 into a site whose storage is S3: the
    tiles go into the bucket, and the site serves them."""
    import subprocess

    from tests.http_upload import get
    from tests.zope_fixtures import ZopeServer
    from tests.zope_fixtures import import_command
    prefix = "run-%s/%s-import" % (seaweedfs.port, unique_id)
    # not started: the command opens its Data.fs
    site = ZopeServer(storage="s3", settings=seaweedfs.settings(prefix=prefix))
    photo = save(smooth(900, 600), tmp_path / "imported.png")
    result = subprocess.run(
        [import_command(), "--zope-conf", site.conf, "--storage", "s3",
         "--id", "imported", photo], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "added /imported" in result.stdout
    keys = seaweedfs.keys(prefix=prefix + "/")
    assert [k for k in keys if k.endswith("/TileGroup0/0-0-0.jpg")], keys
    assert not [k for k in keys if "/.sets/" in k and seaweedfs.client()
                .get_object(Bucket=BUCKET, Key=k)["Body"].read()
                .startswith(b"writing")]
    site.start()
    try:
        code, _, data = get(site.url + "/imported/ImageProperties.xml")
        assert code == 200 and b'WIDTH="900" HEIGHT="600"' in data
        code, _, data = get(site.url + "/imported/TileGroup0/0-0-0.jpg")
        assert code == 200 and data[:2] == b"\xff\xd8"
        assert get(site.url + "/imported/status_json")[0] == 200
    finally:
        site.stop()
