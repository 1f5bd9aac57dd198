"""Command-line entry points.

zoomify-tile INPUT OUTDIR: cut an image into a Zoomify tile directory.
"""

import argparse
import contextlib
import logging
import os
import sys

# numpy's OpenBLAS starts a thread a core that spins for a while at start,
# and the tiler never multiplies matrices (benchmarks/README.txt, note
# openblas); set before the imports below load numpy
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from .progress import tile_progress  # noqa: E402
from .pyramid import DamagedImage
from .pyramid import DirectorySink
from .pyramid import TilingError
from .pyramid import boxmean
from .pyramid import tile_image
from .pyramid.budget import DEFAULT_MAX_TILING_MEMORY
from .pyramid.budget import format_bytes
from .pyramid.sources import DEFAULT_MAX_MEGAPIXELS
from .pyramid.sources import ENGINES
from .pyramid.tiler import parse_colour


def _colour(text):
    try:
        parse_colour(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))
    return text


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a whole number: %r" % text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be positive: %r" % text)
    return value


def _size(text):
    from .instance import parse_size
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def _tile_size(text):
    value = _positive(text)
    if value < 16 or value % 2:
        raise argparse.ArgumentTypeError(
            "must be an even number of at least 16: %r" % text)
    return value


def tile_parser():
    parser = argparse.ArgumentParser(
        prog="zoomify-tile",
        description="Cut an image of any size into a Zoomify tile set "
        "(TileGroupN/T-C-R.jpg and ImageProperties.xml) with memory that "
        "does not grow with the image's height.")
    parser.add_argument("input", metavar="INPUT",
                        help="the image file (JPEG, PNG, TIFF, PPM, BMP, ...)")
    parser.add_argument("outdir", metavar="OUTDIR",
                        help="the directory to write; an existing tile set "
                        "there is replaced only when the new one is "
                        "complete; a directory that holds anything else is "
                        "refused")
    parser.add_argument("--tile-size", type=_tile_size, default=256,
                        metavar="N", help="tile width and height in pixels, "
                        "even (default 256)")
    parser.add_argument("--quality", type=_positive, default=80,
                        metavar="Q", help="JPEG quality, 1 to 100 "
                        "(default 80)")
    parser.add_argument("--engine", choices=ENGINES,
                        default="auto", help="decoder: vips (any format "
                        "libvips reads, streamed), pillow (streams PPM, BMP "
                        "and uncompressed TIFF, decodes others whole), tiff "
                        "(tiled or compressed TIFF), jp2 (JPEG 2000), slide "
                        "(whole-slide images), auto (the leanest installed "
                        "engine for the file; default)")
    parser.add_argument("--background", type=_colour, default="#ffffff",
                        metavar="COLOUR", help="colour under transparent "
                        "pixels, as #rrggbb (default #ffffff)")
    parser.add_argument("--max-megapixels", type=_positive,
                        default=DEFAULT_MAX_MEGAPIXELS, metavar="MP",
                        help="refuse larger images, a guard against "
                        "decompression bombs (default %d)"
                        % DEFAULT_MAX_MEGAPIXELS)
    parser.add_argument("--max-tiling-memory", type=_size,
                        default=DEFAULT_MAX_TILING_MEMORY, metavar="SIZE",
                        help="refuse an image whose tiling needs more "
                        "memory, as 512MB or 2GB: the row buffers grow "
                        "with the image's width (default %s: a quarter of "
                        "this machine's memory, at most 512MB)"
                        % format_bytes(DEFAULT_MAX_TILING_MEMORY)
                        .replace(" ", ""))
    parser.add_argument("--force", action="store_true",
                        help="replace OUTDIR even when it holds other "
                        "files than a tile set (they are deleted)")
    parser.add_argument("--accept-damaged", action="store_true",
                        help="tile an image whose data is damaged "
                        "(truncated or corrupt) as the decoders make it "
                        "out, with a warning, instead of refusing it")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar and no summary")
    parser.add_argument("--verbose", action="store_true",
                        help="show what the image libraries say (warnings, "
                        "libtiff and libvips messages); without it a "
                        "failure is one line")
    return parser


