"""What an IIIF access token costs a tile (docs/access.txt): the same
Zoomify tiles and IIIF stored-tile requests with and without
"Authorization: Bearer TOKEN", against one Zope (runwsgi, 4 waitress
threads, ZODB store) whose image has a preview size.

    .venv/bin/python benchmarks/bench_auth.py [--duration 10]
        [--connections 8] [--width 6000 --height 4001] [--rounds 1]

Rows, each a wrk run (2 threads) over random paths of its kind:

  preview tile       a tile of the preview's tiers: anonymous / token
  full tile          a tile above the preview: the manager's Basic
                     login / the manager's token
  IIIF preview       a stored-tile IIIF request within the preview:
                     anonymous / token
  IIIF full          a stored-tile IIIF request above it: Basic / token

Every row sends the same client page's Origin header: only the
Authorization header differs between a pair. Prints a markdown table
(rate, p50, p99, errors, Zope's CPU per answer)
and, for each kind, the token's row against the one without: the target
is at most 1.1x the CPU per answer (and at least 1/1.1 the rate).
Asserts nothing.
"""

import argparse
import base64
import json
import os
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from bench_iiif import iiif_path  # noqa: E402
from bench_iiif import stored_tile_regions  # noqa: E402
from bench_serving import Row  # noqa: E402
from bench_serving import load_options  # noqa: E402
from bench_serving import run  # noqa: E402
from make_images import make  # noqa: E402

from tests.zope_fixtures import ADMIN  # noqa: E402
from tests.zope_fixtures import ZopeServer  # noqa: E402
from ZoomifyImage.pyramid import Layout  # noqa: E402
from ZoomifyImage.resolution import cut_layout  # noqa: E402

ORIGIN = "http://client.example"
PREVIEW = 1200
# every row is asked as by the same client page: its Origin with and
# without the token (another site's Origin costs the cross-site guard a
# look at the published object's roles: csrf.py), so that only the
# Authorization header differs
SAME_PAGE = "Origin: " + ORIGIN
BASIC = "Authorization: Basic " + base64.b64encode(
    ("%s:%s" % ADMIN).encode()).decode()


def token(zope):
    """The manager's token for ORIGIN, from the token service (JSON)."""
    r = urllib.request.Request(
        zope.url + "/@@zoomify-iiif-token?origin=" + ORIGIN)
    r.add_header(*BASIC.split(": ", 1))
    with urllib.request.urlopen(r, timeout=30) as response:
        return json.loads(response.read())["accessToken"]


def check(row):
    """Every path answers 200 for the row's headers (a refusal would be
    measured as fast)."""
    for path in row.paths[:20]:
        r = urllib.request.Request(row.base + path)
        for header in row.headers:
            r.add_header(*header.split(": ", 1))
        with urllib.request.urlopen(r, timeout=30) as response:
            assert response.status == 200, (path, response.status)
            response.read()


