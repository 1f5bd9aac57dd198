"""AVIF (HEIF with AV1) through the engines that read it: the vips engine
(libheif) and the pillow engine (Pillow's AVIF plugin, libavif); and the
HEVC-coded HEIC phones shoot through the pillow engine (pillow-heif's
libheif and libde265: the `heif` extra; the pyvips binary wheel's libheif
has no HEVC decoder). Each decodes the whole image before the first row;
this prints each one's time and peak memory by image size, beside what
the memory budget counts for it (``buffer_bytes`` with the pyramid:
budget.tiling_memory), as a markdown table. It asserts nothing.

    .venv/bin/python benchmarks/bench_heif.py [--sizes 1,16,32] [--runs 3]
        [--formats avif,heic]

Images are made by libvips (Perlin noise, 3:2; AV1 at Q60, or HEVC at
quality 60 by pillow-heif's x265) in --dir (default
/tmp/zoomify-bench-heif); each run is a zoomify-tile child whose peak RSS
is its own ru_maxrss; the engines take turns, the median shows.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(os.path.dirname(sys.executable), "zoomify-tile")

MAKE = """
import sys, pyvips
width, height = int(sys.argv[2]), int(sys.argv[3])
image = pyvips.Image.perlin(width, height, cell_size=64, seed=1)
image = (image * 100 + 128).cast("uchar")
image = image.bandjoin([image.rot180(), image.flip("horizontal")])
if sys.argv[1].endswith(".avif"):
    image.heifsave(sys.argv[1], compression="av1", Q=60, effort=0)
else:   # HEVC by pillow-heif's encoder (x265)
    import numpy, pillow_heif
    pillow_heif.from_bytes("RGB", (width, height), numpy.ndarray(
        buffer=image.write_to_memory(), dtype=numpy.uint8,
        shape=(height, width, 3)).tobytes()).save(sys.argv[1], quality=60)
"""

# the engines that read each format (the vips engine reads no HEVC with
# the pyvips binary wheel)
ENGINES = {"avif": ("vips", "pillow"), "heic": ("pillow",)}

COUNTED = """
import sys
from ZoomifyImage.pyramid import Layout, open_source
from ZoomifyImage.pyramid.budget import tiling_memory
with open_source(sys.argv[1], sys.argv[2], max_megapixels=0,
                 whole_decode_megapixels=0) as source:
    print(tiling_memory(Layout(source.width, source.height), source))
"""


def run(path, engine, out):
    argv = [TOOL, "--engine", engine, "--force", "--quiet",
            "--max-megapixels", "100000", "--max-tiling-memory", "64GB", path,
            out]
    start = time.monotonic()
    proc = subprocess.Popen(argv)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if status:
        raise SystemExit("%s failed (%d)" % (" ".join(argv), status))
    return wall, usage.ru_maxrss / 1024.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/zoomify-bench-heif")
    parser.add_argument("--sizes", default="1,16,32",
                        help="megapixels, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--formats", default="avif,heic",
                        help="avif, heic, comma-separated")
    args = parser.parse_args(argv)
    os.makedirs(args.dir, exist_ok=True)
    rows = []
    for fmt in args.formats.split(","):
        for mp in [int(x) for x in args.sizes.split(",")]:
            rows += measure(args, fmt, mp)
    print("| format | MP | size | engine | time (s) | peak RSS (MB) | "
          "budget counts (MB) |")
    print("|---|---:|---|---|---:|---:|---:|")
    for row in rows:
        print("| %s | %d | %s | %s | %.2f | %.0f | %.0f |" % row)


def measure(args, fmt, mp):
    height = int((mp * 1e6 / 1.5) ** 0.5)
    width = int(height * 1.5)
    path = os.path.join(args.dir, "perlin-%dmp.%s" % (mp, fmt))
    if not os.path.exists(path):
        subprocess.run([sys.executable, "-c", MAKE, path, str(width),
                        str(height)], check=True)
    results = {engine: [] for engine in ENGINES[fmt]}
    for _ in range(args.runs):
        for engine in results:
            results[engine].append(run(path, engine, os.path.join(
                args.dir, "out-" + engine)))
    rows = []
    for engine, found in results.items():
        counted = int(subprocess.run(
            [sys.executable, "-c", COUNTED, path, engine], check=True,
            capture_output=True, text=True).stdout)
        rows.append((fmt, mp, "%dx%d" % (width, height), engine,
                     statistics.median(w for w, _ in found),
                     statistics.median(r for _, r in found),
                     counted / (1 << 20)))
    return rows


if __name__ == "__main__":
    main()
