"""Memory budgets under hostile input (issue 23, H3 and M1).

    .venv/bin/python benchmarks/bench_memory.py [--only widths,iiif]
        [--dir DIR] [--height 512] [--budget 512MB]
        [--clients 16] [--duration 30] [--after 10] [--side 8192]

widths: a sweep of 1-bit palette PNGs (two colours, which the decoders
hand out as RGB: the costliest rows) from 10^3 to 10^7 pixels wide and
--height rows; each a few kilobytes of file, written row by row through
zlib so that making it needs no image in memory. Each is cut by
zoomify-tile (--max-tiling-memory --budget) in a process of its own;
the table gives the memory the tiler counted before starting
(plan_tiling), what happened, the process's peak RSS (getrusage of a
small parent, so nothing of this script is counted) and the time.

iiif: one Zope (runwsgi, 4 waitress threads, ZODB store) with a public
--side x --side image; --clients anonymous clients, each from an address
of its own on the loopback (127.0.0.N: the per-client limit counts
addresses), ask for composed PNGs as fast as they are answered for
--duration seconds: the whole image at a width drawn from 3000..4096
(the review's request, full/4097,4095/0/default.png, and its like).
Meanwhile one more client asks for random Zoomify tiles one after the
other. Prints Zope's RSS cold (after start and the add) and warm idle
(after every tile once and one composition: the caches that are meant
to stay are full), its peak during the burst (sampled every 0.1 s), and
--after seconds after the burst;
the clients' answers by status; and the tile latency (median, p90, max).

Asserts nothing; the targets (issue 23): peak RSS of a tiling flat once
the budget refuses; Zope back within 50 MB of its idle RSS 10 s after
the burst; a tile's median under 50 ms during it.
"""

import argparse
import http.client
import os
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from tests.zope_fixtures import ZopeServer  # noqa: E402
from ZoomifyImage.instance import parse_size  # noqa: E402
from ZoomifyImage.pyramid import Layout  # noqa: E402
from ZoomifyImage.pyramid import TilingError  # noqa: E402
from ZoomifyImage.pyramid.budget import format_bytes  # noqa: E402
from ZoomifyImage.pyramid.tiler import plan_tiling  # noqa: E402

WIDTHS = [1000, 10000, 30000, 100000, 150000, 180000, 300000, 1000000,
          10000000]

# run by a small Python of its own: its children's peak is zoomify-tile's
MEASURE = """
import resource, subprocess, sys, time
start = time.monotonic()
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(code, peak / 1024, time.monotonic() - start)
"""


def chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data)))


def palette_png(path, width, height):
    """A 1-bit, two-colour palette PNG of one colour, made row by row."""
    if os.path.exists(path):
        return path
    row = b"\x00" + bytes(-(-width // 8))     # filter 0, palette index 0
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height))
    data += packer.flush()
    with open(path + ".part", "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 3,
                                           0, 0, 0)))
        f.write(chunk(b"PLTE", bytes([200, 30, 30, 255, 255, 255])))
        f.write(chunk(b"IDAT", data))
        f.write(chunk(b"IEND", b""))
    os.rename(path + ".part", path)
    return path


def widths(args):
    tiler = os.path.join(os.path.dirname(sys.executable), "zoomify-tile")
    print("\n### Width sweep: zoomify-tile --max-tiling-memory %s, %d rows, "
          "1-bit palette PNG (RGB rows)\n" % (args.budget, args.height))
    print("| width | file | counted | outcome | peak RSS MB | s |")
    print("|---|---|---|---|---|---|")
    for width in WIDTHS:
        path = palette_png(os.path.join(args.dir, "wide-%dx%d.png"
                                        % (width, args.height)),
                           width, args.height)
        try:
            need = format_bytes(plan_tiling(path, max_tiling_memory=0,
                                            max_megapixels=0)[2])
        except TilingError as e:
            need = "(%s)" % e.problem
        out = os.path.join(args.dir, "out")
        subprocess.call(["rm", "-rf", out])
        result = subprocess.run(
            [sys.executable, "-c", MEASURE, tiler, "--quiet",
             "--max-tiling-memory", args.budget, path, out],
            capture_output=True, text=True)
        code, peak, seconds = result.stdout.split()
        outcome = "tiled" if code == "0" else "refused"
        if code not in ("0", "1"):
            outcome = "exit %s" % code
        print("| %d | %d B | %s | %s | %.0f | %.1f |"
              % (width, os.path.getsize(path), need, outcome,
                 float(peak), float(seconds)))
        subprocess.call(["rm", "-rf", out])