def in_process(jpeg, width, height, count, rounds):
    """The same kinds of request through the publisher of this process
    (the WSGI application called directly, one at a time): CPU seconds
    of this process per answer (time.process_time), each request with
    and without the token asked in turn, ``rounds`` times; the best and
    the median round. Steadier than wrk's rate on
    a machine that others load: waiting for a core is not counted."""
    import statistics
    import time

    from tests.zope_fixtures import product_config
    from tests.zope_fixtures import wsgi_app
    from tests.zope_fixtures import zope_root
    from ZoomifyImage.content import manage_addZoomifyImage

    app = wsgi_app()
    with product_config(**{"preview-size": str(PREVIEW)}):
        with zope_root() as root:
            if "bench_img" in root.objectIds():
                root.manage_delObjects(["bench_img"])
            with open(jpeg, "rb") as f:
                manage_addZoomifyImage(root, id="bench_img", file=f)
        answered = []

        def call(path, headers):
            environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path,
                       "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080",
                       "wsgi.url_scheme": "http", "QUERY_STRING": "",
                       "SERVER_PROTOCOL": "HTTP/1.1",
                       "wsgi.input": __import__("io").BytesIO(b"")}
            for header in headers:
                name, value = header.split(": ", 1)
                environ["HTTP_" + name.upper().replace("-", "_")] = value

            def start(status, response_headers, exc_info=None):
                answered.append(status)
            body = b"".join(app(environ, start))
            return body

        from ZoomifyImage import tokens
        with zope_root() as root:
            secret = tokens.secret_of(root)
        bearer = ["Authorization: Bearer " + tokens.issue(
            secret, ADMIN[0], "/acl_users", ORIGIN),
            "Origin: " + ORIGIN]
        kinds = paths_of(Layout(width, height), "/bench_img")
        rows = []
        for kind, paths, without in kinds:
            rows.append((kind + ", " + ("anonymous" if not without
                                        else "Basic"), paths,
                         without + [SAME_PAGE]))
            rows.append((kind + ", token", paths, bearer))
        cpu = {label: [] for label, _, _ in rows}
        for path in [p for _, paths, _ in rows for p in paths[:50]]:
            call(path, [BASIC])  # warm: tiles read once
        clock = time.process_time
        for _ in range(rounds):
            # a pair (without, token) asks the same path one after the
            # other, request by request: what drifts weighs on both alike
            for j in range(0, len(rows), 2):
                pair = rows[j:j + 2]
                spent = [0.0, 0.0]
                del answered[:]
                for i in range(count):
                    for k, (label, paths, headers) in enumerate(pair):
                        start = clock()
                        body = call(paths[i % len(paths)], headers)
                        spent[k] += clock() - start
                assert set(answered) == {"200 OK"}, (pair[0][0],
                                                     set(answered))
                assert body
                for k, (label, _, _) in enumerate(pair):
                    cpu[label].append(spent[k] / count)
        micro = decision_cost(bearer[0].split(": ", 1)[1])
        # the least disturbed round of each row: what the work costs
        # where others' processes weigh on the cores' caches and clocks
        return [(label, min(cpu[label]) * 1e6,
                 statistics.median(cpu[label]) * 1e6)
                for label, _, _ in rows], micro


def decision_cost(auth, count=20000, rounds=7):
    """CPU microseconds of resolution.sight(), which decides what a
    request may see, for a request of an anonymous visitor and for one
    carrying ``auth`` (a Bearer token): the token's whole cost on a
    tile, measured alone (best of ``rounds``)."""
    import time

    from AccessControl.SecurityManagement import noSecurityManager

    from tests.zope_fixtures import zope_root
    from ZoomifyImage import resolution
    out = {}
    with zope_root(commit=False) as root:
        image = root.bench_img
        tiles = image.tile_set()
        request = root.REQUEST
        request.environ["HTTP_ORIGIN"] = ORIGIN
        noSecurityManager()  # anonymous, as a visitor's request
        for label, value in (("anonymous", None), ("token", auth)):
            request._auth = value
            best = None
            for _ in range(rounds):
                start = time.process_time()
                for _ in range(count):
                    seen = resolution.sight(image, tiles, request)
                spent = (time.process_time() - start) / count
                best = spent if best is None else min(best, spent)
            assert seen.full == (value is not None)
            out[label] = best * 1e6
        request._auth = None
    return out


