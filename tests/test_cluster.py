"""Several Zope clients on one PostgreSQL database (RelStorage) behind
nginx, as docs/cluster.txt describes: real processes on loopback. One
PostgreSQL and two Zope clients for the module, sharing a tile root and
an upload directory; nginx balances over both."""

import os
import tempfile
import threading
import time

import pytest

from tests import nginx_fixture
from tests import postgres_fixture
from tests.cluster_fixture import Cluster
from tests.http_upload import get
from tests.images import big_jpeg
from tests.zope_fixtures import ZopeServer
from ZoomifyImage.pyramid import Layout

pytestmark = pytest.mark.skipif(
    bool(postgres_fixture.missing() or nginx_fixture.missing()),
    reason=str(postgres_fixture.missing() or nginx_fixture.missing()))

LEASE_HELD = "holds the maintenance lease"


@pytest.fixture(scope="module")
def cluster():
    cluster = Cluster()
    try:
        yield cluster.start()
    finally:
        cluster.stop(kill=True)


def tile_and_iiif(base, name, width, height):
    """The answers a viewer needs of image ``name`` at ``base``: its
    properties, its first and last tile, IIIF's info.json and a region;
    (url, status, headers, body) of each."""
    layout = Layout(width, height)
    last = layout.num_tiers - 1
    columns, rows = layout.grids[last]
    urls = ["%s/%s/ImageProperties.xml" % (base, name),
            "%s/%s/%s" % (base, name, layout.tile_name(0, 0, 0)),
            "%s/%s/%s" % (base, name, layout.tile_name(
                last, columns - 1, rows - 1)),
            "%s/%s/iiif/info.json" % (base, name),
            "%s/%s/iiif/0,0,300,200/150,/0/default.jpg" % (base, name)]
    answers = []
    for url in urls:
        code, headers, body = get(url)
        answers.append((url, code, headers, body))
    return answers


def assert_served(base, name, width, height, tiles=None):
    """Served at ``base`` (nginx, or a Zope client that names the files
    of the shared tile root ``tiles`` for nginx to send)."""
    for url, code, headers, body in tile_and_iiif(base, name, width,
                                                  height):
        assert code == 200, (url, code, body[:300])
        sent = headers.get("X-Accel-Redirect")
        if sent and tiles:
            path = os.path.join(tiles, sent[len("/protected-tiles/"):])
            with open(path, "rb") as f:
                body = f.read()
        if url.endswith(".jpg"):
            assert body[:2] == b"\xff\xd8", url
        elif url.endswith(".json"):
            assert b'"width": %d' % width in body or \
                b'"width":%d' % width in body, body[:300]


def test_added_through_one_client_is_served_by_the_other(cluster, tmp_path):
    a, b = cluster.clients
    # tiled in a's request
    small = big_jpeg(str(tmp_path / "small.jpg"), 800, 600)
    a.add(small, "small")
    # b sends the file of a's tile (X-Accel-Redirect) from the shared root
    code, headers, body = get(b.url + "/small/TileGroup0/0-0-0.jpg")
    assert code == 200 and headers["X-Accel-Redirect"].startswith(
        "/protected-tiles/")
    assert_served(cluster.nginx.url, "small", 800, 600)
    # tiled in the background by a worker of either client
    big = big_jpeg(str(tmp_path / "big.jpg"), 1500, 1000)
    b.add(big, "big")
    a.wait_for("big", ["ready", "failed"], timeout=60)
    assert a.job_status("big")["status"] == "ready"
    for base in (a.url, b.url):
        code, _, body = get(base + "/big/iiif/full/100,/0/default.jpg")
        assert code == 200 and body[:2] == b"\xff\xd8", base
    assert_served(cluster.nginx.url, "big", 1500, 1000)


def worker_of(clients, key_part, since=None):
    """The client whose log says it started tiling a job of the image
    (``since``: in what it logged after those offsets, one a client)."""
    for n, client in enumerate(clients):
        text = client.log_text()[since[n] if since else 0:]
        for line in text.splitlines():
            if "tiling job" in line and "started by" in line and \
                    key_part in line:
                return client
    return None


