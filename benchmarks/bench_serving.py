"""Tile serving under load: Zope's two tile stores against OFS.Image, and
nginx (static files, and the caching front-end of docs/nginx.conf).

    .venv/bin/python benchmarks/bench_serving.py [--duration 20]
        [--connections 16,50] [--width 6000 --height 4001] [--dir DIR]
        [--only zope,nginx,private] [--rounds N]

Runs as root (nginx's workers run as www-data), on 127.0.0.1 only. It
makes the image with make_images.py, starts two Zope instances (runwsgi,
4 waitress threads) and two nginx, and runs wrk (2 threads) against:

  OFS.Image        the same tiles as plain OFS.Images in a folder (A)
  ZODB store       random tiles of the image, as the viewer asks (A)
  filesystem store the same, filesystem store (A)
  nginx static     nginx serving the same tile files as they are (with
                   the open_file_cache of docs/nginx.conf's tiles)
  cache, ZODB / cache, filesystem
                   docs/nginx.conf in front of Zope B (X-Accel-Redirect
                   set, as docs/frontend.txt says), the cache warmed first
  private, X-Accel docs/nginx.conf, a private filesystem image asked by a
                   manager: Zope checks every request, nginx sends the file

The rows take turns at each connection count. Prints a markdown table
(rate, p50, p99, errors, Zope's RSS before and after each run, the CPU
time per answer of the server that answers: nginx's workers or Zope)
and the ratios: each store / OFS.Image, cached / nginx static. Asserts
nothing.
"""

import argparse
import base64
import glob
import os
import statistics
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from make_images import make  # noqa: E402

from tests.http_upload import post_form  # noqa: E402
from tests.nginx_fixture import Nginx  # noqa: E402
from tests.nginx_fixture import front_end_servers  # noqa: E402
from tests.nginx_fixture import wrk  # noqa: E402
from tests.nginx_fixture import zope_behind_nginx  # noqa: E402
from tests.zope_fixtures import ADMIN  # noqa: E402
from ZoomifyImage.pyramid import Layout  # noqa: E402

AUTH = "Authorization: Basic " + base64.b64encode(
    ("%s:%s" % ADMIN).encode()).decode()


def request(url, data=None, manager=False):
    r = urllib.request.Request(url, data=data)
    if manager:
        name, value = AUTH.split(": ", 1)
        r.add_header(name, value)
    with urllib.request.urlopen(r, timeout=60) as response:
        return response.headers, response.read()


def add_image(zope, path, id, store, **fields):
    """The image added through the ZMI add form (``fields``: more of its
    fields, such as quality); (uid, set id) from a tile's ETag."""
    status, body = post_form(
        zope.url + "/manage_addProduct/ZoomifyImage/manage_addZoomifyImage",
        dict({"id": id, "storage": store}, **fields), "file", path, ADMIN)
    assert status == 302, body[:300]
    headers, body = request("%s/%s/TileGroup0/0-0-0.jpg" % (zope.url, id),
                            manager=True)
    # the ETag names the set, not the uid (issue 23, L1): the uid is where
    # the set lies under tile-root (ab/UID/SET; None for the ZODB store)
    zi, key, set_id = headers["ETag"].strip('"').split("-")
    root = getattr(zope, "tile_root", None)
    found = glob.glob(os.path.join(root, "*", "*", set_id)) if root else []
    uid = os.path.basename(os.path.dirname(found[0])) if found else None
    return uid, set_id


def rss_mb(zope):
    return zope.memory_kb() / 1024.0


class Row:
    def __init__(self, label, base, paths, zope=None, headers=(), group="",
                 nginx=None):
        self.label, self.base, self.paths = label, base, paths
        self.zope, self.headers, self.group = zope, list(headers), group
        self.nginx = nginx  # the nginx in front, if any
        self.results = {}


def warm(row):
    """Every path once: Zope's caches and nginx's cache are filled."""
    for path in row.paths:
        request(row.base + path, manager=bool(row.headers))


