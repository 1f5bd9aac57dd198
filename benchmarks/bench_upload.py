"""Benchmark uploads into a real Zope: one big file as a single POST of the
ZMI add form, and through the resumable (tus) endpoint in chunks.

    .venv/bin/python benchmarks/bench_upload.py [--gigabytes 2.4]
        [--dir /tmp/zoomify-bench-upload] [--chunks 16,64] [--no-verify]

The file is an uncompressed PPM of about --gigabytes (made once, kept in
DIR). Each way of uploading gets a fresh Zope instance of its own in DIR
(ZoomifyImage.instance.write_instance, request bodies up to 64 GB so that
the single POST is allowed at all), started as `runwsgi` on a free port of
127.0.0.1, and then:

- the idle VmRSS of the Zope process is read after it served a request,
- the file is uploaded as admin: a multipart/form-data POST to
  manage_addZoomifyImage (streamed from disc in 1 MB blocks, as bench_zope
  does), or a tus POST to FOLDER/@@zoomify-upload and PATCHes of CHUNK MB
  each, sent from disc (uploads.py). The time runs until the answer to the
  POST, or to the last PATCH (the image is then added; that PATCH's own
  time is "last PATCH s": the upload's file becomes the blob there),
- a thread samples VmRSS every 0.01 s meanwhile; VmHWM (the process's peak
  since it started) is read at the end,
- the original is downloaded again and compared by SHA-256 (unless
  --no-verify),
- the server is stopped and its var/ removed (server.log stays).

Tiling is kept out: the image goes to the background (background-megapixels
1) and the instance runs no worker (workers 0), so the add does all its
work (the file into a blob, the background job queued) and nothing tiles.
(max-megapixels just below the image's size did this until the add
refused such an image at once.)

The script prints a markdown table; it asserts nothing. Every figure is
from one run. Allow free disc space of about four times the file (the
file, the request spool, the partial upload or form file, the blob).
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
from tests import processes  # noqa: E402
from tests.processes import free_port  # noqa: E402

AUTH = ("admin", "admin")
BLOCK = 1 << 20
MB = float(1 << 20)


def authorization():
    return "Basic " + base64.b64encode(("%s:%s" % AUTH).encode()).decode()


def make_ppm(path, gigabytes):
    """An uncompressed 8-bit RGB PPM of about `gigabytes`, square."""
    side = int((gigabytes * (1 << 30) / 3) ** 0.5)
    size = 3 * side * side
    if os.path.exists(path) and os.path.getsize(path) > size:
        return path, side
    row = bytes((x * 7) % 251 for x in range(3 * side))
    with open(path + ".new", "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (side, side))
        for y in range(side):
            shift = (y * 3) % len(row)
            f.write(row[shift:] + row[:shift])
    os.replace(path + ".new", path)
    return path, side


class Zope:
    """runwsgi on a fresh instance in DIR/NAME."""

    def __init__(self, workdir, name, settings):
        from ZoomifyImage.instance import write_instance
        self.home = os.path.join(workdir, name)
        if os.path.exists(self.home):
            if not os.path.exists(os.path.join(self.home, "etc", "zope.ini")):
                raise SystemExit("%s exists and is not an instance made by "
                                 "this script" % self.home)
            shutil.rmtree(self.home)
        self.port = free_port()
        conf, self.ini = write_instance(self.home, port=self.port,
                                        admin=AUTH, max_body="64GB")
        with open(conf) as f:
            text = f.read()
        for key, value in settings.items():
            # a key may appear once: drop the default line
            text = re.sub(r"(?m)^    %s .*\n" % re.escape(key), "", text)
            text = text.replace("</product-config>", "    %s %s\n"
                                "</product-config>" % (key, value), 1)
        with open(conf, "w") as f:
            f.write(text)
        self.url = "http://127.0.0.1:%d" % self.port
        self.process = None

    def start(self, timeout=120):
        runwsgi = os.path.join(os.path.dirname(sys.executable), "runwsgi")
        self.log = open(os.path.join(self.home, "server.log"), "ab")
        self.process = subprocess.Popen([runwsgi, self.ini], cwd=self.home,
                                        stdout=self.log, stderr=self.log)
        if processes.answering(self.url + "/", timeout, self.process):
            return self
        raise RuntimeError("Zope did not start, see %s/server.log"
                           % self.home)

    def mb(self, field):
        kb = processes.status_kb(self.process.pid, field)
        return None if kb is None else kb / 1024.0

    def stop(self):
        processes.stop(self.process, 30)
        self.log.close()


class Sampler(threading.Thread):
    """The highest VmRSS of the Zope process, sampled every 0.01 s."""

    def __init__(self, zope):
        super().__init__(daemon=True)
        self.zope, self.peak = zope, 0.0
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.wait(0.01):
            self.peak = max(self.peak, self.zope.mb("VmRSS") or 0.0)

    def stop(self):
        self.stopping.set()
        self.join()
        return self.peak


def request(zope, method, path, headers, body=None, length=0):
    """(status, headers, body) of one request; `body` an iterable of
    bytes, sent as it is read."""
    connection = http.client.HTTPConnection("127.0.0.1", zope.port,
                                            timeout=3600)
    try:
        connection.putrequest(method, path)
        headers = dict(headers, Authorization=authorization())
        headers["Content-Length"] = str(length)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        for block in body or ():
            connection.send(block)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def file_blocks(path, start, length):
    with open(path, "rb") as f:
        f.seek(start)
        while length > 0:
            block = f.read(min(BLOCK, length))
            if not block:
                return
            length -= len(block)
            yield block


def upload_post(zope, path, folder):
    """The plain add form: one multipart/form-data POST."""
    boundary = uuid.uuid4().hex
    head = ('--%s\r\nContent-Disposition: form-data; name="id"\r\n\r\nbig'
            '\r\n--%s\r\nContent-Disposition: form-data; name="file"; '
            'filename="%s"\r\nContent-Type: image/x-portable-pixmap\r\n\r\n'
            % (boundary, boundary, os.path.basename(path))).encode()
    tail = ("\r\n--%s--\r\n" % boundary).encode()
    size = os.path.getsize(path)

    def body():
        yield head
        yield from file_blocks(path, 0, size)
        yield tail
    status, _, text = request(
        zope, "POST", "/%s/manage_addProduct/ZoomifyImage/"
        "manage_addZoomifyImage" % folder,
        {"Content-Type": "multipart/form-data; boundary=" + boundary},
        body(), len(head) + size + len(tail))
    if status != 302:
        raise RuntimeError("POST: %d %s" % (status, text[:300]))
    return 1


def upload_tus(zope, path, folder, chunk):
    """tus: create, then PATCH chunk after chunk; the number of requests."""
    size = os.path.getsize(path)
    meta = "filename %s,id %s" % (
        base64.b64encode(os.path.basename(path).encode()).decode(),
        base64.b64encode(b"big").decode())
    status, headers, text = request(
        zope, "POST", "/%s/@@zoomify-upload" % folder,
        {"Tus-Resumable": "1.0.0", "Upload-Length": str(size),
         "Upload-Metadata": meta})
    if status != 201:
        raise RuntimeError("tus POST: %d %s" % (status, text[:300]))
    location = headers["Location"].split(zope.url, 1)[1]
    offset, requests = 0, 1
    while offset < size:
        length = min(chunk, size - offset)
        began = time.monotonic()
        status, headers, text = request(
            zope, "PATCH", location,
            {"Tus-Resumable": "1.0.0", "Upload-Offset": str(offset),
             "Content-Type": "application/offset+octet-stream"},
            file_blocks(path, offset, length), length)
        if status != 204:
            raise RuntimeError("PATCH at %d: %d %s" % (offset, status,
                                                       text[:300]))
        offset = int(headers["Upload-Offset"])
        requests += 1
    zope.last_seconds = time.monotonic() - began  # the image added in it
    return requests


def sha256_of_download(zope, folder):
    digest = hashlib.sha256()
    request = urllib.request.Request("%s/%s/big/download"
                                     % (zope.url, folder))
    with urllib.request.urlopen(request, timeout=3600) as response:
        for block in iter(lambda: response.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def run(name, upload, args, path, side, expected):
    zope = Zope(args.dir, "zope-" + name, {
        "background-megapixels": 1, "workers": 0}).start()
    try:
        status, _, _ = request(zope, "POST",
                               "/manage_addProduct/OFSP/manage_addFolder",
                               {"Content-Type":
                                "application/x-www-form-urlencoded"},
                               [b"id=f"], 4)
        idle = zope.mb("VmRSS")
        sampler = Sampler(zope)
        sampler.start()
        start = time.monotonic()
        requests = upload(zope, path, "f")
        seconds = time.monotonic() - start
        sampled = sampler.stop()
        peak = zope.mb("VmHWM")
        last = getattr(zope, "last_seconds", None)
        same = (sha256_of_download(zope, "f") == expected) \
            if expected else None
        return {"name": name, "seconds": seconds, "requests": requests,
                "idle": idle, "sampled": sampled, "peak": peak,
                "same": same, "last": last}
    finally:
        zope.stop()
        # the blobs take as much disc as the file: keep only the log
        shutil.rmtree(os.path.join(zope.home, "var"), ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/zoomify-bench-upload")
    parser.add_argument("--gigabytes", type=float, default=2.4)
    parser.add_argument("--chunks", default="16,64",
                        help="tus chunk sizes in MB, comma-separated")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip downloading the original again")
    args = parser.parse_args(argv)
    os.makedirs(args.dir, exist_ok=True)
    path, side = make_ppm(os.path.join(args.dir, "big.ppm"), args.gigabytes)
    size = os.path.getsize(path)
    expected = None if args.no_verify else sha256_of_file(path)
    ways = [("post", upload_post)] + [
        ("tus-%dMB" % int(mb),
         lambda zope, p, f, c=int(mb) << 20: upload_tus(zope, p, f, c))
        for mb in args.chunks.split(",")]
    results = [run(name, upload, args, path, side, expected)
               for name, upload in ways]
    print("File: %s, %.0f MB (%dx%d PPM)\n" % (path, size / MB, side, side))
    print("| upload | requests | wall s | last PATCH s | MB/s | idle RSS MB "
          "| peak RSS MB (VmHWM) | peak - idle MB | sampled max MB "
          "| original identical |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
          "| --- |")
    for r in results:
        print("| %s | %d | %.1f | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %s |"
              % (r["name"], r["requests"], r["seconds"],
                 "-" if r["last"] is None else "%.2f" % r["last"],
                 size / MB / r["seconds"],
            r["idle"], r["peak"], r["peak"] - r["idle"], r["sampled"],
            {True: "yes", False: "NO", None: "not checked"}[r["same"]]))
    print("\n" + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
