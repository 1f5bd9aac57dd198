"""Make the benchmark images deterministically with pyvips.

    python benchmarks/make_images.py [--width 30000] [--height 20000] DIR

Writes DIR/bench-WxH.jpg (Q85) and DIR/bench-WxH.tif (the same pixels,
uncompressed, stripped). The pixels are smooth Perlin structure at a few
scales plus fine grain, which JPEG compresses about as a photograph.
Existing files are kept (delete them to remake).
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


def make(directory, width, height):
    os.makedirs(directory, exist_ok=True)
    stem = os.path.join(directory, "bench-%dx%d" % (width, height))
    jpeg, tiff = stem + ".jpg", stem + ".tif"
    if not os.path.exists(jpeg):
        make_pixels(width, height).jpegsave(jpeg + ".part", Q=85,
                                            strip=True)
        os.rename(jpeg + ".part", jpeg)
    if not os.path.exists(tiff):
        import pyvips
        # the same pixels as the JPEG decodes to
        image = pyvips.Image.new_from_file(jpeg, access="sequential")
        image.tiffsave(tiff + ".part", compression="none", tile=False)
        os.rename(tiff + ".part", tiff)
    return jpeg, tiff


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--width", type=int, default=30000)
    parser.add_argument("--height", type=int, default=20000)
    args = parser.parse_args()
    for path in make(args.directory, args.width, args.height):
        print(path, os.path.getsize(path))


if __name__ == "__main__":
    main()