class Sampler(threading.Thread):
    """Zope's RSS every 0.1 s."""

    def __init__(self, zope):
        super().__init__(daemon=True)
        self.zope, self.peak, self.stop = zope, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, self.zope.memory_kb() / 1024)
            time.sleep(0.1)


def get(port, path, source):
    """(status, seconds) of one GET from the address ``source``."""
    start = time.monotonic()
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=60, source_address=(source, 0))
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - start
    finally:
        connection.close()


def iiif(args):
    from make_images import make
    jpeg = make(args.dir, args.side, args.side)[0]
    zope = ZopeServer(settings={"background-megapixels": "1000"}).start()
    try:
        zope.add(jpeg, "big")
        zope.wait_for("big", ("ready",), timeout=600)
        port = zope.port
        layout = Layout(args.side, args.side)
        tiles = [layout.tile_name(tier, col, row)
                 for tier, col, row in layout.all_tiles()]
        time.sleep(2)
        cold = zope.memory_kb() / 1024
        # warm: the caches that are meant to stay (ZODB's, 32 MB of
        # decoded tiles) filled by every tile once and one composition
        for name in tiles:
            get(port, "/big/" + name, "127.0.0.2")
        get(port, "/big/iiif/full/4000,/0/default.png", "127.0.0.3")
        time.sleep(2)
        idle = zope.memory_kb() / 1024
        sampler = Sampler(zope)
        sampler.start()
        counts, latencies = {}, []
        lock = threading.Lock()
        deadline = time.monotonic() + args.duration

        def client(n):
            source = "127.0.0.%d" % (10 + n)
            rng = random.Random(n)
            while time.monotonic() < deadline:
                path = "/big/iiif/full/%d,/0/default.png" % rng.randint(
                    3000, 4096)
                try:
                    status = get(port, path, source)[0]
                except OSError as e:
                    status = type(e).__name__
                with lock:
                    counts[status] = counts.get(status, 0) + 1
                if status in (429, 503):
                    time.sleep(0.05)   # a polite client would wait more

        def victim():
            rng = random.Random(99)
            while time.monotonic() < deadline:
                status, seconds = get(port, "/big/" + rng.choice(tiles),
                                      "127.0.0.2")
                latencies.append((status, seconds))

        threads = [threading.Thread(target=client, args=(n,))
                   for n in range(args.clients)]
        threads.append(threading.Thread(target=victim))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        during = sampler.peak
        time.sleep(args.after)
        sampler.stop.set()
        after = zope.memory_kb() / 1024
        print("\n### %d anonymous IIIF clients for %d s, %dx%d image, "
              "composed PNGs 3000..4096 wide\n"
              % (args.clients, args.duration, args.side, args.side))
        print("| Zope RSS cold MB | warm idle MB | peak MB | %d s after MB "
              "| after - warm idle |" % args.after)
        print("|---|---|---|---|---|")
        print("| %.0f | %.0f | %.0f | %.0f | %+.0f |"
              % (cold, idle, during, after, after - idle))
        print("\nIIIF answers by status: %s" % ", ".join(
            "%s: %d" % item for item in sorted(counts.items(), key=str)))
        ok = sorted(s for code, s in latencies if code == 200)
        bad = len(latencies) - len(ok)
        if ok:
            print("\n| Zoomify tiles during the burst | median ms | p90 ms "
                  "| max ms | not 200 |")
            print("|---|---|---|---|---|")
            print("| %d | %.1f | %.1f | %.0f | %d |"
                  % (len(ok), 1000 * statistics.median(ok),
                     1000 * ok[int(0.9 * (len(ok) - 1))], 1000 * ok[-1],
                     bad))
    finally:
        zope.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="widths,iiif")
    parser.add_argument("--dir", default=os.path.join(
        tempfile.gettempdir(), "zoomify-bench-memory"))
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--budget", default="512MB")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--after", type=float, default=10)
    parser.add_argument("--side", type=int, default=8192)
    args = parser.parse_args(argv)
    parse_size(args.budget)
    os.makedirs(args.dir, exist_ok=True)
    sys.path.insert(0, HERE)
    parts = args.only.split(",")
    if "widths" in parts:
        widths(args)
    if "iiif" in parts:
        iiif(args)
    print("\nload average: %.1f %.1f %.1f" % os.getloadavg())


if __name__ == "__main__":
    main()
