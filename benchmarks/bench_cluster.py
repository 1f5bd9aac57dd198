"""Tile and IIIF rates through nginx with 1 and 2 Zope clients on one
PostgreSQL (RelStorage), as docs/cluster.txt sets them up.

    .venv/bin/python benchmarks/bench_cluster.py [--duration 15]
        [--connections 16] [--width 4000 --height 3000] [--rounds 1]

Runs as root (nginx's workers run as www-data; PostgreSQL as postgres),
on 127.0.0.1 only. Starts PostgreSQL (initdb in a temporary directory),
two Zope clients (runwsgi, 4 waitress threads each) sharing a tile root,
and two nginx of docs/nginx.conf: one over client A only, one balancing
over A and B. The image is private (filesystem store), asked as a
manager: every request reaches Zope, which checks the permission and
names the file for nginx (X-Accel-Redirect); nginx's cache never
answers. IIIF: random 512-pixel regions scaled to 256 (Zope decodes
tiles and encodes a JPEG; its pixel cache warms over the run).

Prints a markdown table: rate, p50, p99, errors, and the CPU time per
answer of the Zope clients (together), nginx's workers and PostgreSQL.
On 2 cores the second client cannot double a rate: the CPU per answer
is what says what N machines would do. Asserts nothing.
"""

import argparse
import base64
import os
import random
import statistics
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import psutil  # noqa: E402

from tests.cluster_fixture import Cluster  # noqa: E402
from tests.images import big_jpeg  # noqa: E402
from tests.nginx_fixture import wrk  # noqa: E402
from tests.zope_fixtures import ADMIN  # noqa: E402
from ZoomifyImage.pyramid import Layout  # noqa: E402

AUTH = "Authorization: Basic " + base64.b64encode(
    ("%s:%s" % ADMIN).encode()).decode()


def request(url, data=None):
    r = urllib.request.Request(url, data=data)
    name, value = AUTH.split(": ", 1)
    r.add_header(name, value)
    with urllib.request.urlopen(r, timeout=120) as response:
        return response.headers, response.read()


def postgres_cpu(cluster):
    """CPU seconds of the postmaster and its backends so far."""
    with open(os.path.join(cluster.postgres.data, "postmaster.pid")) as f:
        pid = int(f.readline())
    master = psutil.Process(pid)
    total = 0.0
    for p in [master] + master.children(recursive=True):
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def cpu(cluster, nginx):
    return (sum(c.cpu_seconds() for c in cluster.clients),
            nginx.cpu_seconds(), postgres_cpu(cluster))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)

    cluster = Cluster(**{"background-megapixels": "1000"})
    try:
        cluster.start()
        a, b = cluster.clients
        path = big_jpeg(os.path.join(cluster.uploads, "bench.jpg"),
                        args.width, args.height)
        a.add(path, "img")
        os.remove(path)
        request(a.url + "/img/manage_permission",
                data=b"permission_to_manage=View&roles:list=Manager"
                     b"&acquire:int=0")
        headers, _ = request(a.url + "/img/TileGroup0/0-0-0.jpg")
        set_id = headers["ETag"].strip('"').split("-")[-1]
        layout = Layout(args.width, args.height)
        tiles = ["/img/v/%s/%s" % (set_id, n) for n in layout.tile_names()]
        rng = random.Random(1)
        regions = ["/img/iiif/%d,%d,512,512/256,/0/default.jpg" % (
            rng.randrange(0, args.width - 512),
            rng.randrange(0, args.height - 512)) for _ in range(400)]
        fronts = [("1 client", cluster.front([a])),
                  ("2 clients", cluster.front([a, b]))]
        results = {}
        for n in range(args.rounds):
            for kind, paths in (("tiles", tiles), ("IIIF", regions)):
                for label, nginx in fronts:
                    print("  %s, %s, round %d ..." % (kind, label, n + 1),
                          file=sys.stderr, flush=True)
                    before = cpu(cluster, nginx)
                    result = wrk(nginx.url, paths, args.duration,
                                 args.connections, headers=[AUTH])
                    after = cpu(cluster, nginx)
                    answers = max(result["requests"], 1)
                    result["cpu"] = [(y - x) * 1e3 / answers
                                     for x, y in zip(before, after)]
                    results.setdefault((kind, label), []).append(result)
        print("%dx%d private image (filesystem store, X-Accel-Redirect), "
              "%d tiles; wrk -t2 -c%d for %d s, median of %d round(s); "
              "%d cores, load %.1f" % (
                  args.width, args.height, len(tiles), args.connections,
                  args.duration, args.rounds, os.cpu_count(),
                  os.getloadavg()[0]))
        print()
        print("| what | Zope clients | answers/s | p50 ms | p99 ms | errors "
              "| Zope CPU ms/answer | nginx CPU ms/answer | PostgreSQL CPU "
              "ms/answer |")
        print("|---|---|---|---|---|---|---|---|---|")
        for (kind, label), runs in results.items():
            runs.sort(key=lambda r: r["rate"])
            r = runs[len(runs) // 2]
            cpus = [statistics.median(run["cpu"][i] for run in runs)
                    for i in range(3)]
            print("| %s | %s | %.0f | %.1f | %.1f | %d | %.2f | %.2f | "
                  "%.3f |" % (kind, label, r["rate"], r["p50"], r["p99"],
                              sum(run["errors"] for run in runs), *cpus))
        time.sleep(0)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