def test_kill_9_of_a_client_mid_job_and_of_the_lease_holder(cluster,
                                                            tmp_path):
    """The worker that dies mid-job (kill -9) has its job finished by the
    other client; the lease holder that dies has its lease taken."""
    clients = cluster.clients
    holders = [c for c in clients if LEASE_HELD in c.log_text()]
    assert len(holders) == 1, [c.log_text()[-2000:] for c in clients]
    path = big_jpeg(str(tmp_path / "huge.jpg"), 6000, 4000)
    layout = Layout(6000, 4000)
    # through the holder, whose own worker most likely takes the job
    # (else the holder is killed after it: one restart more)
    # (the logs tell of the other tests' jobs too)
    since = [len(c.log_text()) for c in clients]
    holders[0].add(path, "huge")
    deadline = time.monotonic() + 30
    worker = None
    while worker is None and time.monotonic() < deadline:
        worker = worker_of(clients, "", since)
        time.sleep(0.05)
    assert worker is not None
    assert clients[0].job_status("huge")["status"] == "tiling", \
        "the job ended before the kill"
    holder = holders[0]
    other = [c for c in clients if c is not worker][0]
    worker.kill()
    # nothing half-built is served meanwhile
    assert get(other.url + "/huge/ImageProperties.xml")[0] == 404
    other.wait_for("huge", ["ready", "failed"], timeout=90)
    assert other.job_status("huge")["status"] == "ready"
    assert worker_of([other], "", [since[clients.index(other)]]) is other
    assert_served(cluster.nginx.url, "huge", 6000, 4000)
    columns, rows = layout.grids[-1]
    code, _, body = get(other.url + "/huge/" + layout.tile_name(
        layout.num_tiers - 1, columns - 1, rows - 1))
    assert code == 200 and body == b""  # nginx's to send
    if holder is not worker:
        # then the holder dies too, and the restarted worker takes it
        worker.start()
        holder.kill()
        worker, other = holder, worker
    killed = time.monotonic()
    # the other takes the lease within a few of its intervals (the same
    # machine: it sees the holder's lock free; elsewhere after 1.5 s)
    while LEASE_HELD not in other.log_text() and \
            time.monotonic() < killed + 10:
        time.sleep(0.1)
    assert LEASE_HELD in other.log_text()
    worker.start()  # back for the tests that follow


def test_postgresql_restarted_while_a_viewer_reads(cluster, tmp_path):
    """PostgreSQL stops (every client's connection is cut) and starts
    again while a viewer reads through nginx: the clients reconnect by
    themselves, and what was committed before is there after."""
    a, b = cluster.clients
    photo = big_jpeg(str(tmp_path / "photo.jpg"), 800, 600)
    a.add(photo, "before")
    seen = []
    bodies = []
    stop = threading.Event()

    def viewer():
        n = 0
        while not stop.is_set():
            n += 1  # a new region each time: nothing from a cache
            url = "%s/before/iiif/%d,0,200,200/100,/0/default.jpg" % (
                cluster.nginx.url, n % 500)
            try:
                code, _, body = get(url, timeout=10)
            except OSError:
                code, body = 0, b""
            seen.append((time.monotonic(), code))
            if code != 200:
                bodies.append(body)
    thread = threading.Thread(target=viewer)
    thread.start()
    try:
        while len(seen) < 10:
            time.sleep(0.05)
        assert {code for _, code in seen} == {200}
        cluster.postgres.restart()
        restarted = time.monotonic()
        # a change through b after the restart is committed
        b.add(photo, "after")
        assert_served(a.url, "after", 800, 600, cluster.tiles)
        while not [t for t, code in seen if t > restarted + 2]:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
    failed = [(t - restarted, code) for t, code in seen if code != 200]
    print("viewer: %d answers, failed: %s" % (len(seen), failed))
    # only while PostgreSQL was down, and saying nothing of the server
    assert all(t < 2 for t, code in failed), failed
    for text in bodies:
        print(text[:2000])
        for detail in (b"psycopg", b"relstorage", b"Traceback", b"5432",
                       str(cluster.postgres.port).encode()):
            assert detail not in text, text
    assert_served(b.url, "before", 800, 600, cluster.tiles)
    assert_served(cluster.nginx.url, "after", 800, 600)


