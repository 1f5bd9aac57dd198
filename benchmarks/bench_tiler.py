"""Benchmark zoomify-tile against libvips dzsave and the naive Pillow way.

    .venv/bin/python benchmarks/bench_tiler.py [--dir /tmp/zoomify-bench]
        [--width 30000] [--height 20000] [--flat-height H/2] [--quality 80]
        [--runs 1] [--out DIR/runs] [--skip-naive] [--skip-formats]
        [--big]

Inputs: a JPEG and an uncompressed TIFF, and (issue 13, unless
--skip-formats) the same pixels as a BigTIFF in 256x256 JPEG tiles, an
LZW BigTIFF and a tiled JPEG 2000; each input is also tiled by dzsave in
the same run (libvips of the binary wheel has no JPEG 2000 loader: that
row shows its failure).

Every contender runs as its own child process; its wall time is measured
around the child and its peak memory is the child's own ru_maxrss from
os.wait4. All contenders write 256 px JPEG tiles at the same quality. With
--runs N the contenders take turns, round by round, and each starts after
a sync, so that the disc's writing of earlier runs falls on nobody. The
script prints markdown tables and the targets; it asserts nothing.

The script is also its own helper for the two contenders that are not
zoomify-tile: "bench_tiler.py --child dzsave|naive INPUT OUT QUALITY".
"""

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TILE = 256
GROUP = 256                   # tiles per TileGroup, fixed by the readers
# the pillow engine decodes a JPEG whole below this
WHOLE_DECODE_PIXELS = 100e6


# --------------------------------------------------------------------------
# The Zoomify layout (floor halving), used by the naive child and the checks

def tier_sizes(width, height, tile=TILE):
    """Sizes of the tiers, smallest first, halving with floor."""
    sizes = [(width, height)]
    while width > tile or height > tile:
        width, height = width // 2, height // 2
        sizes.append((width, height))
    sizes.reverse()
    return sizes


