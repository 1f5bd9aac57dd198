"""Issue 11: the original's download is handed to the WSGI server's file
wrapper, so that readers slower than the network never hold one of
Zope's worker threads (a real runwsgi with its 4 waitress threads)."""

import socket
import time
import urllib.request

import numpy
import pytest
from PIL import Image

from tests.http_upload import authorization
from tests.http_upload import get
from tests.zope_fixtures import ADMIN
from tests.zope_fixtures import ZopeServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = ZopeServer(storage="filesystem").start()
    folder = tmp_path_factory.mktemp("slow")
    # an uncompressed TIFF of 60 MB: far more than waitress buffers for a
    # connection before a worker thread has to wait for the reader
    pixels = numpy.random.default_rng(3).integers(
        0, 255, (4000, 5000, 3), dtype=numpy.uint8)
    path = str(folder / "big.tif")
    Image.fromarray(pixels).save(path)
    s.add(path, "big")
    s.wait_for("big", ["ready", "failed"])
    yield s
    s.stop()


def slow_reader(server, path):
    """Ask for the file and read 1 KB of it, then nothing more."""
    sock = socket.create_connection(("127.0.0.1", server.port), 10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    # the original takes Download Zoomify originals: the manager's
    sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Authorization: %s\r\n\r\n"
                  % (path, authorization(ADMIN))).encode())
    sock.recv(1024)
    return sock


def test_slow_readers_do_not_hold_the_worker_threads(server):
    readers = [slow_reader(server, "/big/download") for _ in range(8)]
    try:
        time.sleep(1)  # every download has begun, none is read
        started = time.monotonic()
        code, headers, body = get(server.url + "/big/TileGroup0/0-0-0.jpg",
                                  timeout=20)
        took = time.monotonic() - started
        assert code == 200 and body[:2] == b"\xff\xd8"
        assert took < 2, "a tile took %.1f s behind 8 slow readers" % took
        # the whole original, and a range of it, as the wrapper sends them
        code, headers, whole = get(server.url + "/big/download", timeout=20,
                                   auth=ADMIN)
        assert code == 200 and len(whole) == int(headers["Content-Length"])
        request = urllib.request.Request(server.url + "/big/download",
                                         headers={"Range": "bytes=1000-"
                                                  "1999", "Authorization":
                                                  authorization(ADMIN)})
        with urllib.request.urlopen(request, timeout=20) as r:
            assert r.status == 206 and r.read() == whole[1000:2000]
    finally:
        for sock in readers:
            sock.close()
