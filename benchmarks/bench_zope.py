"""Benchmark a real Zope: upload a big JPEG through the ZMI add form, follow
its background tiling and measure the Zope process's time and memory.

    .venv/bin/python benchmarks/bench_zope.py [--dir /tmp/zoomify-bench]
        [--width 30000] [--height 20000] [--stores zodb,filesystem]
        [--background-megapixels N] [--no-probe] [--timeout 3600]

For each tile store the script makes a fresh Zope instance in
DIR/zope-STORE (ZoomifyImage.instance.write_instance, with `storage STORE`
in its zope.conf), starts `runwsgi` as a child process on a free port of
127.0.0.1, and then:

- reads the idle VmRSS of the Zope process (after it served a request),
- POSTs the image to /manage_addProduct/ZoomifyImage/manage_addZoomifyImage
  as multipart/form-data (id, title, file), streamed from disk in 1 MB
  chunks, as admin:admin; the "upload" time runs until the 302,
- polls IMAGE/status_json every 0.5 s until "ready" or "failed"; the
  "tiling" time runs from the 302 until then,
- reads VmHWM (the peak RSS of the Zope process since it started),
- fetches ImageProperties.xml and three tiles (200, image/jpeg),
- stops the server (SIGTERM, then SIGKILL after 30 s).

The upload's own memory: the background job starts when the adding
transaction commits, a moment before the 302 reaches the client, so the
peak of the upload cannot be told from the start of the tiling in the same
run. Before each store's run the same POST therefore goes to an instance
of its own, DIR/zope-STORE-upload, whose max-megapixels is just below the
image's size: the add form does all its work (form parsed, file copied
into a blob, job queued) and the job refuses the image from its header,
without decoding it. Its VmHWM is the peak of the upload. A thread also
samples the VmRSS of the main run every 0.01 s while the POST runs and
every 0.1 s after.

The script prints markdown tables; it asserts nothing. Every figure is
from one run. The instance directories are kept (with server.log) until
the next run.
"""

import argparse
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
AUTH = ("admin", "admin")
IMAGE_ID = "bench"
TARGET_MB = 400          # peak - idle RSS of the Zope process must stay below
POLL_SECONDS = 0.5
SAMPLE_SECONDS = 0.1     # RSS samples while tiling
UPLOAD_SAMPLE_SECONDS = 0.01   # and while the POST runs (it is short)

sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from bench_tiler import GROUP  # noqa: E402 (layout only)
from bench_tiler import grid  # noqa: E402 (layout only)
from bench_tiler import tier_sizes  # noqa: E402 (layout only)

from tests.http_upload import post_form  # noqa: E402 (streamed from disk)
from tests.processes import answering  # noqa: E402
from tests.processes import free_port  # noqa: E402
from tests.processes import status_kb  # noqa: E402

# --------------------------------------------------------------------------
# The Zope process

def authorization():
    token = base64.b64encode(("%s:%s" % AUTH).encode()).decode()
    return "Basic " + token


