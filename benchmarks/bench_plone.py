"""Benchmark the Zoomify Image add-on in a real Plone 6.2 process: a big
JPEG added through Plone's add form and through plone.restapi's
@tus-upload, its scales, a folder listing, and tile rates against bare
Zope. Prints markdown tables; asserts nothing.

    .venv-plone/bin/python benchmarks/bench_plone.py [--megapixels 600]
        [--listing-megapixels 6] [--items 20] [--duration 5]
        [--connections 4] [--skip-zope] [--dir /tmp/zoomify-bench-plone]

Needs `make install-plone` (.venv-plone: Plone's runwsgi, zconsole) with
pyvips added to it for images over 100 megapixels (make install-plone
leaves the vips extra out, and the product refuses such a JPEG without
it, as Pillow would decode it whole), and
`make install` (.venv: pyvips makes the images; the bare Zope of the
comparison runs from it, as `make start` runs it: Plone's Products.*
packages in one venv would change the bare Zope).

The Plone process is made as `make start-plone` makes it: an instance in
DIR/plone (ZoomifyImage.instance, max request body 2 GB), the site
"Plone" made by tools/plone_site.py under zconsole, then runwsgi on a
free port of 127.0.0.1. Its memory is read from /proc/PID/status: idle
VmRSS after a few pages, then a thread samples VmRSS every 0.05 s and
keeps the highest value of each phase. Then:

- the big image (a smooth gradient with grain, made by pyvips) is POSTed
  to Plone's add form (++add++ZoomifyImage, with the form's
  _authenticator), streamed from disk; "answer" runs until the 302, "to
  tiled" from the start of the POST until the REST API's zoomify.status
  says ready (a big image is tiled by a background job);
- @@images/image/thumb, preview and large of that item: time of each,
  the growth of the process's VmRSS from before the first to after the
  last and its sampled peak over before (target: under 100 MB);
- the same image through @tus-upload (POST, then PATCHes of 16 MB);
  "answer" runs until the last PATCH's 204;
- a folder of ITEMS smaller images (--listing-megapixels, added by the
  REST API; they are tiled in the request), shown as summary_view (each
  item's thumb, made from the pyramid's tiers): the page and its thumbs,
  cold (the scales made) and warm (stored);
- one of those items published; wrk (2 threads) on its Zoomify tiles
  (TileGroupN/T-C-R.jpg) and its IIIF stored tiles as anonymous, then on
  the same image in a bare Zope (the ZMI add form, .venv's runwsgi).
"""

import argparse
import base64
import html
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from tests.http_upload import authorization  # noqa: E402
from tests.http_upload import post_form  # noqa: E402
from tests.nginx_fixture import wrk  # noqa: E402
from tests.processes import answering  # noqa: E402
from tests.processes import free_port  # noqa: E402
from tests.processes import status_kb  # noqa: E402
from ZoomifyImage.iiif_pixels import stored_tile  # noqa: E402
from ZoomifyImage.pyramid import Layout  # noqa: E402

ADMIN = ("admin", "admin")
GROWTH_TARGET_MB = 100     # scaling an item must not grow Plone more
SAMPLE_SECONDS = 0.05
TUS_CHUNK = 16 << 20
SCALES = ("thumb", "preview", "large")

MAKE_IMAGE = """
import sys, pyvips
w, h, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
xy = pyvips.Image.xyz(w, h)
x, y = xy[0], xy[1]
grain = pyvips.Image.gaussnoise(w, h, sigma=4, mean=0, seed=7)
r = x * (200.0 / w) + 20 + grain
g = y * (200.0 / h) + 20 + grain
b = (x + y) * (120.0 / (w + h)) + 60 + grain
image = r.bandjoin([g, b]).cast("uchar").copy(interpretation="srgb")
image.jpegsave(path, Q=85)
"""


# --------------------------------------------------------------- servers