def test_a_read_while_postgresql_is_down_is_retried_or_a_503(cluster):
    """A read that finds the database gone is tried again for a few
    seconds (PostgreSQL restarting), then answered 503 with Retry-After
    and nothing of the server: never a bare 500."""
    a, b = cluster.clients
    assert get(a.url + "/", timeout=10)[0] == 200
    cluster.postgres.stop()
    try:
        code, headers, body = get(a.url + "/", timeout=30)
        assert code == 503, (code, body[:500])
        assert int(headers["Retry-After"]) > 0
        for detail in (b"psycopg", b"relstorage", b"Traceback", b"5432",
                       b"Operational", str(cluster.postgres.port).encode()):
            assert detail not in body, body
        # a read that arrives while it is down, and it comes back
        answers = []
        reader = threading.Thread(target=lambda: answers.append(
            get(b.url + "/", timeout=30)))
        reader.start()
    finally:
        cluster.postgres.start()
    reader.join()
    assert answers[0][0] == 200, answers[0][:1] + (answers[0][2][:500],)


def test_the_written_relstorage_section_bounds_the_blob_cache(cluster,
                                                              tmp_path):
    """--relstorage writes a RelStorage section that opens on the real
    PostgreSQL with blobs in the database and a bounded blob cache."""
    import re

    import ZODB
    import ZODB.config

    from ZoomifyImage.instance import write_instance
    home = str(tmp_path / "instance")
    conf, _ = write_instance(home, relstorage=cluster.postgres.dsn,
                             admin=("a", "b"), blob_cache_size="2GB")
    with open(conf) as f:
        text = f.read()
    section = re.search(r"<relstorage>.*?</relstorage>", text, re.S).group(0)
    storage = ZODB.config.storageFromString(
        "%import relstorage\n" + section.replace("$INSTANCE", home))
    db = ZODB.DB(storage)
    try:
        options = storage._options
        assert options.shared_blob_dir is False
        assert options.blob_cache_size == 2 << 30
        # the database the clients share: the site they made
        connection = db.open()
        assert "Application" in connection.root()
        connection.close()
    finally:
        db.close()


def test_a_client_without_the_shared_tile_root_does_not_start(cluster):
    """A third client whose tile root is a directory of its own (the
    share not mounted there) is refused at its start, saying so."""
    settings = dict(cluster.settings, **{
        "tile-root": tempfile.mkdtemp(prefix="zoomify-not-shared-")})
    stray = ZopeServer(storage="filesystem", relstorage=cluster.postgres.dsn,
                       settings=settings)
    with pytest.raises(RuntimeError):
        stray.start(timeout=30)
    log = stray.log_text()
    assert "tile-root %s is not the directory the other Zope clients of " \
        "this database use" % settings["tile-root"] in log, log[-3000:]
    assert stray.process.poll() is not None


def test_a_resumable_upload_whose_chunks_alternate_between_clients(
        cluster, tmp_path):
    """tus: made through one client, its chunks sent to one and the other
    in turn (as a balancer may), finished through the other; the image
    is added whole and served by both."""
    import base64

    from tests.zope_fixtures import ADMIN
    requests = pytest.importorskip("requests")
    a, b = cluster.clients
    data = open(big_jpeg(str(tmp_path / "tus.jpg"), 900, 700), "rb").read()
    tus = {"Tus-Resumable": "1.0.0"}
    name = base64.b64encode(b"tus.jpg").decode()
    made = requests.post(a.url + "/@@zoomify-upload", auth=ADMIN,
                         headers=dict(tus, **{
                             "Upload-Length": str(len(data)),
                             "Upload-Metadata": "filename " + name}))
    assert made.status_code == 201, made.text[:300]
    path = made.headers["Location"].split("/", 3)[3]
    third = len(data) // 3 + 1
    for n, start in enumerate(range(0, len(data), third)):
        client = (b, a, b)[n]
        sent = requests.patch(
            "%s/%s" % (client.url, path), data=data[start:start + third],
            auth=ADMIN, headers=dict(tus, **{
                "Upload-Offset": str(start),
                "Content-Type": "application/offset+octet-stream"}))
        assert sent.status_code == 204, (n, sent.status_code,
                                         sent.text[:300])
        assert int(sent.headers["Upload-Offset"]) == min(
            start + third, len(data))
    # tiled in the background (an upload's end takes no tiling)
    a.wait_for("tus", ["ready", "failed"], timeout=60)
    assert_served(a.url, "tus", 900, 700, cluster.tiles)
    assert_served(cluster.nginx.url, "tus", 900, 700)
    code, _, body = get(b.url + "/tus/download", auth=ADMIN)
    assert code == 200 and body == data