def grid(width, height, tile=TILE):
    """Columns and rows of one tier (a zero side has no tiles)."""
    return -(-width // tile), -(-height // tile)


def expected_names(width, height, tile=TILE):
    """The set of tile paths a correct tile set has, relative to its root."""
    names = set()
    index = 0
    for tier, (w, h) in enumerate(tier_sizes(width, height, tile)):
        cols, rows = grid(w, h, tile)
        for row in range(rows):
            for col in range(cols):
                names.add("TileGroup%d/%d-%d-%d.jpg"
                          % (index // GROUP, tier, col, row))
                index += 1
    return names


def properties_xml(width, height, numtiles, tile=TILE):
    return ('<IMAGE_PROPERTIES WIDTH="%d" HEIGHT="%d" NUMTILES="%d" '
            'NUMIMAGES="1" VERSION="1.8" TILESIZE="%d" />'
            % (width, height, numtiles, tile))


# --------------------------------------------------------------------------
# Children

def child_dzsave(source, out, quality):
    import pyvips
    image = pyvips.Image.new_from_file(source, access="sequential")
    # the zoomify layout names its tiles .jpg already. An explicit
    # suffix (".jpg[Q=80]") makes the same bytes but took dzsave 1.8x the
    # time (11.8 s against 6.3 s on the 30000x20000 JPEG, measured): the
    # baseline is dzsave at its fastest
    image.dzsave(out, layout="zoomify", Q=quality)


def child_naive(source, out, quality):
    """The naive way: the whole image in memory, crop tiles, halve, repeat."""
    from PIL import Image
    Image.MAX_IMAGE_PIXELS = None
    image = Image.open(source)
    image.load()
    if image.mode != "RGB":
        image = image.convert("RGB")
    sizes = tier_sizes(image.width, image.height)
    counts = [grid(w, h)[0] * grid(w, h)[1] for w, h in sizes]
    os.makedirs(out)
    made = set()
    for tier in range(len(sizes) - 1, -1, -1):
        w, h = sizes[tier]
        assert image.size == (w, h), (image.size, w, h)
        cols, rows = grid(w, h)
        first = sum(counts[:tier])
        for row in range(rows):
            for col in range(cols):
                index = first + row * cols + col
                folder = os.path.join(out, "TileGroup%d" % (index // GROUP))
                if folder not in made:
                    os.makedirs(folder, exist_ok=True)
                    made.add(folder)
                box = (col * TILE, row * TILE,
                       min(w, (col + 1) * TILE), min(h, (row + 1) * TILE))
                image.crop(box).save(
                    os.path.join(folder, "%d-%d-%d.jpg" % (tier, col, row)),
                    "JPEG", quality=quality)
        if tier == 0:
            break
        if w < 2 or h < 2:
            # every smaller tier has a zero side: no tiles, nothing to halve
            image = Image.new("RGB", sizes[tier - 1])
            continue
        # drop the odd last row/column, then a 2x2 box mean
        image = image.reduce(2, box=(0, 0, w // 2 * 2, h // 2 * 2))
    with open(os.path.join(out, "ImageProperties.xml"), "w") as f:
        f.write(properties_xml(sizes[-1][0], sizes[-1][1], sum(counts)))


def child_main(argv):
    kind, source, out, quality = argv
    {"dzsave": child_dzsave, "naive": child_naive}[kind](
        source, out, int(quality))
    return 0


# --------------------------------------------------------------------------
# Running and measuring

class Run:
    def __init__(self, label, kind, source, argv):
        self.label = label     # the contender's name in the tables
        self.kind = kind       # "JPEG" or "TIFF"
        self.source = source
        self.argv = argv       # with OUT where the output directory goes
        self.walls = []
        self.rss = []
        self.exit = None
        self.tiles = 0
        self.bytes = 0
        self.stderr = ""
        self.out = None
        self.strays = []
        self.baseline = None   # dzsave's Run on the same input

    @property
    def ok(self):
        return self.exit == 0

    @property
    def wall(self):
        return statistics.median(self.walls) if self.walls else None

    @property
    def rss_mb(self):
        return statistics.median(self.rss) if self.rss else None


def measure(run, workdir, key, runs):
    """Run a contender `runs` times in a fresh directory each time."""
    rundir = os.path.join(workdir, key)
    out = os.path.join(rundir, "tiles")
    log = os.path.join(workdir, key + ".stderr")
    run.out = out
    for _ in range(runs):
        shutil.rmtree(rundir, ignore_errors=True)
        os.makedirs(rundir)
        # the disc writes what earlier runs left (and this removal) now,
        # not during the timed run
        os.sync()
        argv = [out if a == "OUT" else a for a in run.argv]
        with open(log, "wb") as err:
            start = time.monotonic()
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=err, stderr=err, cwd=rundir)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        run.exit = proc.returncode
        run.walls.append(wall)
        run.rss.append(usage.ru_maxrss / 1024.0)   # KB on Linux
        with open(log, errors="replace") as f:
            run.stderr = f.read().strip()
        if run.exit != 0:
            break    # a refusal or a failure: once is enough
    # what the last run wrote: everything under its run directory (dzsave,
    # for one, drops vips-properties.xml beside the tile directory)
    run.tiles = run.bytes = 0
    run.strays = []
    for root, _, files in os.walk(rundir):
        for name in files:
            path = os.path.join(root, name)
            run.bytes += os.path.getsize(path)
            if name.endswith(".jpg"):
                run.tiles += 1
            if not (root == out or root.startswith(out + os.sep)):
                run.strays.append(os.path.relpath(path, rundir))
    return run


def warm(paths):
    """Read the inputs once so no contender pays the first disk read."""
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            chunk = bytearray(1 << 20)   # small: see the note in main()
            while f.readinto(chunk):
                pass


# --------------------------------------------------------------------------
# Reporting

def fmt(value, pattern):
    return "-" if value is None else pattern % value


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def main_table(runs, baseline, pixels):
    rows = ["| contender | input | wall s | peak RSS MB | tiles | MB written "
            "| wall / dzsave | RSS / dzsave |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for run in runs:
        base = run.baseline or baseline
        base_ok = base is not None and base.ok and base is not run
        if run.ok:
            tiles = "%d" % run.tiles
            walls = ratio(run.wall, base.wall) if base_ok else None
            rsss = ratio(run.rss_mb, base.rss_mb) if base_ok else None
        else:
            if run.label.startswith("zoomify-tile --engine pillow") and \
                    run.kind == "JPEG" and pixels > WHOLE_DECODE_PIXELS and \
                    run.exit == 1:
                tiles = "refused (over pixel budget), exit 1"
            elif "not a known file format" in run.stderr:
                tiles = "no loader for it, exit %s" % run.exit
            else:
                tiles = "FAILED, exit %s" % run.exit
            walls = rsss = None
        rows.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            run.label, run.kind, fmt(run.wall, "%.1f"),
            fmt(run.rss_mb, "%.0f"), tiles,
            fmt(run.bytes / 1e6 if run.ok else None, "%.1f"),
            fmt(walls, "%.2f") if run is not base else "1.00",
            fmt(rsss, "%.2f") if run is not base else "1.00"))
    return "\n".join(rows)


def read_numtiles(out):
    try:
        with open(os.path.join(out, "ImageProperties.xml")) as f:
            text = f.read()
    except OSError:
        return None, None
    found = re.search(r'NUMTILES="(\d+)"', text)
    return (int(found.group(1)) if found else None), text.strip()


def checks(runs, width, height):
    """Compare each tile set with the floor layout of
    docs/zoomify-format.txt."""
    expected = expected_names(width, height)
    tiers = len(tier_sizes(width, height))
    wanted = properties_xml(width, height, len(expected))
    lines = ["Checks against the floor layout (%d tiers, %d tiles, "
             "NUMTILES=%d):" % (tiers, len(expected), len(expected))]
    for run in runs:
        if not run.ok:
            last = run.stderr.splitlines()[-1] if run.stderr else ""
            lines.append("- %s on %s: exit %s: %s"
                         % (run.label, run.kind, run.exit, last))
            continue
        found = set()
        for root, _, files in os.walk(run.out):
            for name in files:
                if name.endswith(".jpg"):
                    found.add(os.path.relpath(os.path.join(root, name),
                                              run.out).replace(os.sep, "/"))
        numtiles, text = read_numtiles(run.out)
        found_tiers = {int(n.split("/")[1].split("-")[0]) for n in found}
        notes = []
        if found != expected:
            notes.append("%d missing, %d extra tile names"
                         % (len(expected - found), len(found - expected)))
        if numtiles != len(expected):
            notes.append("NUMTILES=%s" % numtiles)
        elif text != wanted:
            notes.append("ImageProperties.xml differs: %s" % text)
        if len(found_tiers) != tiers:
            notes.append("%d tiers" % len(found_tiers))
        if run.strays:
            notes.append("also wrote outside the tile directory: %s"
                         % ", ".join(sorted(run.strays)))
        lines.append("- %s on %s: %d tiles, NUMTILES=%s%s"
                     % (run.label, run.kind, len(found), numtiles,
                        ": " + "; ".join(notes) if notes else ": as expected"))
    return "\n".join(lines)


def verdict(good):
    return "PASS" if good else "MISS"


def targets(vips_jpeg, pillow_tiff, dzsave, formats=()):
    """Issue 13's targets: on the JPEG at most 0.6x dzsave's wall time and
    0.4x its peak RSS; on every other input 0.8x and 0.6x. A contender
    left out (--only) is None."""
    lines = ["Targets (reported, not asserted):"]
    if pillow_tiff is not None:
        pillow_tiff.baseline = pillow_tiff.baseline or dzsave
    for run, wall, rss in [(vips_jpeg, 0.6, 0.4)] + [
            (run, 0.8, 0.6) for run in (pillow_tiff,) + tuple(formats)]:
        base = run and (run.baseline or dzsave)
        if run is None or base is None:
            continue
        name = "%s on %s" % (run.label, run.kind)
        if not (run.ok and base.ok):
            lines.append("- %s against dzsave: no comparison (exit %s, "
                         "dzsave exit %s)" % (name, run.exit, base.exit))
            continue
        w = run.wall / base.wall
        r = run.rss_mb / base.rss_mb
        lines.append("- %s: wall %.2f x dzsave (<= %.1f) -> %s; peak RSS "
                     "%.2f x (<= %.1f) -> %s" % (name, w, wall,
                                                  verdict(w <= wall), r, rss,
                                                  verdict(r <= rss)))
    return "\n".join(lines)


def flat_table(pairs, width, low, high):
    rows = ["| contender | input | peak RSS MB at %dx%d | peak RSS MB at "
            "%dx%d | ratio | |" % (width, low, width, high),
            "| --- | --- | ---: | ---: | ---: | --- |"]
    for small, big in pairs:
        r = ratio(big.rss_mb, small.rss_mb) if small.ok and big.ok else None
        if r is None:
            word = "failed (exit %s / %s)" % (small.exit, big.exit)
        else:
            word = ("flat" if abs(round(r, 2) - 1) <= 0.10 else
                    "grows" if r > 1 else "shrinks")
        rows.append("| %s | %s | %s | %s | %s | %s |" % (
            small.label, small.kind,
            fmt(small.rss_mb if small.ok else None, "%.0f"),
            fmt(big.rss_mb if big.ok else None, "%.0f"),
            fmt(r, "%.2f"), word))
    return "\n".join(rows)


# --------------------------------------------------------------------------

VERSIONS = """
import platform, PIL, pyvips
print("Python %s, libvips %d.%d.%d, pyvips %s, Pillow %s" % (
    platform.python_version(), pyvips.version(0), pyvips.version(1),
    pyvips.version(2), pyvips.__version__, PIL.__version__))
"""


def versions():
    # in a child: the parent must not load pyvips (see the note in main())
    return subprocess.run([sys.executable, "-c", VERSIONS], check=True,
                          capture_output=True, text=True).stdout.strip()


MAKE = """
import sys
sys.path.insert(0, sys.argv[1])
import make_images
print("\\n".join(str(path) for path in make_images.make(
    sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
"""


MAKE_MORE = """
import sys
sys.path.insert(0, sys.argv[1])
import make_images
print("\\n".join(make_images.make_more(sys.argv[2], sys.argv[3])))
"""


def make_more(workdir, tiff):
    """make_images.make_more(), in a child process: (tiled JPEG BigTIFF,
    LZW BigTIFF, JP2)."""
    out = subprocess.run([sys.executable, "-c", MAKE_MORE, HERE, workdir,
                          tiff], check=True, capture_output=True,
                         text=True).stdout
    return tuple(out.split("\n")[:3])


def make(workdir, width, height):
    """make_images.make(), in a child process (see the note in main())."""
    out = subprocess.run([sys.executable, "-c", MAKE, HERE, workdir,
                          str(width), str(height)],
                         check=True, capture_output=True, text=True).stdout
    jpeg, tiff = out.split("\n")[:2]
    return (None if jpeg == "None" else jpeg), tiff


# issue 13's inputs (made by make_images.make_more), and the engines run
# on them besides auto
FORMATS = [("tjpeg", "tiled JPEG BigTIFF"), ("lzw", "LZW BigTIFF"),
           ("jp2", "JPEG 2000")]
EXTRA_ENGINES = {"tjpeg": ["vips", "slide"]}


# --big: the size of issue 13's big inputs, and about what their images
# take on disc (uncompressed 21.6 GB, LZW about 10.3, tiled JPEG and JP2
# about 1.1 each, from the ratios at 30000x20000)
BIG = (100000, 72000)
BIG_BYTES = 35 * 10**9
BIG_FILES = (".tif", "-tiled-jpeg.tif", "-lzw.tif", ".jp2")
# each contender's last tile set stays in --out until the tables are
# printed: about 0.16 bytes a pixel at Q80 on these pixels (measured),
# 1.2 GB a set; at most 10 sets (3 with --skip-formats)
BIG_TILE_SET_BYTES = 12 * 10**8


def big_space_problem(args):
    """Why --big cannot run with the free space of --dir and --out (None
    when it can): the images not made yet and the tile sets kept."""
    out = os.path.abspath(args.out or os.path.join(args.dir, "runs"))
    for path in (args.dir, out):
        os.makedirs(path, exist_ok=True)
    files = BIG_FILES[:1] if args.skip_formats else BIG_FILES
    images = 0 if all(os.path.exists(os.path.join(
        args.dir, "bench-%dx%d%s" % (BIG + (end,)))) for end in files) else (
        BIG_BYTES if not args.skip_formats else 22 * 10**9)
    tiles = BIG_TILE_SET_BYTES * (3 if args.skip_formats else 10)
    if os.stat(args.dir).st_dev == os.stat(out).st_dev:
        needs = {args.dir: images + tiles}
    else:
        needs = {args.dir: images, out: tiles}
    for path, need in needs.items():
        free = shutil.disk_usage(path).free
        if free < need:
            return ("--big needs about %d GB free in %s (images %d GB, "
                    "tile sets kept %d GB; %d GB free): use --dir and "
                    "--out on bigger discs"
                    % (need // 10**9, path, images // 10**9 if path ==
                       args.dir else 0, tiles // 10**9 if path == out or
                       len(needs) == 1 else 0, free // 10**9))
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/zoomify-bench",
                        help="work directory for images and outputs "
                        "(default /tmp/zoomify-bench)")
    parser.add_argument("--width", type=int, default=30000)
    parser.add_argument("--height", type=int, default=20000)
    parser.add_argument("--big", action="store_true",
                        help="100000x72000 (no JPEG: JPEG stops at 65535 "
                        "pixels a side; about %d GB of images in --dir "
                        "and 12 GB of tiles in --out, checked first; "
                        "implies --skip-flat and --skip-naive)"
                        % (BIG_BYTES // 10**9))
    parser.add_argument("--flat-height", type=int, default=None,
                        help="the memory-flatness table compares heights "
                        "FLAT and 2*FLAT (default height // 2)")
    parser.add_argument("--quality", type=int, default=80)
    parser.add_argument("--out", default=None,
                        help="where the tiles are written (default DIR/runs;"
                        " a tmpfs such as /dev/shm takes the disc's own "
                        "speed out of the figures)")
    parser.add_argument("--runs", type=int, default=1,
                        help="runs per contender; the median is reported")
    parser.add_argument("--skip-formats", action="store_true",
                        help="only the JPEG and the uncompressed TIFF, not "
                        "the tiled JPEG BigTIFF, LZW BigTIFF and JP2")
    parser.add_argument("--skip-naive", action="store_true",
                        help="skip the naive Pillow run (needs about 4 GB "
                        "for the default size)")
    parser.add_argument("--only", default=None,
                        help="comma-separated contender keys to run (the "
                        "others are left out of the tables), e.g. "
                        "auto-lzw,dzsave-lzw; --list-keys shows them")
    parser.add_argument("--list-keys", action="store_true",
                        help="print the contender keys and stop")
    parser.add_argument("--skip-flat", action="store_true",
                        help="skip the memory-against-height runs")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.big:
        args.width, args.height = BIG
        # a second set of images at half the height would not fit beside
        # the first on most discs: memory against height is measured at
        # the default size
        args.skip_flat = args.skip_naive = True
        problem = big_space_problem(args)
        if problem:
            parser.error(problem)
    flat = args.flat_height or max(1, args.height // 2)

    tiler = os.path.join(os.path.dirname(sys.executable), "zoomify-tile")
    if not os.path.exists(tiler):
        parser.error("no %s: run this with the project's venv python "
                     "(.venv/bin/python)" % tiler)
    # Linux's ru_maxrss of a child starts from the peak RSS of the process
    # it was forked from (exec keeps the old address space's high-water
    # mark), so this parent must stay small: it makes the images and asks
    # for versions in child processes and reads files in small chunks. Its
    # own peak is printed as the floor under every RSS figure.
    workdir = os.path.abspath(args.dir)
    outdir = os.path.abspath(args.out or os.path.join(workdir, "runs"))
    os.makedirs(outdir, exist_ok=True)
    q = str(args.quality)
    w, h = args.width, args.height
    if args.list_keys:   # the keys do not depend on the images
        jpeg, tiff = "bench.jpg", "bench.tif"
        more = () if args.skip_formats else ("t", "l", "j")
    else:
        print("Making the images in %s ..." % workdir, flush=True)
        jpeg, tiff = make(workdir, w, h)
        more = () if args.skip_formats else make_more(workdir, tiff)
    heights = [flat, 2 * flat]
    flat_images = {}
    for fh in heights:
        if fh != h and not args.skip_flat and not args.list_keys:
            fj, ft = make(workdir, w, fh)
            flat_images[fh] = (fj, ft) + (
                () if args.skip_formats else make_more(workdir, ft))

    me = os.path.abspath(__file__)
    py = sys.executable

    def zt(engine, kind, path):
        return Run("zoomify-tile --engine %s" % engine, kind, path,
                   [tiler, "--engine", engine, "--quiet", "--quality", q,
                    path, "OUT"])

    # the uncompressed TIFF is compared with dzsave on that TIFF
    dzsave_tiff = Run("libvips dzsave (sequential)", "TIFF", tiff,
                      [py, me, "--child", "dzsave", tiff, "OUT", q])
    dzsave_tiff.baseline = dzsave_tiff
    tiff_runs = [zt("pillow", "TIFF", tiff), zt("vips", "TIFF", tiff)]
    for run in tiff_runs:
        run.baseline = dzsave_tiff
    contenders = [
        ("vips-jpeg", zt("vips", "JPEG", jpeg)),
        ("pillow-tiff", tiff_runs[0]),
        ("vips-tiff", tiff_runs[1]),
        ("pillow-jpeg", zt("pillow", "JPEG", jpeg)),
        ("dzsave", Run("libvips dzsave (sequential)", "JPEG", jpeg,
                       [py, me, "--child", "dzsave", jpeg, "OUT", q])),
        ("dzsave-tiff", dzsave_tiff),
    ]
    if jpeg is None:   # over JPEG's 65535 pixels a side
        print("No JPEG at %dx%d: JPEG stops at 65535 pixels a side; the "
              "JPEG rows are left out." % (w, h))
        contenders = [(key, run) for key, run in contenders
                      if run.kind != "JPEG"]
    # issue 13's inputs, each with dzsave on the same file
    formats = []
    for (name, kind), path in zip(FORMATS, more):
        base = Run("libvips dzsave (sequential)", kind, path,
                   [py, me, "--child", "dzsave", path, "OUT", q])
        base.baseline = base
        engines = ["auto"] + EXTRA_ENGINES.get(name, [])
        for engine in engines:
            run = zt(engine, kind, path)
            run.baseline = base
            contenders.append(("%s-%s" % (engine, name), run))
            if engine == "auto":
                formats.append(run)
        contenders.append(("dzsave-" + name, base))
    if not args.skip_naive and jpeg is not None:
        contenders.append(
            ("naive", Run("naive Pillow (whole image)", "JPEG", jpeg,
                          [py, me, "--child", "naive", jpeg, "OUT", q])))

    if args.list_keys:
        print("\n".join("%s: %s on %s" % (key, run.label, run.kind)
                        for key, run in contenders))
        return 0
    if args.only:
        keys = set(args.only.split(","))
        unknown = keys - {key for key, _ in contenders}
        if unknown:
            parser.error("no contender %s (see --list-keys)"
                         % ", ".join(sorted(unknown)))
        contenders = [(key, run) for key, run in contenders if key in keys]
    byname = dict(contenders)
    warm(sorted({run.source for _, run in contenders}))
    # round by round, so that a slow spell of the machine or its disc is
    # shared by all contenders instead of falling on one
    for round in range(args.runs):
        for key, run in contenders:
            if run.exit not in (None, 0):
                continue    # a refusal or a failure: once is enough
            print("running %s on %s (run %d) ..."
                  % (run.label, run.kind, round + 1), flush=True)
            measure(run, outdir, key, 1)
            print("  %.1f s, %.0f MB, exit %s"
                  % (run.walls[-1], run.rss[-1], run.exit), flush=True)

    # memory against height: reuse the main runs where the image is the same
    pairs = []
    keys = [("vips-jpeg", 0), ("vips-tiff", 1), ("pillow-tiff", 1),
            ("dzsave", 0)]
    for i, (name, _) in enumerate(FORMATS if more else ()):
        keys += [("auto-" + name, 2 + i), ("dzsave-" + name, 2 + i)]
    for key, which in keys:
        if args.skip_flat or key not in byname or not byname[key].ok:
            continue    # nothing to compare (dzsave on a JPEG 2000)
        pair = []
        for fh in heights:
            if fh == h:
                pair.append(byname[key])
                continue
            path = flat_images[fh][which]
            warm([path])
            first = byname[key]
            run = Run(first.label, first.kind, path,
                      [path if a == first.source else a for a in first.argv])
            print("running %s on %s %dx%d ..." % (run.label, run.kind, w, fh),
                  flush=True)
            measure(run, outdir, "%s-%d" % (key, fh), args.runs)
            print("  %.1f s, %.0f MB, exit %s"
                  % (run.wall, run.rss_mb, run.exit), flush=True)
            pair.append(run)
        pairs.append(pair)

    print()
    print("Machine: %d CPUs (%d usable by this process); %s"
          % (os.cpu_count(), len(os.sched_getaffinity(0)), versions()))
    print("Image %dx%d (%.0f megapixels): JPEG Q85 %s, TIFF "
          "uncompressed %.1f MB; tiles at quality %s; %s run(s) each, "
          "median shown; tiles written under %s"
          % (w, h, w * h / 1e6, "%.1f MB" % (os.path.getsize(jpeg) / 1e6)
             if jpeg else "none (over 65535 pixels a side)",
             os.path.getsize(tiff) / 1e6, q, args.runs, outdir))
    print()
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("Peak RSS is each child's own ru_maxrss from os.wait4; it cannot "
          "be below this script's own peak, %.0f MB." % floor)
    print()
    print(main_table([run for _, run in contenders], byname.get("dzsave"),
                     w * h))
    print()
    if pairs:
        print("Peak RSS against image height (width %d):" % w)
        print()
        print(flat_table(pairs, w, heights[0], heights[1]))
        print()
    print(targets(byname.get("vips-jpeg"), byname.get("pillow-tiff"),
                  byname.get("dzsave"), [run for run in formats
                                         if run in byname.values()]))
    print()
    print(checks([run for _, run in contenders], w, h))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child_main(sys.argv[2:]))
    sys.exit(main())