class Server:
    """runwsgi of a venv on an instance of its own (Plone's or bare)."""

    def __init__(self, home, bin_dir, plone=False):
        self.home, self.bin_dir, self.plone = home, bin_dir, plone
        self.process = None

    def start(self, timeout=300):
        if os.path.exists(self.home):
            if not os.path.exists(os.path.join(self.home, "etc",
                                               "zope.ini")):
                raise SystemExit("%s is not an instance this script made"
                                 % self.home)
            shutil.rmtree(self.home)
        self.port = free_port()
        python = os.path.join(self.bin_dir, "python")
        # the instance files as `make start(-plone)`: ZoomifyImage.instance
        subprocess.run([python, "-c",
                        "import sys; from ZoomifyImage.instance import "
                        "write_instance as w; w(sys.argv[1], port=int("
                        "sys.argv[2]), admin=('admin', 'admin'), "
                        "max_body='2GB')", self.home, str(self.port)],
                       check=True, cwd=ROOT)
        etc = os.path.join(self.home, "etc")
        self.log_path = os.path.join(self.home, "server.log")
        self.log = open(self.log_path, "ab")
        if self.plone:
            subprocess.run([os.path.join(self.bin_dir, "zconsole"), "run",
                            os.path.join(etc, "zope.conf"),
                            os.path.join(ROOT, "tools", "plone_site.py")],
                           check=True, cwd=ROOT, stdout=self.log,
                           stderr=self.log)
        self.process = subprocess.Popen(
            [os.path.join(self.bin_dir, "runwsgi"),
             os.path.join(etc, "zope.ini")],
            cwd=self.home, stdout=self.log, stderr=self.log)
        self.url = "http://127.0.0.1:%d" % self.port
        if not answering(self.url + "/", timeout, self.process):
            self.stop()
            raise SystemExit("the server did not start; see %s"
                             % self.log_path)
        return self

    def mb(self, field="VmRSS"):
        kb = status_kb(self.process.pid, field)
        return None if kb is None else kb / 1024.0

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Sampler(threading.Thread):
    """The highest VmRSS of each phase."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.phase, self.peaks = server, None, {}
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            rss, phase = self.server.mb(), self.phase
            if rss is not None and phase is not None:
                self.peaks[phase] = max(self.peaks.get(phase, 0.0), rss)
            self.stopping.wait(SAMPLE_SECONDS)

    def stop(self):
        self.stopping.set()
        self.join()


# ------------------------------------------------------------------ HTTP

def call(url, method="GET", data=None, auth=True, timeout=600, **headers):
    """(status, headers, body); HTTP errors are answers too."""
    headers = {k.replace("_", "-"): v for k, v in headers.items()}
    if auth:
        headers["Authorization"] = authorization(ADMIN)
    request = urllib.request.Request(url, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def rest(url, method="GET", body=None):
    data = None if body is None else json.dumps(body).encode()
    code, _, answer = call(url, method, data, Accept="application/json",
                           Content_Type="application/json")
    return code, (json.loads(answer) if answer.strip().startswith(b"{")
                  else answer)


def wait_tiled(item_url, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code, answer = rest(item_url)
        status = answer.get("zoomify", {}).get("status") \
            if isinstance(answer, dict) else None
        if status in ("ready", "failed"):
            return status
        time.sleep(0.5)
    return "timeout"


def add_form(site, path, title):
    """POST ``path`` to Plone's add form; (status, seconds)."""
    code, _, page = call(site + "/++add++ZoomifyImage")
    token = re.search(rb'name="_authenticator"[^>]*value="([^"]+)"', page)
    if code != 200 or not token:
        raise SystemExit("no add form (%s)" % code)
    fields = {"_authenticator": token.group(1).decode(),
              "form.widgets.IDublinCore.title": title,
              "form.buttons.save": "Save"}
    began = time.monotonic()
    status, body = post_form(site + "/++add++ZoomifyImage", fields,
                             "form.widgets.image", path, ADMIN,
                             timeout=3600)
    if status != 302:
        errors = re.findall(rb'class="[^"]*invalid-feedback[^"]*"[^>]*>'
                            rb'([^<]*)', body)
        raise SystemExit("the add form answered %s: %s" % (
            status, [html.unescape(e.decode()) for e in errors]))
    return time.monotonic() - began


