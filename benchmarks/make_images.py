"""Make the benchmark images deterministically with pyvips.

    python benchmarks/make_images.py [--width 30000] [--height 20000] DIR

Writes DIR/bench-WxH.jpg (Q85) and DIR/bench-WxH.tif (the same pixels,
uncompressed, stripped; a BigTIFF over 4 GB). Over 65535 pixels a side,
which JPEG cannot hold, only the TIFF is made. The pixels are smooth
Perlin structure at a few scales plus fine grain, which JPEG compresses
about as a photograph.
Existing files are kept (delete them to remake).

make_more(DIR, TIFF) makes the formats of issue 13 from the same pixels:
a BigTIFF in 256x256 JPEG tiles (Q85), an LZW BigTIFF (strips,
horizontal predictor) and a JPEG 2000 in 1024x1024 tiles (lossy, 1:20;
the pyvips binary wheel writes no JPEG 2000, so glymur does, tile by
tile).
"""

import argparse
import os


def make_pixels(width, height):
    import pyvips
    channels = []
    for band in range(3):
        seed = 17 + band
        coarse = pyvips.Image.perlin(width, height, cell_size=2048,
                                     seed=seed)
        middle = pyvips.Image.perlin(width, height, cell_size=256,
                                     seed=seed + 100)
        fine = pyvips.Image.perlin(width, height, cell_size=16,
                                   seed=seed + 200)
        grain = pyvips.Image.gaussnoise(width, height, sigma=1.0, mean=0,
                                        seed=seed + 300)
        value = 128 + 90 * coarse + 35 * middle + 15 * fine + 6 * grain
        channels.append(value)
    image = channels[0].bandjoin(channels[1:])
    return image.cast("uchar").copy(interpretation="srgb")


# JPEG's limit on a side
JPEG_MAX_SIDE = 65535


def make(directory, width, height):
    """(JPEG, TIFF) paths; the JPEG is None over JPEG's 65535 pixels a
    side, and the TIFF then has the generated pixels themselves."""
    os.makedirs(directory, exist_ok=True)
    stem = os.path.join(directory, "bench-%dx%d" % (width, height))
    jpeg, tiff = stem + ".jpg", stem + ".tif"
    if max(width, height) > JPEG_MAX_SIDE:
        jpeg = None
    elif not os.path.exists(jpeg):
        make_pixels(width, height).jpegsave(jpeg + ".part", Q=85,
                                            strip=True)
        os.rename(jpeg + ".part", jpeg)
    if not os.path.exists(tiff):
        import pyvips
        if jpeg:
            # the same pixels as the JPEG decodes to
            image = pyvips.Image.new_from_file(jpeg, access="sequential")
        else:
            image = make_pixels(width, height)
        image.tiffsave(tiff + ".part", compression="none", tile=False,
                       bigtiff=image.width * image.height * 3 > 4e9)
        os.rename(tiff + ".part", tiff)
    return jpeg, tiff


def make_more(directory, tiff):
    """The tiled JPEG BigTIFF, LZW BigTIFF and JP2 of the TIFF's pixels."""
    import pyvips
    stem = os.path.splitext(tiff)[0]
    tjpeg, lzw, jp2 = (stem + "-tiled-jpeg.tif", stem + "-lzw.tif",
                       stem + ".jp2")
    image = pyvips.Image.new_from_file(tiff)
    if not os.path.exists(tjpeg):
        image.tiffsave(tjpeg + ".part", compression="jpeg", Q=85, tile=True,
                       tile_width=256, tile_height=256, bigtiff=True)
        os.rename(tjpeg + ".part", tjpeg)
    if not os.path.exists(lzw):
        image.tiffsave(lzw + ".part", compression="lzw",
                       predictor="horizontal", bigtiff=True)
        os.rename(lzw + ".part", lzw)
    if not os.path.exists(jp2):
        write_jp2(image, jp2 + ".part")
        os.rename(jp2 + ".part", jp2)
    return tjpeg, lzw, jp2


def write_jp2(image, path, tile=1024):
    tile = min(tile, image.width, image.height)
    import glymur
    import numpy as np
    glymur.set_option("lib.num_threads", os.cpu_count() or 1)
    out = glymur.Jp2k(path, shape=(image.height, image.width, image.bands),
                      tilesize=(tile, tile), cratios=[20], irreversible=True)
    cols = -(-image.width // tile)
    band = None
    for writer in out.get_tilewriters():
        row, col = divmod(writer.tile_index, cols)
        if col == 0:    # one row of tiles at a time, from the TIFF
            top = row * tile
            rows = min(tile, image.height - top)
            band = np.ndarray(
                (rows, image.width, image.bands), np.uint8,
                image.crop(0, top, image.width, rows).write_to_memory())
        writer[:] = np.ascontiguousarray(band[:, col * tile:(col + 1) * tile])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--width", type=int, default=30000)
    parser.add_argument("--height", type=int, default=20000)
    args = parser.parse_args()
    jpeg, tiff = make(args.directory, args.width, args.height)
    for path in (jpeg, tiff) + make_more(args.directory, tiff):
        if path:
            print(path, os.path.getsize(path))


if __name__ == "__main__":
    main()
