"""A bulk import into a running site with 1 and 2 worker clients: how long
zoomify-import takes to queue the images, and the workers to tile them.

    .venv/bin/python benchmarks/bench_bulk_import.py [--images 20]
        [--megapixels 4] [--workers 1,2] [--dir /tmp/zoomify-bench-bulk]

For each worker count: a ZEO server (FileStorage with blobs), that many
Zope worker clients (runwsgi, `workers 1` each, job-scan-seconds 1)
sharing a tile root and an upload directory, and zoomify-import run as
one more ZEO client over a directory of --images JPEGs of --megapixels
(made once with libvips or Pillow, kept in DIR). The clock runs from the
command's start to its end ("queue s") and on until every image's
status_json says ready ("all tiled s"), polled every 0.2 s. The CPU
seconds of the worker clients together, and the images each tiled (from
their logs), say how the work was spread. Prints a markdown table;
asserts nothing. Every figure is from one run.
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from tests.images import big_jpeg  # noqa: E402
from tests.zope_fixtures import ZEOServer  # noqa: E402
from tests.zope_fixtures import ZopeServer  # noqa: E402
from tests.zope_fixtures import import_command  # noqa: E402


def make_images(directory, count, megapixels):
    os.makedirs(directory, exist_ok=True)
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = int(megapixels * 1e6 / width)
    paths = []
    for n in range(count):
        path = os.path.join(directory, "img%04d.jpg" % n)
        if not os.path.exists(path):
            big_jpeg(path, width, height)
        paths.append(path)
    return paths, width, height


def run(workers, images, args):
    shared = {"tile-root": os.path.join(args.dir, "w%d-tiles" % workers),
              "upload-dir": os.path.join(args.dir, "w%d-uploads" % workers),
              "background-megapixels": "1", "job-scan-seconds": "1"}
    zeo = ZEOServer().start()
    clients = [ZopeServer(zeo=zeo.address, settings=shared)
               for _ in range(workers)]
    importer = ZopeServer(zeo=zeo.address, settings=shared)
    try:
        for client in clients:
            client.start()
        clients[0].add_folder("bulk")
        cpu_before = sum(c.cpu_seconds() for c in clients)
        start = time.monotonic()
        result = subprocess.run(
            [import_command(), "--zope-conf", importer.conf, "--path",
             "/bulk", "--quiet", os.path.join(args.dir, "images")],
            capture_output=True, text=True)
        queued = time.monotonic() - start
        if result.returncode:
            raise SystemExit(result.stderr)
        ids = [os.path.splitext(os.path.basename(p))[0] for p in images]
        waiting = set(ids)
        while waiting:
            for id in sorted(waiting):
                state = clients[0].job_status("bulk/" + id)["status"]
                if state == "failed":
                    raise SystemExit("%s failed" % id)
                if state == "ready":
                    waiting.discard(id)
            time.sleep(0.2)
        tiled = time.monotonic() - start
        cpu = sum(c.cpu_seconds() for c in clients) - cpu_before
        shares = [c.log_text().count("tiled ") for c in clients]
        return {"workers": workers, "queued": queued, "tiled": tiled,
                "cpu": cpu, "shares": shares}
    finally:
        for client in clients:
            client.stop()
        zeo.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--megapixels", type=float, default=4)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--dir", default="/tmp/zoomify-bench-bulk")
    args = parser.parse_args(argv)
    images, width, height = make_images(os.path.join(args.dir, "images"),
                                        args.images, args.megapixels)
    results = [run(int(n), images, args) for n in args.workers.split(",")]
    print("%d JPEGs of %dx%d (%.1f MP), %d cores\n" % (
        len(images), width, height, width * height / 1e6, os.cpu_count()))
    print("| worker clients | queue s | all tiled s | images/min "
          "| worker CPU s | CPU s/image | tiled by each |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        print("| %d | %.1f | %.1f | %.1f | %.1f | %.2f | %s |" % (
            r["workers"], r["queued"], r["tiled"],
            len(images) * 60 / r["tiled"], r["cpu"], r["cpu"] / len(images),
            " + ".join(str(s) for s in r["shares"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
