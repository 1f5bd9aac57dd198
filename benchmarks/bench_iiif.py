"""IIIF under load: our image service beside our Zoomify tiles, and
Debian's IIPImage server (iipsrv) on a pyramidal TIFF of the same image.

    .venv/bin/python benchmarks/bench_iiif.py [--duration 20]
        [--connections 16] [--rounds 1] [--width 6000 --height 4001]
        [--dir DIR] [--stores filesystem,zodb] [--regions 500]
        [--seed 12] [--quality 80] [--iipsrv-processes 1]
        [--only zope,iipsrv]

Runs as root (nginx's and iipsrv's workers run as www-data), on 127.0.0.1
only, with nginx, wrk, iipimage-server and spawn-fcgi installed
(`apt-get install nginx-light wrk iipimage-server spawn-fcgi`). It makes
the image with make_images.py, starts one Zope instance (runwsgi, 4
waitress threads) holding the image in each store, and runs wrk (2
threads) against, in turns:

  Zoomify tiles      random tiles, ?v= as the viewer asks
  IIIF stored tiles  IMAGE/iiif/x,y,w,h/w,h/0/default.jpg for every tile
                     of the Layout that is a stored tile (the spec's
                     region and ceil-rounded size equal to the stored
                     tile's: iiif_pixels.stored_tile), asked at random
  IIIF random regions
                     a fixed list (--regions, --seed): a square region of
                     side s = 512 * 2^k, k drawn from 0..3, at a random
                     position inside the image (at 0 on a side shorter
                     than s: the server cuts the region at the edge),
                     scaled to 512 wide: IMAGE/iiif/x,y,s,s/512,/0/
                     default.jpg
  iipsrv             the same two IIIF lists (tiles and regions) asked of
                     iipsrv 1.1 (IIIF=bench.tif/...) behind nginx
                     (FastCGI on a loopback port, spawn-fcgi), on a
                     pyramidal TIFF written by pyvips from the same JPEG:
                     256x256 JPEG tiles at the image's tile quality

Prints a markdown table (rate, p50, p99, errors, bytes per answer, the
server's CPU time per answer, its RSS before and after each run; with
--rounds N the median of N turns), the ratios the project aims at
(stored-tile IIIF >= 0.9x and random regions >= 0.3x the Zoomify tile
rate of the same store) with iipsrv's beside them, and the load average.
The CPU time per answer (utime + stime of the server's processes over
the run, divided by the answers) is steadier than the rate when other
work shares the cores. Asserts nothing.
"""

import argparse
import io
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from bench_serving import add_image  # noqa: E402
from bench_serving import load_options  # noqa: E402
from bench_serving import request  # noqa: E402
from bench_serving import rss_mb  # noqa: E402
from make_images import make  # noqa: E402

from tests.nginx_fixture import USER  # noqa: E402
from tests.nginx_fixture import Nginx  # noqa: E402
from tests.nginx_fixture import wrk  # noqa: E402
from tests.processes import cpu_seconds  # noqa: E402
from tests.processes import free_port  # noqa: E402
from tests.processes import status_kb  # noqa: E402
from tests.zope_fixtures import ZopeServer  # noqa: E402
from ZoomifyImage.iiif_pixels import stored_tile  # noqa: E402
from ZoomifyImage.pyramid import Layout  # noqa: E402

IIPSRV = "/usr/lib/iipimage-server/iipsrv.fcgi"
SPAWN_FCGI = shutil.which("spawn-fcgi") or "/usr/bin/spawn-fcgi"
IIPSRV_PATH = "/fcgi-bin/iipsrv.fcgi"
TIFF_NAME = "bench.tif"
REGION_SIDE = 512      # the answer's side; the region is 2^k times that
REGION_LEVELS = 4      # k in 0..3


# ----------------------------------------------------------- the lists

def stored_tile_regions(layout):
    """(region, size) of the IIIF request a viewer makes for each tile of
    the info.json grid that is a stored tile (tile width 256 at scale
    factor 2^k: region x,y,w,h cut at the image's edge, size the region
    divided by 2^k and rounded up). Where a floor-halved tier makes the
    stored edge tile a pixel smaller than that, the request is not a
    stored tile (Zope makes it from the tier above): such cells are left
    out, and so the list has fewer entries than the set has tiles."""
    out = []
    n = layout.num_tiers
    for tier, col, row in layout.all_tiles():
        k = n - 1 - tier
        span = layout.tile_size << k
        x, y = col * span, row * span
        if x >= layout.width or y >= layout.height:
            continue
        w, h = min(span, layout.width - x), min(span, layout.height - y)
        size = (math.ceil(w / (1 << k)), math.ceil(h / (1 << k)))
        region = (x, y, w, h)
        if stored_tile(layout, region, size) == layout.tile_name(
                tier, col, row):
            out.append((region, size))
    return out