@contextlib.contextmanager
def silenced_stderr():
    """Send file descriptor 2 to /dev/null while the libraries work:
    libtiff and others print from C, and Python warnings and logging go
    there too. Yields a stream on the real stderr (for the progress bar)."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    real = os.fdopen(os.dup(saved), "w")
    try:
        yield real
    finally:
        real.close()
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def tile_main(argv=None):
    args = tile_parser().parse_args(argv)
    if args.verbose:
        # WARNING: at INFO libvips tells of every band it reads
        logging.basicConfig(level=logging.WARNING,
                            format="zoomify-tile: %(name)s: %(message)s")
        logging.captureWarnings(True)
        if not boxmean.compiled:
            print("zoomify-tile: the C box mean (_boxmean.c) is not built: "
                  "numpy makes the smaller tiers (the same tiles, more "
                  "slowly)", file=sys.stderr)
    show = not args.quiet and sys.stderr.isatty()
    with contextlib.ExitStack() as stack:
        terminal = None   # the real stderr, while fd 2 is silenced
        if not args.verbose:
            terminal = stack.enter_context(silenced_stderr())
        progress = stack.enter_context(tile_progress(show, terminal))
        try:
            result = tile_image(args.input,
                                DirectorySink(args.outdir, force=args.force),
                                tile_size=args.tile_size,
                                quality=args.quality, engine=args.engine,
                                background=args.background,
                                progress=progress,
                                max_megapixels=args.max_megapixels,
                                max_tiling_memory=args.max_tiling_memory,
                                accept_damaged=args.accept_damaged)
            error = None
        except TilingError as e:
            error, status = "zoomify-tile: error: %s" % e, 1
            if isinstance(e, DamagedImage):
                error += " (--accept-damaged tiles it anyway)"
        except KeyboardInterrupt:
            error, status = ("zoomify-tile: interrupted; %s left as it was"
                             % args.outdir), 130
    # said once stderr is back: the one line of the promise
    if error is not None:
        print(error, file=sys.stderr)
        return status
    if result.damaged:
        print("zoomify-tile: warning: %s: the image data is damaged (%s); "
              "tiled anyway" % (args.input, result.damaged), file=sys.stderr)
    if not args.quiet:
        print("%s: %dx%d, %d tiers, %d tiles, %.1f MB, %.1f s (%s)"
              % (args.outdir, result.width, result.height, result.tiers,
                 result.tiles, result.bytes / 1e6, result.seconds,
                 result.engine))
    return 0


def import_parser():
    parser = argparse.ArgumentParser(
        prog="zoomify-import",
        description="Add image files to a Zope site as Zoomify Images "
        "(the same code path as the ZMI add form), without the ZMI: one "
        "file, several, directory trees or a list, into a stopped site or "
        "a running one over ZEO.")
    parser.add_argument("files", metavar="FILE_OR_DIR", nargs="*",
                        help="image files, and directories whose image "
                        "files (by extension, in the whole tree) are "
                        "added, each sub-directory as a sub-folder")
    parser.add_argument("--list", default=None, metavar="LIST",
                        help="a file naming the image files: one path a "
                        "line, or a CSV (LIST.csv) with a file column and "
                        "the description columns of --metadata; paths "
                        "relative to LIST's directory")
    parser.add_argument("--zope-conf", required=True, metavar="PATH",
                        help="the instance's zope.conf, for example "
                        "var/instance/etc/zope.conf")
    parser.add_argument("--path", default="/", metavar="/FOLDER",
                        help="the folder to add the image to (default /)")
    parser.add_argument("--id", default="", help="the object id (default: "
                        "the file name)")
    parser.add_argument("--title", default="", help="the title")
    parser.add_argument("--metadata", default=None, metavar="CSV",
                        help="the description from this CSV file's row "
                        "for FILE (columns: file, title, summary, creator, "
                        "date, source, identifier, attribution_label, "
                        "attribution, rights, language, metadata:LABEL); "
                        "without it, from FILE.json or the JSON file of "
                        "FILE's name beside FILE, if there is one")
    from .config import STORAGES  # the same kinds as zope.conf's
    parser.add_argument("--storage", choices=STORAGES,
                        default=None, help="tile storage (default: the "
                        "site's, from zope.conf)")
    parser.add_argument("--quality", type=_positive, default=None,
                        metavar="Q", help="JPEG quality (default: the "
                        "site's)")
    parser.add_argument("--user", default=None, help="the Zope user that "
                        "owns the new image (default: the first manager "
                        "of the root user folder)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--foreground", dest="mode", action="store_const",
                      const="foreground", help="tile now, in this process, "
                      "with a progress bar (default for one FILE)")
    mode.add_argument("--background", dest="mode", action="store_const",
                      const="background", help="only queue a tiling job "
                      "an image: the site's Zope processes run them (at "
                      "once over ZEO, else at their next start; default "
                      "for several files, directories and --list)")
    parser.set_defaults(mode=None)
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar (and no summary)")
    return parser


def _is_bulk(args):
    return bool(args.list) or len(args.files) != 1 or os.path.isdir(
        args.files[0])


def import_bulk(parser, args):
    """Several files: a bar of images, a line a refused file, a summary;
    1 when any was refused."""
    from .bulk_import import import_all
    from .bulk_import import items_of
    from .bulk_import import summary_text
    from .importer import ImportFailed
    if args.id or args.title:
        parser.error("--id and --title name one image: with several files "
                     "the ids and titles come from the file names")
    background = args.mode != "foreground"
    try:
        items, others = items_of(args.files, args.list)
        summary = import_all(
            args.zope_conf, args.path, items, others,
            progress=not args.quiet and sys.stderr.isatty(),
            user=args.user, storage=args.storage, quality=args.quality,
            background=background, metadata=args.metadata)
    except ImportFailed as e:
        print("zoomify-import: error: %s" % e, file=sys.stderr)
        return 1
    if not args.quiet:
        print(summary_text(summary))
    return 1 if summary.refused else 0


def import_main(argv=None):
    parser = import_parser()
    args = parser.parse_args(argv)
    if not args.files and not args.list:
        parser.error("name the image files, directories, or a --list")
    if _is_bulk(args):
        return import_bulk(parser, args)
    args.file = args.files[0]
    args.mode = args.mode or "foreground"
    from .importer import ImportFailed
    from .importer import description_for
    from .importer import import_file
    try:
        description = description_for(args.file, args.metadata)
        url, queued = import_file(
            args.zope_conf, args.path, args.file, id=args.id,
            title=args.title, storage=args.storage, quality=args.quality,
            user=args.user, progress=not args.quiet and sys.stderr.isatty(),
            mode=args.mode, description=description)
    except ImportFailed as e:
        print("zoomify-import: error: %s" % e, file=sys.stderr)
        return 1
    if not args.quiet:
        print("added %s%s" % (url, " (queued: the site's Zope tiles it)"
                              if queued else ""))
    return 0


if __name__ == "__main__":
    sys.exit(tile_main())