def tus_upload(site, path, title):
    """@tus-upload in chunks; (item URL, seconds until the last 204)."""
    def meta(**values):
        return ",".join("%s %s" % (k, base64.b64encode(v.encode()).decode())
                        for k, v in values.items())
    size = os.path.getsize(path)
    tus = {"Tus_Resumable": "1.0.0", "Accept": "application/json"}
    began = time.monotonic()
    code, headers, body = call(
        site + "/@tus-upload", "POST", b"", Upload_Length=str(size),
        Upload_Metadata=meta(**{"@type": "ZoomifyImage", "title": title,
                                "filename": os.path.basename(path),
                                "content-type": "image/jpeg"}), **tus)
    if code != 201:
        raise SystemExit("@tus-upload answered %s: %s" % (code, body[:300]))
    upload = headers["Location"]
    with open(path, "rb") as f:
        offset = 0
        while offset < size:
            chunk = f.read(TUS_CHUNK)
            code, headers, body = call(
                upload, "PATCH", chunk, Upload_Offset=str(offset),
                Content_Type="application/offset+octet-stream", **tus)
            if code != 204:
                raise SystemExit("PATCH answered %s: %s" % (code,
                                                            body[:300]))
            offset += len(chunk)
    return headers["Location"], time.monotonic() - began


# ---------------------------------------------------------------- phases

def upload_row(label, server, sampler, idle, run, timeout):
    sampler.phase = label
    began = time.monotonic()
    item_url, answer_s = run()
    status = wait_tiled(item_url, timeout)
    tiled_s = time.monotonic() - began
    time.sleep(0.3)
    sampler.phase = None
    return {"label": label, "answer": answer_s, "tiled": tiled_s,
            "status": status, "peak": sampler.peaks.get(label, 0.0) - idle,
            "url": item_url}


def scale_rows(server, sampler, item_url):
    rows = []
    before = server.mb()
    sampler.phase = "scales"
    for name in SCALES:
        began = time.monotonic()
        code, headers, body = call("%s/@@images/image/%s" % (item_url, name))
        rows.append((name, code, time.monotonic() - began, len(body),
                     headers.get("Content-Type"), server.mb()))
    time.sleep(0.2)
    sampler.phase = None
    return before, sampler.peaks.get("scales", before), rows


def listing(server, sampler, folder_url, label):
    sampler.phase = label
    before = server.mb()
    began = time.monotonic()
    code, _, page = call(folder_url + "/summary_view")
    thumbs = sorted(set(re.findall(
        rb'src="([^"]*/@@images/[^"]+)"', page)))
    bad = 0
    for src in thumbs:
        src = html.unescape(src.decode())
        c, _, _ = call(src if src.startswith("http") else
                       "http://127.0.0.1:%d%s" % (server.port, src))
        bad += c != 200
    seconds = time.monotonic() - began
    sampler.phase = None
    return {"label": label, "code": code, "thumbs": len(thumbs), "bad": bad,
            "seconds": seconds, "growth": server.mb() - before,
            "peak": sampler.peaks.get(label, before) - before}


def stored_tile_paths(layout):
    """IIIF requests (x,y,w,h/w,h) a viewer makes of the info.json grid
    that are stored tiles (as bench_iiif.py)."""
    out = []
    n = layout.num_tiers
    for tier, col, row in layout.all_tiles():
        k = n - 1 - tier
        span = layout.tile_size << k
        x, y = col * span, row * span
        w, h = min(span, layout.width - x), min(span, layout.height - y)
        size = (math.ceil(w / (1 << k)), math.ceil(h / (1 << k)))
        if stored_tile(layout, (x, y, w, h), size) == layout.tile_name(
                tier, col, row):
            out.append("iiif/%d,%d,%d,%d/%d,%d/0/default.jpg"
                       % ((x, y, w, h) + size))
    return out


def rates(base, width, height, args):
    layout = Layout(width, height)
    zoomify = ["%s/%s" % (base, n) for n in layout.tile_names()]
    iiif = ["%s/%s" % (base, p) for p in stored_tile_paths(layout)]
    origin = re.match(r"https?://[^/]+", base).group(0)
    out = {}
    for kind, urls in (("Zoomify tiles", zoomify),
                       ("IIIF stored tiles", iiif)):
        for u in urls[:50]:   # warm: each answers 200 to anonymous
            code, _, _ = call(u, auth=False)
            if code != 200:
                raise SystemExit("%s answered %s to anonymous" % (u, code))
        paths = [u[len(origin):] for u in urls]
        out[kind] = wrk(origin, paths, args.duration, args.connections)
    return out