def random_regions(width, height, count, seed):
    """(region, size) of ``count`` random regions (see the module's
    docstring), the same for a seed on every machine: a square of side
    512 * 2^k, k drawn from 0..3, at a random position (where the image
    is narrower than the square, at 0: the server cuts the region at the
    image's edge), scaled to 512 wide."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        side = REGION_SIDE << rng.randrange(REGION_LEVELS)
        x = rng.randint(0, max(0, width - side))
        y = rng.randint(0, max(0, height - side))
        out.append(((x, y, side, side), min(REGION_SIDE, width)))
    return out


def region_path(region, width):
    return "%d,%d,%d,%d/%d,/0/default.jpg" % (region + (width,))


def iiif_path(region, size):
    return "%d,%d,%d,%d/%d,%d/0/default.jpg" % (region + size)


# ---------------------------------------------------------------- iipsrv

def make_pyramid(jpeg, tiff, quality):
    """The pyramidal TIFF iipsrv reads: 256x256 JPEG tiles at ``quality``
    (made in a child process, so that pyvips's memory is not ours)."""
    if os.path.exists(tiff):
        return tiff
    code = ("import pyvips, sys; pyvips.Image.new_from_file(sys.argv[1])"
            ".tiffsave(sys.argv[2], tile=True, pyramid=True, "
            "compression='jpeg', Q=int(sys.argv[3]), tile_width=256, "
            "tile_height=256)")
    subprocess.run([sys.executable, "-c", code, jpeg, tiff + ".part",
                    str(quality)], check=True)
    os.rename(tiff + ".part", tiff)
    os.chmod(tiff, 0o644)
    return tiff


class IIPServer:
    """iipsrv as FastCGI processes (spawn-fcgi -F N) on a loopback port,
    running as www-data, reading the TIFFs of ``directory``."""

    def __init__(self, directory, quality, processes=1):
        self.port = free_port()
        self.home = tempfile.mkdtemp(prefix="zoomify-iipsrv-")
        os.chmod(self.home, 0o755)
        self.pid_file = os.path.join(self.home, "iipsrv.pid")
        self.env = dict(
            os.environ,
            FILESYSTEM_PREFIX=directory.rstrip("/") + "/",
            JPEG_QUALITY=str(quality),
            MAX_IMAGE_CACHE_SIZE="64",   # MB: every tile of the image
            MAX_CVT="5000",
            VERBOSITY="0")
        self.processes = processes
        self.pids = []   # the iipsrv processes (nginx is not counted)

    def start(self, timeout=10):
        subprocess.run(
            [SPAWN_FCGI, "-a", "127.0.0.1", "-p", str(self.port),
             "-F", str(self.processes), "-u", USER, "-g", USER,
             "-P", self.pid_file, "--", IIPSRV],
            env=self.env, check=True, capture_output=True)
        with open(self.pid_file) as f:
            self.pids = [int(p) for p in f.read().split()]
        return self

    def memory_kb(self):
        return sum(status_kb(pid) or 0 for pid in self.pids)

    def stop(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        shutil.rmtree(self.home, ignore_errors=True)


def iipsrv_nginx(iip):
    """nginx passing IIPSRV_PATH to iipsrv, as iipsrv's README shows."""
    return Nginx(lambda n: (
        "server {\n    listen 127.0.0.1:%d;\n"
        "    location %s {\n"
        "        fastcgi_pass 127.0.0.1:%d;\n"
        "        fastcgi_param PATH_INFO $fastcgi_script_name;\n"
        "        fastcgi_param REQUEST_METHOD $request_method;\n"
        "        fastcgi_param QUERY_STRING $query_string;\n"
        "        fastcgi_param CONTENT_TYPE $content_type;\n"
        "        fastcgi_param CONTENT_LENGTH $content_length;\n"
        "        fastcgi_param SERVER_PROTOCOL $server_protocol;\n"
        "        fastcgi_param REQUEST_URI $request_uri;\n"
        "    }\n}\n" % (n.port, IIPSRV_PATH, iip.port)))


# ------------------------------------------------------------------ runs

class Row:
    def __init__(self, label, base, paths, server, kind, store, warm=None):
        self.label, self.base, self.paths = label, base, paths
        self.server, self.kind, self.store = server, kind, store
        # the paths asked once before the runs (all of them by default)
        self.warm = paths if warm is None else warm
        self.results = {}


def check(row):
    """Every warm path once (caches filled); the first answer must be a
    JPEG of the size the path asks (a warning otherwise)."""
    from PIL import Image
    for i, path in enumerate(row.warm):
        headers, body = request(row.base + path)
        if i == 0 and "/default.jpg" in path:
            w, h = path.split("/")[-3].split(",")
            got = Image.open(io.BytesIO(body)).size
            if got[0] != int(w) or (h and got[1] != int(h)):
                print("  warning: %s answers %s for %s" % (
                    row.label, got, path), file=sys.stderr)


def run(rows, connections, seconds, rounds):
    for row in rows:
        check(row)
    for r in range(rounds):
        for c in connections:
            for row in rows:
                print("  round %d, %s, %d connections, %d s ..." % (
                    r + 1, row.label, c, seconds), file=sys.stderr,
                    flush=True)
                before = rss_mb(row.server)
                cpu = cpu_seconds(*row.server.pids)
                result = wrk(row.base, row.paths, seconds, c)
                cpu = cpu_seconds(*row.server.pids) - cpu
                result["rss"] = (before, rss_mb(row.server))
                result["cpu_ms"] = 1000.0 * cpu / max(result["requests"], 1)
                row.results.setdefault(c, []).append(result)


def summary(results):
    """The median round by rate (its latencies with it), errors summed,
    the first RSS before and the last after."""
    ordered = sorted(results, key=lambda r: r["rate"])
    out = dict(ordered[(len(ordered) - 1) // 2])
    out["rate"] = statistics.median(r["rate"] for r in results)
    out["cpu_ms"] = statistics.median(r["cpu_ms"] for r in results)
    out["errors"] = sum(r["errors"] for r in results)
    out["rss"] = (results[0]["rss"][0], results[-1]["rss"][1])
    return out


def table(rows, connections):
    print("| what is served | connections | req/s | p50 ms | p99 ms "
          "| errors | KB/answer | server CPU ms/answer | RSS MB before -> "
          "after | rate vs Zoomify tiles | CPU vs Zoomify tiles |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
          "| ---: | ---: |")
    tiles = {r.store: r for r in rows if r.kind == "zoomify"}
    results = {(row.label, c): summary(row.results[c])
               for row in rows for c in connections}
    for c in connections:
        for row in rows:
            r = results[row.label, c]
            rate_ratio = cpu_ratio = ""
            # iipsrv is set beside the first store's tiles
            base = tiles.get(row.store) or next(iter(tiles.values()), None)
            if row.kind != "zoomify" and base is not None:
                b = results[base.label, c]
                rate_ratio = "%.2fx (%s)" % (r["rate"] / b["rate"],
                                             base.store)
                cpu_ratio = "%.2fx" % (r["cpu_ms"] / b["cpu_ms"])
            print("| %s | %d | %s | %.1f | %.1f | %d | %.1f | %.2f "
                  "| %.0f -> %.0f | %s | %s |" % (
                      row.label, c, "{:,.0f}".format(r["rate"]), r["p50"],
                      r["p99"], r["errors"], r["bytes"] / 1024.0,
                      r["cpu_ms"], r["rss"][0], r["rss"][1], rate_ratio,
                      cpu_ratio))
    print()
    goals = {"stored": 0.9, "random": 0.3}
    for c in connections:
        for row in rows:
            base = tiles.get(row.store)
            if row.kind not in goals or base is None:
                continue
            ratio = results[row.label, c]["rate"] / results[
                base.label, c]["rate"]
            print("%s: %.2fx the Zoomify tile rate at %d connections "
                  "(goal >= %.1f): %s" % (
                      row.label, ratio, c, goals[row.kind],
                      "PASS" if ratio >= goals[row.kind] else "MISS"))
        iip = {r.kind: results[r.label, c] for r in rows
               if r.store == "iipsrv"}
        if len(iip) == 2:
            print("iipsrv: random regions %.2fx its IIIF tiles at %d "
                  "connections" % (iip["iipsrv-random"]["rate"]
                                   / iip["iipsrv-stored"]["rate"], c))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    load_options(parser, "16")
    parser.add_argument("--stores", default="filesystem,zodb")
    parser.add_argument("--regions", type=int, default=500,
                        help="how many random regions in the list")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--quality", type=int, default=80,
                        help="the tiles' JPEG quality (Zope's and the "
                        "TIFF's; iipsrv encodes at it too)")
    parser.add_argument("--iipsrv-processes", type=int, default=1,
                        help="iipsrv FastCGI processes (Zope is one)")
    parser.add_argument("--only", default="zope,iipsrv",
                        help="the servers to measure: zope, iipsrv")
    args = parser.parse_args(argv)
    connections = [int(c) for c in args.connections.split(",")]
    stores = [s for s in args.stores.split(",") if s]
    wanted = args.only.split(",")
    jpeg, tiff = make(args.dir, args.width, args.height)
    layout = Layout(args.width, args.height)
    names = layout.tile_names()
    stored = stored_tile_regions(layout)
    regions = random_regions(args.width, args.height, args.regions,
                             args.seed)
    stored_paths = [iiif_path(*r) for r in stored]
    region_paths = [region_path(*r) for r in regions]

    started = []
    rows = []
    try:
        if "zope" in wanted:
            zope = ZopeServer()
            started.append(zope.start())
            zope.pids = [zope.process.pid]
            rss_start = rss_mb(zope)
            for store in stores:
                id = {"filesystem": "fs", "zodb": "db"}[store]
                set_id = add_image(zope, jpeg, id, store,
                                   quality=args.quality)[1]
                rows += [
                    Row("Zoomify tiles, %s store" % store, zope.url,
                        ["/%s/%s?v=%s" % (id, n, set_id) for n in names],
                        zope, "zoomify", store),
                    Row("IIIF stored tiles, %s store" % store, zope.url,
                        ["/%s/iiif/%s" % (id, p) for p in stored_paths],
                        zope, "stored", store),
                    Row("IIIF random regions, %s store" % store, zope.url,
                        ["/%s/iiif/%s" % (id, p) for p in region_paths],
                        zope, "random", store),
                ]
        if "iipsrv" in wanted:
            if not os.path.exists(IIPSRV):
                raise SystemExit("iipsrv is missing: apt-get install -y "
                                 "iipimage-server spawn-fcgi")
            directory = os.path.join(args.dir, "iipsrv")
            os.makedirs(directory, exist_ok=True)
            os.chmod(directory, 0o755)
            # www-data passes through DIR to the TIFF
            os.chmod(args.dir, os.stat(args.dir).st_mode | 0o005)
            pyramid = "bench-%dx%d-q%d-pyramid.tif" % (
                args.width, args.height, args.quality)
            make_pyramid(jpeg, os.path.join(directory, pyramid),
                         args.quality)
            iip = IIPServer(directory, args.quality,
                            args.iipsrv_processes).start()
            started.append(iip)
            front = iipsrv_nginx(iip).start()
            started.append(front)
            prefix = "%s?IIIF=%s/" % (IIPSRV_PATH, pyramid)
            rows += [
                Row("iipsrv IIIF tiles (same URLs)", front.url,
                    [prefix + p for p in stored_paths], iip,
                    "iipsrv-stored", "iipsrv"),
                Row("iipsrv random regions (same list)", front.url,
                    [prefix + p for p in region_paths], iip,
                    "iipsrv-random", "iipsrv"),
            ]
        # a few regions each, as a check that they answer (not a warm-up:
        # nothing caches composed answers)
        for row in rows:
            if row.kind.endswith("random"):
                row.warm = row.paths[:5]
        print("%dx%d, %d tiles, %d of them asked as IIIF stored tiles; "
              "%d random regions (seed %d); wrk -t2 for %d s; iipsrv "
              "processes: %d" % (
                  args.width, args.height, len(names), len(stored_paths),
                  len(region_paths), args.seed, args.duration,
                  args.iipsrv_processes))
        print()
        began = time.monotonic()
        load = os.getloadavg()[0]
        run(rows, connections, args.duration, args.rounds)
        table(rows, connections)
        if "zope" in wanted:
            print("\nZope's RSS: %.0f MB after start, %.0f MB at the end "
                  "(peak %.0f MB)" % (rss_start, rss_mb(zope),
                                      zope.memory_kb("VmHWM") / 1024.0))
        # the machine's other work shows here (2 cores: above 2 is busy)
        print("\n%.0f s; load average (1 min) %.1f at the start, %.1f at "
              "the end" % (time.monotonic() - began, load,
                           os.getloadavg()[0]))
    finally:
        for thing in reversed(started):
            thing.stop()
            # the instance (a Data.fs and the tiles) is not kept
            if isinstance(thing, ZopeServer):
                shutil.rmtree(thing.home, ignore_errors=True)


if __name__ == "__main__":
    main()