def run(rows, connections, seconds, rounds=1):
    # the rows take turns at each connection count, so that what else
    # the machine does weighs on the rows that are compared alike; with
    # several rounds each row's median rate (and its p50 and p99) is kept
    for row in rows:
        warm(row)
    for c in connections:
        runs = {row: [] for row in rows}
        for n in range(rounds):
            for row in rows:
                print("  %s, %d connections, %d s, round %d of %d ..." % (
                    row.label, c, seconds, n + 1, rounds),
                    file=sys.stderr, flush=True)
                before = rss_mb(row.zope) if row.zope else None
                # the server's own CPU per answer (Zope's, or nginx's
                # workers' where nginx answers): steadier than the rate
                # where wrk and the server share 2 cores
                server = row.nginx or row.zope
                cpu = server.cpu_seconds()
                result = wrk(row.base, row.paths, seconds, c,
                             headers=row.headers)
                result["rss"] = (before, rss_mb(row.zope)) \
                    if row.zope else None
                result["cpu"] = (server.cpu_seconds() - cpu) * 1e6 / \
                    max(result["requests"], 1)
                runs[row].append(result)
        for row in rows:
            done = sorted(runs[row], key=lambda r: r["rate"])
            middle = dict(done[len(done) // 2])
            middle["cpu"] = statistics.median(r["cpu"] for r in done)
            middle["errors"] = sum(r["errors"] for r in done)
            first, last = runs[row][0]["rss"], runs[row][-1]["rss"]
            middle["rss"] = (first[0], last[1]) if first else None
            row.results[c] = middle


def table(rows, connections):
    base = {r.group: r for r in rows if r.group in ("ofs", "static")}
    against = {"store": ("ofs", "OFS.Image"),
               "cache": ("static", "nginx static")}
    against = {k: v for k, v in against.items() if v[0] in base}
    print("| what is served | connections | req/s | p50 ms | p99 ms "
          "| errors | Zope RSS MB before -> after | server CPU µs/answer "
          "| ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for c in connections:
        for row in rows:
            r = row.results[c]
            ratio = ""
            if row.group in against:
                key, name = against[row.group]
                ratio = "%.2fx %s" % (
                    r["rate"] / base[key].results[c]["rate"], name)
            rss = "%.0f -> %.0f" % r["rss"] if r["rss"] else "-"
            cpu = "%.1f" % r["cpu"]
            print("| %s | %d | %s | %.1f | %.1f | %d | %s | %s | %s |" % (
                row.label, c, "{:,.0f}".format(r["rate"]), r["p50"],
                r["p99"], r["errors"], rss, cpu, ratio))
    print()
    big = max(connections)
    for row in rows:
        if row.group in against:
            key, name = against[row.group]
            ratio = row.results[big]["rate"] / base[key].results[big]["rate"]
            goal = 1.0 if row.group == "store" else 0.9
            print("%s: %.2fx %s at %d connections (goal >= %.1f): %s" % (
                row.label, ratio, name, big, goal,
                "PASS" if ratio >= goal else "MISS"))
            print("  CPU per answer (Zope's or nginx's): %.2fx %s's" % (
                row.results[big]["cpu"] / base[key].results[big]["cpu"],
                name))


def load_options(parser, connections):
    """The options of a wrk benchmark (this one and bench_iiif.py): the
    image, how long, how many connections (default ``connections``) and
    rounds."""
    parser.add_argument("--dir", default="/tmp/zoomify-bench")
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=4001)
    parser.add_argument("--duration", type=int, default=20,
                        help="seconds of wrk per row and connection count")
    parser.add_argument("--connections", default=connections,
                        help="wrk's connections, comma-separated")
    parser.add_argument("--rounds", type=int, default=1,
                        help="the rows take turns this many times; the "
                        "median run of each row is shown")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    load_options(parser, "16,50")
    parser.add_argument("--only", default="",
                        help="the rows to run, by kind: zope (OFS.Image "
                        "and the stores), nginx (static and caches), "
                        "private; default all")
    args = parser.parse_args(argv)
    connections = [int(c) for c in args.connections.split(",")]
    jpeg, tiff = make(args.dir, args.width, args.height)
    names = Layout(args.width, args.height).tile_names()

    plain = zope_behind_nginx(accel=False)        # Zope answers itself
    front = zope_behind_nginx()                   # as docs/nginx.conf says
    started = []
    try:
        for zope in (plain, front):
            started.append(zope.start())
        sets = {}
        for zope in (plain, front):
            for id, store in [("db", "zodb"), ("fs", "filesystem")]:
                sets[zope, id] = add_image(zope, jpeg, id, store)
        sets[front, "fs_private"] = add_image(front, jpeg, "fs_private",
                                              "filesystem")
        request(front.url + "/fs_private/manage_permission", manager=True,
                data=b"permission_to_manage=View&roles:list=Manager"
                     b"&acquire:int=0")

        # the same bytes as OFS.Images: one a tile, in a folder, asked in
        # the same random order as the stores' tiles
        uid, set_id = sets[plain, "fs"]
        folder = os.path.join(plain.tile_root, uid[:2], uid, set_id)
        sizes = sorted((os.path.getsize(os.path.join(folder, n)), n)
                       for n in names)
        request(plain.url + "/manage_addFolder", manager=True,
                data=b"id=ofs")
        for n in names:
            status, body = post_form(
                plain.url + "/ofs/manage_addProduct/OFSP/manage_addImage",
                {"id": n.replace("/", "-")}, "file",
                os.path.join(folder, n), ADMIN)
            assert status in (200, 302), body[:300]

        # with the open_file_cache the front-end's tile location has
        static = Nginx(lambda n: (
            "server {\n    listen 127.0.0.1:%d;\n"
            "    location /static/ {\n        alias %s/;\n"
            "        open_file_cache max=10000 inactive=60s;\n    }\n}\n"
            % (n.port, plain.tile_root))).start()
        started.append(static)
        cache = Nginx(lambda n: front_end_servers(
            front.port, front.tile_root, n.prefix, n.port)).start()
        started.append(cache)

        def tiles(zope, id):  # as the viewer asks: IMAGE/v/SET/TILE
            return ["/%s/v/%s/%s" % (id, sets[zope, id][1], n)
                    for n in names]
        uid, set_id = sets[plain, "fs"]
        rows = [
            Row("OFS.Image, the same tiles", plain.url,
                ["/ofs/" + n.replace("/", "-") for n in names], plain,
                group="ofs"),
            Row("ZODB store", plain.url, tiles(plain, "db"), plain,
                group="store"),
            Row("filesystem store", plain.url, tiles(plain, "fs"), plain,
                group="store"),
            Row("nginx static, the same files", static.url,
                ["/static/%s/%s/%s/%s" % (uid[:2], uid, set_id, n)
                 for n in names], group="static", nginx=static),
            Row("nginx cache -> Zope, ZODB store", cache.url,
                tiles(front, "db"), front, group="cache", nginx=cache),
            Row("nginx cache -> Zope, filesystem store", cache.url,
                tiles(front, "fs"), front, group="cache", nginx=cache),
            Row("nginx -> Zope -> X-Accel, private (manager)", cache.url,
                tiles(front, "fs_private"), front, headers=[AUTH]),
        ]
        kinds = {"ofs": "zope", "store": "zope", "static": "nginx",
                  "cache": "nginx", "": "private"}
        if args.only:
            wanted = args.only.split(",")
            rows = [r for r in rows if kinds[r.group] in wanted]
        print("%dx%d, %d tiles (median %.1f KB), wrk -t2 for %d s, "
              "median of %d rounds, nginx workers: %s" % (
                  args.width, args.height, len(names),
                  statistics.median(s for s, n in sizes) / 1024.0,
                  args.duration, args.rounds,
                  ", ".join(sorted(cache.worker_users()))))
        print()
        began = time.monotonic()
        load = os.getloadavg()[0]
        run(rows, connections, args.duration, args.rounds)
        table(rows, connections)
        # the machine's other work shows here (2 cores: above 2 is busy)
        print("\n%.0f s; load average (1 min) %.1f at the start, %.1f at "
              "the end" % (time.monotonic() - began, load,
                           os.getloadavg()[0]))
    finally:
        for thing in reversed(started):
            thing.stop()


if __name__ == "__main__":
    main()