class Zope:
    """runwsgi on an instance of its own in DIR/zope-STORE."""

    def __init__(self, workdir, store, settings, name=None):
        from ZoomifyImage.instance import write_instance
        self.home = os.path.join(workdir, name or "zope-" + store)
        if os.path.exists(self.home):
            # only ever a directory this script made
            if not os.path.exists(os.path.join(self.home, "etc",
                                               "zope.ini")):
                raise SystemExit("%s exists and is not an instance made by "
                                 "this script: remove it or use another "
                                 "--dir" % self.home)
            shutil.rmtree(self.home)
        self.port = free_port()
        # the upload is bigger than the default cap of request bodies
        self.conf, self.ini = write_instance(self.home, port=self.port,
                                             admin=AUTH, max_body="1GB")
        with open(self.conf) as f:
            text = f.read()
        if "    storage zodb\n" not in text:
            raise SystemExit("no `storage zodb` line in %s" % self.conf)
        added = ""
        for key, value in dict(settings, storage=store).items():
            line = "    %s %s\n" % (key, value)
            # a key may appear once in <product-config>: replace it there
            text, n = re.subn(r"(?m)^    %s .*\n" % re.escape(key),
                              lambda m: line, text, count=1)
            if not n:
                added += line
        with open(self.conf, "w") as f:
            f.write(text.replace("</product-config>",
                                 added + "</product-config>", 1))
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(self.home, "server.log")
        self.process = None

    def start(self, timeout=120):
        runwsgi = os.path.join(os.path.dirname(sys.executable), "runwsgi")
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen([runwsgi, self.ini], cwd=self.home,
                                        stdout=self.log, stderr=self.log)
        if answering(self.url + "/", timeout, self.process):
            return
        self.stop()
        raise RuntimeError("Zope did not start; the end of %s:\n%s"
                           % (self.log_path, self.log_tail(40)))

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def mb(self, field="VmRSS"):
        if self.process is None:
            return None
        kb = status_kb(self.process.pid, field)
        return None if kb is None else kb / 1024.0

    def stop(self):
        """SIGTERM, then SIGKILL after 30 s; says how it went."""
        how = "had already exited"
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            how = "stopped by SIGTERM"
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                how = "did not stop on SIGTERM in 30 s: killed"
        if self.process is not None:
            self.log.close()
            how += " (exit status %s)" % self.process.returncode
        return how

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def log_matches(self, pattern, limit=20):
        """Lines of the log with ERROR, WARNING or a traceback."""
        found = []
        try:
            with open(self.log_path, errors="replace") as f:
                for line in f:
                    if re.search(pattern, line):
                        found.append(line.rstrip("\n"))
        except OSError:
            pass
        return found[-limit:]


class Sampler(threading.Thread):
    """Samples the VmRSS of a process; keeps the highest value per phase."""

    def __init__(self, zope):
        super().__init__(daemon=True)
        self.zope = zope
        self.phase = None
        self.peaks = {}
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            rss = self.zope.mb("VmRSS")
            phase = self.phase
            if rss is not None and phase is not None:
                self.peaks[phase] = max(self.peaks.get(phase, 0.0), rss)
            self.stopping.wait(UPLOAD_SAMPLE_SECONDS if phase == "upload"
                               else SAMPLE_SECONDS)

    def stop(self):
        self.stopping.set()
        self.join()


# --------------------------------------------------------------------------
# HTTP