def paths_of(layout, image):
    """(kind, paths, headers without a token) of the four kinds."""
    cut = cut_layout(layout, PREVIEW)
    n = layout.num_tiers
    low = [t for t in layout.all_tiles() if t[0] < cut.num_tiers]
    high = [t for t in layout.all_tiles() if t[0] >= cut.num_tiers]

    def tier_of(region):
        span = max(region[2], region[3])
        k = 0
        while layout.tile_size << k < span:
            k += 1
        return n - 1 - k
    stored = stored_tile_regions(layout)
    return [
        ("preview tile", [image + "/" + layout.tile_name(*t) for t in low],
         []),
        ("full tile", [image + "/" + layout.tile_name(*t) for t in high],
         [BASIC]),
        ("IIIF preview", [image + "/iiif/" + iiif_path(r, s)
                          for r, s in stored
                          if tier_of(r) < cut.num_tiers], []),
        ("IIIF full", [image + "/iiif/" + iiif_path(r, s)
                       for r, s in stored
                       if tier_of(r) >= cut.num_tiers], [BASIC]),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    load_options(parser, "8")
    parser.add_argument("--count", type=int, default=200,
                        help="requests per row and round, in process")
    parser.add_argument("--only", default="wrk,process",
                        help="wrk (a Zope server under wrk), process (the "
                        "publisher of this process), or both")
    parser.set_defaults(duration=10)
    args = parser.parse_args(argv)
    jpeg, _ = make(args.dir, args.width, args.height)
    if "process" in args.only:
        rounds = max(args.rounds, 15)
        results, micro = in_process(jpeg, args.width, args.height,
                                    args.count, rounds)
        print("\nIn process, %dx%d, preview %d, %d requests a row and "
              "round, %d rounds\n" % (args.width, args.height, PREVIEW,
                                      args.count, rounds))
        print("| request | CPU us/answer, best round | median round | "
              "token / without, best |")
        print("| --- | --- | --- | --- |")
        for i, (label, best, median) in enumerate(results):
            ratio = "%.3fx" % (best / results[i - 1][1]) if i % 2 else ""
            print("| %s | %.0f | %.0f | %s |" % (label, best, median, ratio))
        print("\nresolution.sight() alone, CPU us a call (best of 7 x 20000):"
              " anonymous %.1f, with the token %.1f: the token adds %.1f us"
              " to an answer of %.0f us or more (%.3fx)\n" % (
                  micro["anonymous"], micro["token"],
                  micro["token"] - micro["anonymous"],
                  min(r[1] for r in results),
                  1 + (micro["token"] - micro["anonymous"]) /
                  min(r[1] for r in results)))
    if "wrk" not in args.only:
        return
    layout = Layout(args.width, args.height)
    cut = cut_layout(layout, PREVIEW)
    zope = ZopeServer(settings={"preview-size": str(PREVIEW)})
    zope.start()
    try:
        zope.add(jpeg, "img")
        bearer = ["Authorization: Bearer " + token(zope),
                  "Origin: " + ORIGIN]
        rows = []
        for kind, paths, without in paths_of(layout, "/img"):
            rows.append(Row(kind + ", " + ("Basic" if without else
                                           "anonymous"),
                            zope.url, paths, zope, without + [SAME_PAGE],
                            group=kind))
            rows.append(Row(kind + ", token", zope.url, paths, zope,
                            bearer, group=kind))
        for row in rows:
            check(row)
        connections = [int(c) for c in args.connections.split(",")]
        run(rows, connections, args.duration, args.rounds)
    finally:
        zope.stop()
    print("\n%dx%d, preview %d (%dx%d), ZODB store, wrk -t2 for %d s, "
          "%s connections\n" % (args.width, args.height, PREVIEW, cut.width,
                                cut.height, args.duration, args.connections))
    for c in connections:
        print("| %d connections | rate/s | p50 ms | p99 ms | errors | "
              "CPU us/answer | token / without |" % c)
        print("| --- | --- | --- | --- | --- | --- | --- |")
        without = {}
        for row in rows:
            r = row.results[c]
            ratio = ""
            if "token" in row.label:
                w = without[row.group]
                ratio = "CPU %.2fx, rate %.2fx" % (r["cpu"] / w["cpu"],
                                                   r["rate"] / w["rate"])
            else:
                without[row.group] = r
            print("| %s | %.0f | %.1f | %.1f | %d | %.0f | %s |" % (
                row.label, r["rate"], r["p50"], r["p99"], r["errors"],
                r["cpu"], ratio))
        print()


if __name__ == "__main__":
    main()