def make_image(workdir, megapixels, zope_bin):
    width = int(round(math.sqrt(megapixels * 1e6 * 1.5)))
    height = int(round(megapixels * 1e6 / width))
    path = os.path.join(workdir, "plone-%dx%d.jpg" % (width, height))
    if not os.path.exists(path):
        print("making %s ..." % path, flush=True)
        subprocess.run([os.path.join(zope_bin, "python"), "-c", MAKE_IMAGE,
                        str(width), str(height), path + ".part"], check=True)
        os.rename(path + ".part", path)
    return path, width, height


# ------------------------------------------------------------------ main

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/zoomify-bench-plone")
    parser.add_argument("--megapixels", type=float, default=600,
                        help="the big image (3:2), default 600")
    parser.add_argument("--listing-megapixels", type=float, default=6,
                        help="each listed item's image (default 6)")
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--duration", type=int, default=5,
                        help="seconds of each wrk run (default 5)")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--skip-zope", action="store_true",
                        help="no bare Zope rates")
    parser.add_argument("--timeout", type=int, default=3600)
    args = parser.parse_args(argv)
    plone_bin = os.path.dirname(sys.executable)
    zope_bin = os.path.join(ROOT, ".venv", "bin")
    for need in (os.path.join(plone_bin, "zconsole"),
                 os.path.join(zope_bin, "runwsgi")):
        if not os.path.exists(need):
            parser.error("no %s: run with .venv-plone/bin/python after "
                         "make install-plone and make install" % need)
    try:
        import pyvips  # noqa: F401
    except ImportError:
        # without it the product refuses a JPEG over 100 MP (Pillow would
        # decode it whole), and make install-plone does not install it
        if max(args.megapixels, args.listing_megapixels) > 100:
            parser.error("no pyvips in %s: .venv-plone/bin/uv pip install "
                         "--python .venv-plone/bin/python 'pyvips[binary]'"
                         % sys.executable)
    os.makedirs(args.dir, exist_ok=True)
    load = os.getloadavg()
    big, width, height = make_image(args.dir, args.megapixels, zope_bin)
    small, sw, sh = make_image(args.dir, args.listing_megapixels, zope_bin)

    plone = Server(os.path.join(args.dir, "plone"), plone_bin,
                   plone=True).start()
    site = plone.url + "/Plone"
    sampler = Sampler(plone)
    sampler.start()
    try:
        for page in ("", "/++add++ZoomifyImage", "/folder_contents"):
            call(site + page)
        idle = plone.mb()
        uploads = [upload_row(
            "add form", plone, sampler, idle,
            lambda: (site + "/big-form", add_form(site, big, "Big form")),
            args.timeout)]
        scales_before, scales_peak, scales = scale_rows(
            plone, sampler, uploads[0]["url"])
        uploads.append(upload_row(
            "@tus-upload", plone, sampler, idle,
            lambda: tus_upload(site, big, "Big tus"), args.timeout))
        hwm = plone.mb("VmHWM")

        code, folder = rest(site, "POST", {"@type": "Folder",
                                           "title": "Listing"})
        folder_url = folder["@id"]
        with open(small, "rb") as f:
            data = base64.b64encode(f.read()).decode()
        began = time.monotonic()
        for i in range(args.items):
            code, answer = rest(folder_url, "POST", {
                "@type": "ZoomifyImage", "title": "Item %d" % i,
                "image": {"data": data, "encoding": "base64",
                          "filename": "item%d.jpg" % i,
                          "content-type": "image/jpeg"}})
            if code != 201:
                raise SystemExit("adding item %d: %s" % (i, answer))
        adding_s = time.monotonic() - began
        for i in range(args.items):
            wait_tiled("%s/item-%d" % (folder_url, i), args.timeout)
        listings = [listing(plone, sampler, folder_url, "cold"),
                    listing(plone, sampler, folder_url, "warm")]

        published = folder_url + "/item-0"
        for target in (folder_url, published):
            rest(target + "/@workflow/publish", "POST")
        plone_rates = rates(published, sw, sh, args)
    finally:
        sampler.stop()
        plone.stop()

    zope_rates = None
    if not args.skip_zope:
        zope = Server(os.path.join(args.dir, "zope"), zope_bin).start()
        try:
            status, body = post_form(
                zope.url + "/manage_addProduct/ZoomifyImage/"
                "manage_addZoomifyImage", {"id": "item", "title": "Item"},
                "file", small, ADMIN)
            if status != 302:
                raise SystemExit("bare Zope's add form: %s" % status)
            zope_rates = rates(zope.url + "/item", sw, sh, args)
        finally:
            zope.stop()

    mb = os.path.getsize(big) / 1e6
    print()
    print("Load average at the start %s, at the end %s; %d CPUs. "
          "Command: %s" % (
              " ".join("%.2f" % x for x in load),
              " ".join("%.2f" % x for x in os.getloadavg()),
              os.cpu_count(), " ".join([".venv-plone/bin/python"]
                                       + sys.argv)))
    print()
    print("Plone 6.2, %dx%d JPEG (%.0f MP, %.1f MB); idle VmRSS %.0f MB, "
          "VmHWM after both uploads %.0f MB" % (
              width, height, width * height / 1e6, mb, idle, hwm))
    print()
    print("| added through | answer s | to tiled s | status "
          "| peak RSS over idle MB |")
    print("|---|---:|---:|---|---:|")
    for r in uploads:
        print("| %s | %.1f | %.1f | %s | %.0f |" % (
            r["label"], r["answer"], r["tiled"], r["status"], r["peak"]))
    print()
    print("Scales of the add form's item (VmRSS before: %.0f MB; target: "
          "growth under %d MB)" % (scales_before, GROWTH_TARGET_MB))
    print()
    print("| scale | HTTP | s | bytes | type | VmRSS after MB |")
    print("|---|---|---:|---:|---|---:|")
    for name, code, s, n, ctype, after in scales:
        print("| %s | %s | %.2f | %d | %s | %.0f |" % (
            name, code, s, n, ctype, after))
    growth = scales[-1][-1] - scales_before
    peak = scales_peak - scales_before
    print()
    print("RSS growth over the three scales: %.0f MB after, %.0f MB at the "
          "peak (sampled every %.2f s): %s the %d MB target" % (
              growth, peak, SAMPLE_SECONDS,
              "within" if max(growth, peak) < GROWTH_TARGET_MB
              else "MISSES", GROWTH_TARGET_MB))
    print()
    print("Folder of %d items of %dx%d (%.0f MP each, smaller than the big "
          "one to keep the run short), added by the REST API in %.1f s; "
          "summary_view and every thumb it shows:" % (
              args.items, sw, sh, sw * sh / 1e6, adding_s))
    print()
    print("| listing | HTTP | thumbs (not 200) | s | RSS growth MB "
          "| peak over before MB |")
    print("|---|---|---|---:|---:|---:|")
    for r in listings:
        print("| %s | %s | %d (%d) | %.2f | %.0f | %.0f |" % (
            r["label"], r["code"], r["thumbs"], r["bad"], r["seconds"],
            r["growth"], r["peak"]))
    print()
    print("Anonymous tile rates, %dx%d item, wrk -t2 -c%d for %d s, one run "
          "(the server and wrk share the machine's cores)" % (
              sw, sh, args.connections, args.duration))
    print()
    print("| tiles | server | req/s | p50 ms | p99 ms | errors |")
    print("|---|---|---:|---:|---:|---:|")
    for kind in ("Zoomify tiles", "IIIF stored tiles"):
        for label, found in (("Plone, published item", plone_rates),
                             ("bare Zope", zope_rates)):
            if found is None:
                continue
            r = found[kind]
            print("| %s | %s | %.0f | %.1f | %.1f | %d |" % (
                kind, label, r["rate"], r["p50"], r["p99"], r["errors"]))


if __name__ == "__main__":
    main()
