"""A folder's gallery (FOLDER/gallery) in Chromium: time to first paint,
time until the thumbnails in view are drawn, how many thumbnails the
lazy loading asks, and the Zope process's memory.

    .venv/bin/python benchmarks/bench_gallery.py [--images 50]
        [--runs 3] [--width 1280 --height 800] [--size 1200x800]

It makes a Zope instance in a temporary directory, fills its database
with a folder of IMAGES images of SIZE (tests/make_prepared_site.py: one
picture tiled once per seed, its set installed in every image), starts
`runwsgi` on 127.0.0.1 and opens FOLDER/gallery RUNS times, each in a
fresh browser context (nothing cached), in Debian's Chromium (headless,
Playwright) with a window of WIDTH x HEIGHT. Per run:

  first paint      performance's first-contentful-paint of the page
  in view drawn    when the last thumbnail inside the window had
                   arrived (resource timing, from the navigation's start)
  asked            thumbnails requested by then (loading="lazy")
  all drawn        after scrolling to the end: every thumbnail loaded

and the Zope process's VmRSS before the first run and its VmHWM after
the last. Prints a markdown table; asserts nothing.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

FOLDER = "gallery"

IN_VIEW = """() => {
  const shown = Array.from(document.images).filter(i => {
    const r = i.getBoundingClientRect();
    return r.top < innerHeight && r.bottom > 0;
  });
  if (!shown.every(i => i.complete && i.naturalWidth)) return null;
  const times = performance.getEntriesByType("resource")
    .filter(e => e.name.includes("/iiif/full/"));
  const wanted = new Set(shown.map(i => i.src));
  const ends = times.filter(e => wanted.has(e.name)).map(e => e.responseEnd);
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  return {fcp: paint ? paint.startTime : null,
          inView: Math.max(...ends), shown: shown.length,
          asked: times.length};
}"""


def run_once(browser, url, width, height, images):
    context = browser.new_context(viewport={"width": width,
                                            "height": height})
    page = context.new_page()
    try:
        page.goto(url)
        handle = page.wait_for_function(IN_VIEW, timeout=60000)
        result = handle.json_value()
        start = time.monotonic()
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_function(
            "n => document.images.length === n && Array.from("
            "document.images).every(i => i.complete && i.naturalWidth)",
            arg=images, timeout=60000)
        result["rest"] = (time.monotonic() - start) * 1000
        return result
    finally:
        context.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--size", default="1200x800",
                        help="each image's size, WxH")
    args = parser.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))

    from playwright.sync_api import sync_playwright

    from tests.zope_fixtures import CHROMIUM
    from tests.zope_fixtures import CHROMIUM_ARGS
    from tests.zope_fixtures import ZopeServer
    server = ZopeServer()
    subprocess.run([sys.executable, "-m", "tests.make_prepared_site",
                    server.conf, FOLDER, str(args.images), str(w), str(h)],
                   check=True, cwd=os.path.dirname(HERE))
    server.start()
    try:
        import urllib.request
        urllib.request.urlopen(server.url + "/").read()
        idle = server.memory_kb("VmRSS")
        url = "%s/%s/gallery" % (server.url, FOLDER)
        rows = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM,
                                        headless=True, args=CHROMIUM_ARGS)
            for n in range(args.runs):
                rows.append(run_once(browser, url, args.width, args.height,
                                     args.images))
            browser.close()
        peak = server.memory_kb("VmHWM")
    finally:
        server.stop()

    print("Gallery of %d images of %dx%d, window %dx%d, %s"
          % (args.images, w, h, args.width, args.height,
             time.strftime("%Y-%m-%d")))
    print()
    print("| run | first paint ms | in view drawn ms | in view | asked "
          "| rest after scroll ms |")
    print("|---|---|---|---|---|---|")
    for n, r in enumerate(rows, 1):
        print("| %d | %.0f | %.0f | %d | %d | %.0f |"
              % (n, r["fcp"] or -1, r["inView"], r["shown"], r["asked"],
                 r["rest"]))
    print("| median | %.0f | %.0f | | | %.0f |" % (
        statistics.median(r["fcp"] or -1 for r in rows),
        statistics.median(r["inView"] for r in rows),
        statistics.median(r["rest"] for r in rows)))
    print()
    print("Zope: idle VmRSS %.0f MB, VmHWM after the runs %.0f MB "
          "(+%.1f MB)" % (idle / 1024, peak / 1024, (peak - idle) / 1024))
    return 0


if __name__ == "__main__":
    sys.exit(main())