def get(url, timeout=60):
    """(status, content type, body) of a GET as admin."""
    request = urllib.request.Request(url)
    request.add_header("Authorization", authorization())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return (response.status, response.headers.get("Content-Type", ""),
                    response.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def text_of(html, limit=300):
    """The words of an HTML error page, shortened."""
    text = re.sub(rb"<[^>]*>", b" ", html).decode("utf-8", "replace")
    text = " ".join(text.split())
    return text[:limit] + ("..." if len(text) > limit else "")


# --------------------------------------------------------------------------
# One store

class Result:
    def __init__(self, store, probe=False):
        self.store = store
        self.probe = probe
        self.upload = self.sent = self.tiling = None
        self.idle = self.peak = self.upload_peak = self.upload_hwm = None
        self.sent_hwm = None
        self.tiling_peak = None
        self.status = None
        self.background = None
        self.tiles = None
        self.expected_tiles = None
        self.served = []
        self.problems = []
        self.log_lines = []
        self.log_tail = ""
        self.disk_mb = None
        self.home = None
        self.stopped = None
        self.refusal = ""

    @property
    def ok(self):
        return self.status == ("failed" if self.probe else "ready")


def tile_names(width, height):
    """The first tile, the middle and the last tile of the top tier."""
    sizes = tier_sizes(width, height)
    counts = [grid(w, h)[0] * grid(w, h)[1] for w, h in sizes]
    top = len(sizes) - 1
    cols, rows = grid(*sizes[top])
    first = sum(counts[:top])

    def name(tier, col, row, index):
        return "TileGroup%d/%d-%d-%d.jpg" % (index // GROUP, tier, col, row)

    picks = [name(0, 0, 0, 0)]
    for col, row in ((cols // 2, rows // 2), (cols - 1, rows - 1)):
        picks.append(name(top, col, row, first + row * cols + col))
    return picks, sum(counts)


def disk_mb(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total / 1e6


def probe_settings(width, height):
    """zope.conf settings under which the add form does all its work (the
    form parsed, the file copied into a blob, the job queued) but the job
    refuses the image at once, from its header, without decoding it: the
    peak RSS is then the upload's own. None if the image is too small."""
    megapixels = width * height / 1e6
    limit = -(-width * height // 1000000) - 1   # ceil(megapixels) - 1
    if limit < 1:
        return None
    return {"background-megapixels": 1 if megapixels > 1 else 0,
            "max-megapixels": limit}


def run_store(store, jpeg, args, settings, probe=False):
    result = Result(store, probe)
    if probe:
        name = "zope-%s-upload" % store
        settings = dict(settings, **probe_settings(args.width, args.height))
        label = "%s, upload only" % store
    else:
        name = "zope-" + store
        label = store
    zope = Zope(args.dir, store, settings, name)
    result.home = zope.home
    print("\n[%s] instance %s, http://127.0.0.1:%d/ (load average %s)"
          % (label, zope.home, zope.port,
             " ".join("%.2f" % x for x in os.getloadavg())), flush=True)
    try:
        zope.start()
    except RuntimeError as e:
        result.status = "did not start"
        result.problems.append(str(e))
        result.stopped = "did not start"
        return result
    sampler = Sampler(zope)
    sampler.start()
    try:
        measure(zope, sampler, jpeg, args, result, label)
    except Exception as e:
        result.problems.append("the benchmark stopped: %s: %s"
                               % (type(e).__name__, e))
    finally:
        sampler.stop()
        if zope.alive():
            result.peak = zope.mb("VmHWM")
        else:
            result.problems.append("the Zope process exited with %s"
                                   % zope.process.returncode)
        result.stopped = zope.stop()
    pattern = r"ERROR|WARNING|Traceback|Error:|failed"
    if probe:   # the refusal is expected: show what else went wrong
        pattern = r"ERROR|Traceback|Error:"
    result.log_lines = zope.log_matches(pattern)
    if probe and result.status == "failed":
        refusals = zope.log_matches(r"tiling .* failed: ", 1)
        result.refusal = refusals[0] if refusals else ""
        if "over the limit" not in result.refusal:
            result.problems.append("the job failed, but not for the size "
                                   "limit: %r" % result.refusal)
    if not result.ok or result.problems:
        result.log_tail = zope.log_tail(40)
    result.disk_mb = disk_mb(os.path.join(zope.home, "var"))
    return result


def measure(zope, sampler, jpeg, args, result, label):
    # one authenticated request, then the idle memory
    status, _, _ = get(zope.url + "/manage_main")
    if status != 200:
        result.problems.append("GET /manage_main as admin: HTTP %d" % status)
    time.sleep(1.0)
    result.idle = zope.mb("VmRSS")
    print("[%s] idle RSS %.0f MB; uploading %s (%.1f MB) ..."
          % (label, result.idle, jpeg, os.path.getsize(jpeg) / 1e6),
          flush=True)

    sent_at = []

    def body_sent():
        sent_at.append(time.monotonic())
        # waitress has the whole body (spooled); Zope has not seen it yet
        result.sent_hwm = zope.mb("VmHWM")

    sampler.phase = "upload"
    start = time.monotonic()
    status, body = post_form(
        zope.url + "/manage_addProduct/ZoomifyImage/manage_addZoomifyImage",
        {"id": IMAGE_ID, "title": "bench %dx%d" % (args.width, args.height)},
        "file", jpeg, AUTH, timeout=args.timeout, when_sent=body_sent)
    returned = time.monotonic()
    sent = sent_at[0] - start if sent_at else None
    result.upload_hwm = zope.mb("VmHWM")
    sampler.phase = "tiling"
    result.upload = returned - start
    result.sent = sent
    result.upload_peak = sampler.peaks.get("upload")
    if status != 302:
        result.status = "add form: HTTP %d" % status
        result.problems.append("the add form answered HTTP %d, not 302: %s"
                               % (status, text_of(body)))
        return
    print("[%s] 302 after %.1f s (body sent in %.1f s); following "
          "status_json ..." % (label, result.upload, sent), flush=True)

    image_url = zope.url + "/" + IMAGE_ID
    deadline = returned + args.timeout
    last_print = 0.0
    seen = set()
    state = None
    while True:
        code, _, body = get(image_url + "/status_json")
        now = time.monotonic()
        rss = zope.mb("VmRSS")
        if rss is not None:   # the poll's own sample, besides the sampler's
            result.tiling_peak = max(result.tiling_peak or 0.0, rss)
        if code != 200:
            result.status = "status_json: HTTP %d" % code
            result.problems.append("status_json answered HTTP %d: %s"
                                   % (code, text_of(body)))
            return
        state = json.loads(body.decode("utf-8"))
        seen.add(state["status"])
        if state["status"] in ("ready", "failed"):
            break
        if now - last_print >= 10:
            print("[%s]   %6.1f s  %s %d/%d tiles, RSS %.0f MB"
                  % (label, now - returned, state["status"],
                     state["done"], state["total"], rss or 0), flush=True)
            last_print = now
        if not zope.alive():
            result.status = "Zope died"
            return
        if now > deadline:
            result.status = "timeout (%s)" % state["status"]
            result.problems.append("still %r after %d s"
                                   % (state["status"], args.timeout))
            return
        time.sleep(POLL_SECONDS)
    result.tiling = time.monotonic() - returned
    result.tiling_peak = max(result.tiling_peak or 0.0,
                             sampler.peaks.get("tiling", 0.0))
    result.status = state["status"]
    result.background = bool(seen & {"queued", "tiling"})
    print("[%s] %s after %.1f s" % (label, state["status"], result.tiling),
          flush=True)
    if not result.ok:
        result.problems.append("status_json says %r, expected %r: %s"
                               % (state["status"], "failed" if result.probe
                                  else "ready", state))
        return
    if not result.probe:
        check_tiles(zope, image_url, args, result)


def check_tiles(zope, image_url, args, result):
    code, ctype, body = get(image_url + "/ImageProperties.xml")
    text = body.decode("utf-8", "replace").strip()
    if code != 200:
        result.problems.append("ImageProperties.xml: HTTP %d" % code)
        return
    found = dict(re.findall(r'(WIDTH|HEIGHT|NUMTILES)="(\d+)"', text))
    if len(found) != 3:
        result.problems.append("ImageProperties.xml: %r" % text[:200])
        return
    width, height = int(found["WIDTH"]), int(found["HEIGHT"])
    result.tiles = int(found["NUMTILES"])
    names, result.expected_tiles = tile_names(width, height)
    if (width, height) != (args.width, args.height):
        result.problems.append("ImageProperties.xml says %dx%d"
                               % (width, height))
    if result.tiles != result.expected_tiles:
        result.problems.append("NUMTILES=%d, the layout has %d tiles"
                               % (result.tiles, result.expected_tiles))
    result.served.append(("ImageProperties.xml", code, ctype, len(body)))
    for name in names:
        code, ctype, body = get(image_url + "/" + name)
        result.served.append((name, code, ctype, len(body)))
        if code != 200 or not ctype.startswith("image/jpeg") or \
                not body.startswith(b"\xff\xd8"):
            result.problems.append("%s: HTTP %d, %s, %d bytes"
                                   % (name, code, ctype or "no type",
                                      len(body)))


# --------------------------------------------------------------------------
# Reporting

def fmt(value, pattern):
    return "-" if value is None else pattern % value


def main_table(results):
    rows = ["| store | upload s | tiling s | total s | idle RSS MB "
            "| peak RSS MB (VmHWM) | peak - idle MB | tiles "
            "| target (peak - idle < %d MB) |" % TARGET_MB,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in results:
        growth = (r.peak - r.idle) if r.peak is not None and \
            r.idle is not None else None
        if growth is None:
            verdict = "-"
        else:
            verdict = "PASS" if growth < TARGET_MB and r.ok else "MISS"
        tiling = fmt(r.tiling, "%.1f")
        if r.ok and not r.background:
            tiling += " (in the request)"
        total = (r.upload + r.tiling) if r.tiling is not None else None
        tiles = "%d" % r.tiles if r.tiles is not None else (
            r.status or "-")
        rows.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r.store, fmt(r.upload, "%.1f"), tiling, fmt(total, "%.1f"),
            fmt(r.idle, "%.0f"), fmt(r.peak, "%.0f"), fmt(growth, "%.0f"),
            tiles, verdict))
    return "\n".join(rows)


def upload_table(probes, results, file_mb):
    """The upload probes' memory, and the main runs' samples beside it."""
    main = {r.store: r for r in results}
    rows = ["| store | file MB | body sent s | 302 s | idle RSS MB "
            "| VmHWM when the body was sent MB | VmHWM after the add MB "
            "| upload peak - idle MB | grew by the file size? "
            "| main run: max sampled RSS until the 302 MB |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- "
            "| ---: |"]
    for p in probes:
        growth = p.peak - p.idle if p.peak is not None and \
            p.idle is not None else None
        if growth is None or not p.ok:
            word = "- (%s)" % p.status
        elif file_mb < 20:
            word = "n/a: the file is too small to tell"
        else:
            word = "no" if growth < file_mb / 2 else "YES"
        other = main.get(p.store)
        rows.append("| %s | %.1f | %s | %s | %s | %s | %s | %s | %s | %s |"
                    % (p.store, file_mb, fmt(p.sent, "%.1f"),
                       fmt(p.upload, "%.1f"), fmt(p.idle, "%.0f"),
                       fmt(p.sent_hwm, "%.0f"), fmt(p.peak, "%.0f"),
                       fmt(growth, "%.0f"), word,
                       fmt(other.upload_peak if other else None, "%.0f")))
    return "\n".join(rows)


def notes(r):
    lines = ["%s store%s: status %s; %s of files under %s/var"
             % (r.store, ", upload only" if r.probe else "", r.status,
                fmt(r.disk_mb, "%.0f MB"), r.home),
             "  the server %s" % r.stopped]
    if r.refusal:
        lines.append("  the job refused the image as expected: %s"
                     % r.refusal.split(" failed: ", 1)[-1])
    if r.tiling_peak is not None and not r.probe:
        lines.append("  max sampled RSS while tiling: %.0f MB"
                     % r.tiling_peak)
    for name, code, ctype, size in r.served:
        lines.append("  GET %s: %d %s, %d bytes" % (name, code, ctype, size))
    if r.tiles is not None:
        lines.append("  NUMTILES %d (the floor layout has %d)"
                     % (r.tiles, r.expected_tiles))
    for problem in r.problems:
        lines.append("  PROBLEM: %s" % problem)
    if r.log_lines:
        lines.append("  server.log lines with %s:" % (
            "ERROR/Traceback" if r.probe else
            "ERROR/WARNING/Traceback/failed"))
        lines.extend("    " + line for line in r.log_lines)
    if r.log_tail:
        lines.append("  end of server.log:")
        lines.extend("    " + line for line in r.log_tail.splitlines())
    return "\n".join(lines)


def make_jpeg(workdir, width, height):
    """The benchmark JPEG of make_images.make(), made only if missing."""
    jpeg = os.path.join(workdir, "bench-%dx%d.jpg" % (width, height))
    if not os.path.exists(jpeg):
        print("Making the image in %s (make_images.make) ..." % workdir,
              flush=True)
        import make_images
        jpeg, _ = make_images.make(workdir, width, height)
    return jpeg


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/zoomify-bench",
                        help="images and Zope instances (default "
                        "/tmp/zoomify-bench)")
    parser.add_argument("--width", type=int, default=30000)
    parser.add_argument("--height", type=int, default=20000)
    parser.add_argument("--stores", default="zodb,filesystem",
                        help="tile stores to run, comma-separated "
                        "(default zodb,filesystem)")
    parser.add_argument("--background-megapixels", type=int, default=None,
                        metavar="N", help="write this background-megapixels "
                        "into zope.conf (default: the product's, 50); a "
                        "small N makes small images tile in the background")
    parser.add_argument("--no-probe", action="store_true",
                        help="skip the upload-only runs")
    parser.add_argument("--timeout", type=int, default=3600,
                        help="give up on the upload or the tiling after this "
                        "many seconds (default 3600)")
    args = parser.parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    for store in stores:
        if store not in ("zodb", "filesystem"):
            parser.error("unknown store %r (zodb, filesystem)" % store)
    runwsgi = os.path.join(os.path.dirname(sys.executable), "runwsgi")
    if not os.path.exists(runwsgi):
        parser.error("no %s: run this with the project's venv python "
                     "(.venv/bin/python) after `make install`" % runwsgi)
    args.dir = os.path.abspath(args.dir)
    os.makedirs(args.dir, exist_ok=True)
    settings = {}
    if args.background_megapixels is not None:
        settings["background-megapixels"] = args.background_megapixels
    probing = not args.no_probe and \
        probe_settings(args.width, args.height) is not None

    jpeg = make_jpeg(args.dir, args.width, args.height)
    file_mb = os.path.getsize(jpeg) / 1e6
    results, probes = [], []
    for store in stores:
        if probing:
            probes.append(run_store(store, jpeg, args, settings, probe=True))
        results.append(run_store(store, jpeg, args, settings))

    print()
    print("Machine: %d CPUs (%d usable by this process), load average "
          "now %s; Python %s. Other work on the machine shares the CPUs."
          % (os.cpu_count(), len(os.sched_getaffinity(0)),
             " ".join("%.2f" % x for x in os.getloadavg()),
             sys.version.split()[0]))
    print("Image %dx%d (%.0f megapixels), JPEG %.1f MB, uploaded through the "
          "ZMI add form. All figures are from one run." % (
              args.width, args.height, args.width * args.height / 1e6,
              file_mb))
    if settings:
        print("zope.conf: %s" % ", ".join("%s %s" % item
                                          for item in settings.items()))
    print()
    print("upload s: from the start of the POST until the 302; tiling s: "
          "from the 302 until status_json says ready; RSS of the Zope "
          "process from /proc/PID/status (idle: after one request; peak: "
          "VmHWM at the end).")
    print()
    print(main_table(results))
    if probes:
        print()
        print("Memory of the upload alone: the same POST to an instance of "
              "its own whose max-megapixels (%s) is just below the image's "
              "size, so the add form does all its work (the form parsed, "
              "the file copied into a blob, the job queued) and the job then "
              "refuses the image from its header without decoding it. "
              "VmHWM when the body was sent is waitress's part (the body is "
              "spooled to disk); VmHWM after the add is the peak of the "
              "whole upload. The last column is the main run's RSS, sampled "
              "every %.2f s until its 302: it may include the start of the "
              "tiling, which begins when the adding transaction commits, a "
              "moment before the 302 arrives."
              % (probe_settings(args.width, args.height)["max-megapixels"],
                 UPLOAD_SAMPLE_SECONDS))
        print()
        print(upload_table(probes, results, file_mb))
    print()
    for r in probes + results:
        print(notes(r))
    bad = [r for r in probes + results if not r.ok or r.problems]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
