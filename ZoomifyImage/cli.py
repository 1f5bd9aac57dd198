"""Command-line entry points.

zoomify-tile INPUT OUTDIR: cut an image into a Zoomify tile directory.
"""

import argparse
import sys

from .pyramid import DirectorySink, TilingError, tile_image
from .pyramid.sources import DEFAULT_MAX_MEGAPIXELS
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
    parser.add_argument("--engine", choices=("auto", "vips", "pillow"),
                        default="auto", help="decoder: vips (any format "
                        "libvips reads, streamed), pillow (streams PPM, BMP "
                        "and uncompressed TIFF, decodes others whole), auto "
                        "(vips when installed; default)")
    parser.add_argument("--background", type=_colour, default="#ffffff",
                        metavar="COLOUR", help="colour under transparent "
                        "pixels, as #rrggbb (default #ffffff)")
    parser.add_argument("--max-megapixels", type=_positive,
                        default=DEFAULT_MAX_MEGAPIXELS, metavar="MP",
                        help="refuse larger images, a guard against "
                        "decompression bombs (default %d)"
                        % DEFAULT_MAX_MEGAPIXELS)
    parser.add_argument("--force", action="store_true",
                        help="replace OUTDIR even when it holds other "
                        "files than a tile set (they are deleted)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar and no summary")
    return parser


def tile_main(argv=None):
    args = tile_parser().parse_args(argv)
    bar = progress = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        def progress(done, total):
            nonlocal bar
            if bar is None:  # made once the total is known
                bar = tqdm(total=total, unit="tile", desc="tiling",
                           leave=False, mininterval=0.2)
            bar.update(done - bar.n)
    try:
        result = tile_image(args.input,
                            DirectorySink(args.outdir, force=args.force),
                            tile_size=args.tile_size, quality=args.quality,
                            engine=args.engine, background=args.background,
                            progress=progress,
                            max_megapixels=args.max_megapixels)
    except TilingError as e:
        if bar is not None:
            bar.close()
        print("zoomify-tile: error: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        print("zoomify-tile: interrupted; %s left as it was" % args.outdir,
              file=sys.stderr)
        return 130
    if bar is not None:
        bar.close()
    if not args.quiet:
        print("%s: %dx%d, %d tiers, %d tiles, %.1f MB, %.1f s (%s)"
              % (args.outdir, result.width, result.height, result.tiers,
                 result.tiles, result.bytes / 1e6, result.seconds,
                 result.engine))
    return 0


def import_parser():
    parser = argparse.ArgumentParser(
        prog="zoomify-import",
        description="Add an image file to a Zope site as a Zoomify Image "
        "(the same code path as the ZMI add form), without the ZMI.")
    parser.add_argument("file", metavar="FILE", help="the image file")
    parser.add_argument("--zope-conf", required=True, metavar="PATH",
                        help="the instance's zope.conf, for example "
                        "var/instance/etc/zope.conf")
    parser.add_argument("--path", default="/", metavar="/FOLDER",
                        help="the folder to add the image to (default /)")
    parser.add_argument("--id", default="", help="the object id (default: "
                        "the file name)")
    parser.add_argument("--title", default="", help="the title")
    parser.add_argument("--storage", choices=("zodb", "filesystem"),
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
                      "with a progress bar (default)")
    mode.add_argument("--background", dest="mode", action="store_const",
                      const="background", help="only queue a tiling job: "
                      "the site's Zope processes run it (at once over ZEO, "
                      "else at their next start)")
    parser.set_defaults(mode="foreground")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar")
    return parser


def import_main(argv=None):
    args = import_parser().parse_args(argv)
    from .importer import ImportError_, import_file
    try:
        url, queued = import_file(
            args.zope_conf, args.path, args.file, id=args.id,
            title=args.title, storage=args.storage, quality=args.quality,
            user=args.user, progress=not args.quiet and sys.stderr.isatty(),
            mode=args.mode)
    except ImportError_ as e:
        print("zoomify-import: error: %s" % e, file=sys.stderr)
        return 1
    if not args.quiet:
        print("added %s%s" % (url, " (queued: the site's Zope tiles it)"
                              if queued else ""))
    return 0


if __name__ == "__main__":
    sys.exit(tile_main())
