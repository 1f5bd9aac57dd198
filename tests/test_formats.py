"""The formats of gigapixel images beyond the basic ones: tiled and
compressed TIFF/BigTIFF (tiff engine), JPEG 2000 (jp2), whole-slide
images (slide) and PSD/PSB. For each: the layout and the pixels of every
tier, a damaged file fails in one line and leaves nothing, and memory
does not grow with the height."""

import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.images import psnr
from tests.images import smooth
from tests.images import tier_images
from tests.test_broken_images import check_run
from tests.test_pixels import assemble
from tests.test_streaming import peak_kb
from ZoomifyImage.pyramid import Layout
from ZoomifyImage.pyramid import MemorySink
from ZoomifyImage.pyramid import TilingError
from ZoomifyImage.pyramid import tile_image
from ZoomifyImage.pyramid.sources import tiff_available
from ZoomifyImage.pyramid.sources import vips_available

needs_tiff = pytest.mark.skipif(not tiff_available(),
                                reason="tifffile/imagecodecs not installed")


def check_tiers(path, pixels, engine, limit=35, **options):
    """Every tile of every tier where the layout puts it, with the box
    means of the pixels; returns the engine that read the file."""
    sink = MemorySink()
    result = tile_image(path, sink, engine=engine, quality=95, **options)
    h, w = pixels.shape[:2]
    layout = Layout(w, h)
    assert set(sink.tiles) == set(layout.tile_names()) | {
        "ImageProperties.xml"}
    assert sink.tiles["ImageProperties.xml"] == layout.properties_xml()
    for tier, expected in enumerate(tier_images(pixels)):
        got = assemble(sink.tiles, layout, tier)
        if got.shape[2] == 1 and expected.ndim == 2:
            expected = expected[..., None]
        assert got.shape == expected.shape, tier
        assert psnr(got, expected) > limit, (tier, psnr(got, expected))
    return result.engine


def damaged_runs(tmp_path, engine, files):
    """Each file through zoomify-tile: the problems of those that neither
    tile correctly nor fail in one line leaving nothing behind."""
    jobs = []
    for name, data in files.items():
        path = str(tmp_path / name)
        with open(path, "wb") as f:
            f.write(data)
        jobs.append((name, path, str(tmp_path / ("run-" + name))))
    # the runs are mostly starting Python: two at a time a core
    with ThreadPoolExecutor(2 * (os.cpu_count() or 1)) as pool:
        found = pool.map(lambda job: (job[0], check_run(job[1], engine,
                                                        job[2])), jobs)
        return ["%s: %s" % (name, p) for name, problems in found
                for p in problems]


def truncations(name, data):
    """A good file cut at a few places, and with its middle scrambled."""
    stem, ext = os.path.splitext(name)
    scrambled = bytearray(data)
    middle = len(data) // 2
    scrambled[middle:middle + 4096] = bytes(
        (b * 7 + 13) % 256 for b in scrambled[middle:middle + 4096])
    return {stem + "-24-bytes" + ext: data[:24],
            stem + "-header" + ext: data[:100],
            stem + "-half" + ext: data[:middle],
            stem + "-last-byte-gone" + ext: data[:-1],
            stem + "-scrambled" + ext: bytes(scrambled)}


# ----------------------------------------------------------------- TIFF

def write_tiff(path, pixels, **options):
    import tifffile
    photometric = "minisblack" if pixels.ndim == 2 else "rgb"
    extras = {"extrasamples": ["unassalpha"]} if (
        pixels.ndim == 3 and pixels.shape[2] == 4) else {}
    tifffile.imwrite(path, pixels, photometric=photometric, **extras,
                     **options)
    return str(path)


TIFFS = {
    "jpeg-tiles": dict(tile=(128, 128), compression="jpeg",
                       compressionargs={"level": 95}),
    "lzw-strips": dict(rowsperstrip=7, compression="lzw"),
    # strips that fit our rows of tiles: decoded by libtiff in jobs
    "lzw-strips-predictor": dict(rowsperstrip=32, compression="lzw",
                                 predictor=True),
    "deflate-tiles-predictor": dict(tile=(64, 128), compression="zlib",
                                    predictor=True),
    "zstd-bigtiff": dict(tile=(256, 256), compression="zstd",
                         bigtiff=True),
    "uncompressed-tiles": dict(tile=(128, 128)),
    "jpeg-strips-bigtiff": dict(rowsperstrip=64, compression="jpeg",
                                compressionargs={"level": 95},
                                bigtiff=True),
}


@needs_tiff
@pytest.mark.parametrize("engine", ["tiff", "auto"])
@pytest.mark.parametrize("kind", sorted(TIFFS))
def test_tiff_layout_and_pixels(tmp_path, kind, engine):
    pixels = smooth(1025, 600)
    path = write_tiff(tmp_path / "in.tif", pixels, **TIFFS[kind])
    assert check_tiers(path, pixels, engine) == "tiff"


@needs_tiff
def test_tiff_grey_layout_and_pixels(tmp_path):
    # grey rows: the tiles are encoded from 2-D views of the tiers
    pixels = np.ascontiguousarray(smooth(1025, 600)[..., 0])
    path = write_tiff(tmp_path / "in.tif", pixels, rowsperstrip=64,
                      compression="lzw", predictor=True)
    assert check_tiers(path, pixels, "tiff") == "tiff"
    sink = MemorySink()
    tile_image(path, sink, engine="tiff", quality=80)
    assert {_image(data).mode for name, data in sink.tiles.items()
            if name.endswith(".jpg")} == {"L"}


@needs_tiff
@pytest.mark.skipif(not vips_available(), reason="pyvips not installed")
def test_tiff_and_vips_engines_agree(tmp_path):
    pixels = smooth(700, 520)
    path = write_tiff(tmp_path / "in.tif", pixels, **TIFFS["lzw-strips"])
    ours, theirs = MemorySink(), MemorySink()
    tile_image(path, ours, engine="tiff", quality=95)
    tile_image(path, theirs, engine="vips", quality=95)
    assert set(ours.tiles) == set(theirs.tiles)
    for name in ours.tiles:
        if name.endswith(".jpg"):
            assert psnr(np.asarray(_image(ours.tiles[name])),
                        np.asarray(_image(theirs.tiles[name]))) > 40


def _image(data):
    import io

    from PIL import Image
    return Image.open(io.BytesIO(data))


@needs_tiff
@pytest.mark.parametrize("kind", ["grey", "grey16", "rgba", "miniswhite"])
def test_tiff_colour_kinds(tmp_path, kind):
    rgb = smooth(600, 300)
    if kind == "rgba":
        alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
        alpha[:, :300] = 0   # the left half transparent: white
        pixels = np.concatenate([rgb, alpha], axis=2)
        expected = rgb.copy()
        expected[:, :300] = 255
    else:
        expected = rgb[..., 1]
        pixels = expected
        if kind == "grey16":
            pixels = expected.astype(np.uint16) * 257
    options = dict(tile=(128, 128), compression="zlib")
    if kind == "miniswhite":
        import tifffile
        path = str(tmp_path / "in.tif")
        tifffile.imwrite(path, 255 - expected, photometric="miniswhite",
                         **options)
    else:
        path = write_tiff(tmp_path / "in.tif", pixels, **options)
    assert check_tiers(path, expected, "tiff") == "tiff"


@needs_tiff
def test_tiff_engine_refuses_what_it_does_not_read(tmp_path):
    from ZoomifyImage.pyramid import open_source
    png = str(tmp_path / "in.png")
    from PIL import Image
    Image.fromarray(smooth(300, 200)).save(png)
    with pytest.raises(TilingError):
        open_source(png, engine="tiff")
    # a TIFF whose colours it would get wrong goes to another engine
    import tifffile
    path = str(tmp_path / "planar.tif")
    tifffile.imwrite(path, np.moveaxis(smooth(300, 200), -1, 0),
                     photometric="rgb", planarconfig="separate",
                     compression="lzw")
    with pytest.raises(TilingError, match="separate colour planes"):
        open_source(path, engine="tiff")
    assert tile_image(path, MemorySink()).engine != "tiff"


def test_old_style_jpeg_tiff_is_read_or_named(tmp_path):
    # libtiff reads Compression 6 only where it was built with it (not in
    # the pyvips binary wheel), tifffile not as scanners wrote it; Pillow's
    # libtiff does. Whichever engine cannot say what it is, never that the
    # file is damaged
    from tests.images import old_jpeg_tiff
    from tests.test_errors import run_cli
    data, expected = old_jpeg_tiff(smooth(600, 400))
    path = tmp_path / "old-jpeg.tif"
    path.write_bytes(data)
    for engine in ("auto", "pillow"):
        assert check_tiers(str(path), expected, engine) == "pillow"
    refusals = {"vips": "unsupported TIFF compression (old-style JPEG, 6)",
                "tiff": "unsupported TIFF compression (old-style JPEG, 6) "
                        "for the tiff engine"}
    for engine, words in refusals.items():
        if not (vips_available() if engine == "vips" else tiff_available()):
            continue
        result = run_cli("--engine", engine, str(path),
                         str(tmp_path / "out"))
        if result.returncode == 0:   # a libtiff built with old-style JPEG
            assert engine == "vips"
            assert check_tiers(str(path), expected, engine) == "vips"
            continue
        assert result.stderr.splitlines() == [
            "zoomify-tile: error: %s: %s" % (path, words)]
    # and cut or scrambled: one line, nothing left
    folder = tmp_path / "damaged"
    folder.mkdir()
    assert not damaged_runs(folder, "auto", truncations("old-jpeg.tif",
                                                          data))


@pytest.mark.parametrize("compression", [None, "tiff_lzw"])
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_tiff_orientation(tmp_path, orientation, compression):
    # Pillow 11+ reports a TIFF's size turned by its Orientation tag and
    # turns the pixels when it loads them (older ones leave both to
    # ImageOps.exif_transpose): the pillow engine turned 5-8 twice
    from PIL import Image
    pixels = smooth(600, 400)
    path = str(tmp_path / "in.tif")
    Image.fromarray(pixels).save(path, compression=compression,
                                 tiffinfo={274: orientation})
    expected = {3: np.rot90(pixels, 2), 6: np.rot90(pixels, -1),
                8: np.rot90(pixels, 1)}[orientation]
    for engine in ["auto", "pillow"] + (["vips"] if vips_available()
                                        else []):
        check_tiers(path, expected, engine)


def test_cielab_tiff_is_read(tmp_path):
    # libvips (8.18) refuses an 8-bit CIELab TIFF at its header ("bad
    # labq format"), the tiff engine takes no CIELab: Pillow reads it
    from PIL import Image
    path = str(tmp_path / "lab.tif")
    Image.fromarray(smooth(600, 400)).convert("LAB").save(path)
    with Image.open(path) as im:
        expected = np.asarray(im.convert("RGB"))
    assert psnr(expected, smooth(600, 400)) > 35   # the colours kept
    assert check_tiers(path, expected, "auto") in ("pillow", "vips")


def test_tiff_pillow_cannot_read_says_why(tmp_path):
    # floating-point RGB: Pillow's TIFF plugin has no mode for it, libvips
    # reads it (auto); the pillow engine says what it lacks and who reads
    # it, not "not an image file"
    tifffile = pytest.importorskip("tifffile")
    from tests.test_errors import run_cli
    path = str(tmp_path / "float.tif")
    tifffile.imwrite(path, smooth(300, 200).astype(np.float32),
                     photometric="rgb", compression="zlib")
    result = run_cli("--engine", "pillow", path, str(tmp_path / "out"))
    assert result.stderr.splitlines() == [
        "zoomify-tile: error: %s: a TIFF that Pillow does not read (unknown "
        "pixel mode): %s" % (path, "the vips engine reads more TIFFs"
                             if vips_available() else "libvips reads more "
                             "TIFFs: install the 'vips' extra (pip install "
                             "'ZoomifyImage[vips]')")]
    if vips_available():
        assert tile_image(path, MemorySink()).engine == "vips"


@pytest.mark.parametrize("number,name", [(34661, "JBIG"),
                                         (9, "JBIG (T.85)"),
                                         (60000, "unknown")])
def test_tiff_compression_no_engine_has_is_named(tmp_path, number, name):
    from tests.images import one_strip_tiff
    from tests.test_errors import run_cli
    path = tmp_path / "in.tif"
    path.write_bytes(one_strip_tiff(smooth(60, 40).tobytes(), 60, 40,
                                    number))
    words = "unsupported TIFF compression (%s, %d)" % (name, number)
    engines = ["auto", "pillow"] + (["vips"] if vips_available() else [])
    for engine in engines:
        result = run_cli("--engine", engine, str(path),
                         str(tmp_path / "out"))
        assert result.returncode == 1
        assert result.stderr.splitlines() == [
            "zoomify-tile: error: %s: %s" % (path, words)], engine


@needs_tiff
@pytest.mark.parametrize("codec", ["lerc", "jpegxl", "jpegxr", "png"])
def test_tiff_compressions_imagecodecs_decodes(tmp_path, codec):
    # compressions libtiff is rarely built with (the pyvips binary wheel's
    # is not), which imagecodecs decodes: the tiff engine reads them
    import imagecodecs
    import tifffile
    if not getattr(imagecodecs, codec.upper()).available:
        pytest.skip("this imagecodecs has no %s codec" % codec)
    path = write_tiff(tmp_path / "in.tif", smooth(600, 400),
                      tile=(128, 128), compression=codec)
    expected = tifffile.imread(path)
    for engine in ("auto", "tiff"):
        assert check_tiers(path, expected, engine) == "tiff"


def test_auto_takes_pillow_for_an_uncompressed_bigtiff(tmp_path):
    # it streams from the rows: half the memory of libvips (issue 13)
    tifffile = pytest.importorskip("tifffile")
    path = str(tmp_path / "big.tif")
    tifffile.imwrite(path, smooth(600, 400), photometric="rgb",
                     bigtiff=True, rowsperstrip=16)
    assert tile_image(path, MemorySink()).engine == "pillow"


@needs_tiff
@pytest.mark.parametrize("grey", [False, True])
@pytest.mark.parametrize("options", [
    dict(rowsperstrip=32, compression="lzw", predictor=True),
    dict(rowsperstrip=256, compression="lzw"),
    dict(rowsperstrip=7, compression="lzw", predictor=True),
    dict(rowsperstrip=64, compression="zlib", predictor=True),
    dict(tile=(128, 128), compression="lzw", predictor=True)])
def test_tiff_rows_exact(tmp_path, options, grey):
    # the rows as tifffile decodes them, whichever way we read them: in
    # jobs straight into the caller's memory (strips and tiles that fit
    # a tile row), or decoded ahead (strips of 7 rows); LZW and deflate
    # strips by libtiff
    import tifffile

    from ZoomifyImage.pyramid.sources import TiffSource
    pixels = smooth(700, 601)
    if grey:
        pixels = np.ascontiguousarray(pixels[..., 1])
    path = write_tiff(tmp_path / "in.tif", pixels, **options)
    expected = tifffile.imread(path).reshape(601, 700, -1)
    with TiffSource(path, (255, 255, 255)) as source:
        rows = source.job_rows(256)
        got = np.zeros_like(expected)
        for top in range(0, 601, 256):
            n = min(256, 601 - top)
            memory = bytearray(n * 700 * source.channels)
            if rows:
                for job in source.read_jobs(memory, top, n):
                    job()
            else:
                source.read_into(memory, top, n)
            got[top:top + n] = np.frombuffer(memory, np.uint8).reshape(
                n, 700, -1)
    assert (rows is None) == (options.get("rowsperstrip") == 7)
    assert np.array_equal(got, expected)


@needs_tiff
@pytest.mark.parametrize("kind", ["jpeg-tiles", "zstd-bigtiff",
                                  "lzw-strips", "lzw-strips-predictor"])
def test_tiff_damaged_fails_in_one_line(tmp_path, kind):
    path = write_tiff(tmp_path / "good.tif", smooth(600, 400),
                      **TIFFS[kind])
    with open(path, "rb") as f:
        data = f.read()
    files = truncations(kind + ".tif", data)
    for engine in ("tiff", "auto"):
        folder = tmp_path / engine
        folder.mkdir()
        assert not damaged_runs(folder, engine, files)


def tall_tiff(path, width, height, **options):
    """A tiled JPEG TIFF written tile by tile (the test stays small)."""
    import tifffile
    tile = np.zeros((256, 256, 3), np.uint8)

    def tiles():
        for top in range(0, height, 256):
            for left in range(0, width, 256):
                tile[:] = (top // 256 * 37 % 256, left // 256 * 11 % 256,
                           90)
                yield tile

    tifffile.imwrite(path, tiles(), shape=(height, width, 3), dtype="uint8",
                     photometric="rgb", tile=(256, 256), **options)
    return str(path)


@needs_tiff
def test_tiff_engine_streams(tmp_path):
    # 4000 wide: the tall image has 9000 more rows (108 MB of pixels)
    options = dict(compression="jpeg", bigtiff=True)
    short = tall_tiff(tmp_path / "short.tif", 4000, 1000, **options)
    tall = tall_tiff(tmp_path / "tall.tif", 4000, 10000, **options)
    small, big = peak_kb(short, "tiff"), peak_kb(tall, "tiff")
    assert big - small < 25_000, "peak memory grew by %d KB" % (big - small)


# ------------------------------------------------------------ JPEG 2000

def jp2_ok():
    from ZoomifyImage.pyramid.sources import jp2_available
    return jp2_available()


needs_jp2 = pytest.mark.skipif(not jp2_ok(), reason="glymur or OpenJPEG "
                               "2.4+ not installed (the 'jp2' extra)")


def write_jp2(path, pixels, tile=None, **options):
    """A JPEG 2000 file, tile by tile when ``tile`` is given (as big
    files are written: never the whole image in memory)."""
    import glymur
    if tile is None:
        glymur.Jp2k(str(path), data=pixels, **options)
        return str(path)
    jp2 = glymur.Jp2k(str(path), shape=pixels.shape, tilesize=(tile, tile),
                      **options)
    cols = -(-pixels.shape[1] // tile)
    for writer in jp2.get_tilewriters():
        row, col = divmod(writer.tile_index, cols)
        writer[:] = np.ascontiguousarray(
            pixels[row * tile:(row + 1) * tile, col * tile:(col + 1) * tile])
    return str(path)


@needs_jp2
@pytest.mark.parametrize("name,tile", [("one-tile.jp2", None),
                                       ("tiled.jp2", 256),
                                       ("tiled-odd.jp2", 320),
                                       ("codestream.j2k", 512)])
def test_jp2_layout_and_pixels(tmp_path, name, tile):
    pixels = smooth(1025, 700)
    path = write_jp2(tmp_path / name, pixels, tile)
    assert check_tiers(path, pixels, "jp2") == "jp2"
    assert check_tiers(path, pixels, "auto") == "jp2"


@needs_jp2
@pytest.mark.parametrize("kind", ["grey", "grey16", "rgba", "lossy"])
def test_jp2_kinds(tmp_path, kind):
    rgb = smooth(600, 300)
    options = {}
    expected = rgb
    if kind == "grey":
        pixels = expected = rgb[..., 0]
    elif kind == "grey16":
        expected = rgb[..., 0]
        pixels = expected.astype(np.uint16) * 257
    elif kind == "rgba":
        alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
        alpha[:, :300] = 0
        pixels = np.concatenate([rgb, alpha], axis=2)
        expected = rgb.copy()
        expected[:, :300] = 255
    else:
        pixels = rgb
        options = {"cratios": [20]}
    path = write_jp2(tmp_path / "in.jp2", pixels, 256, **options)
    assert check_tiers(path, expected, "jp2", limit=33) == "jp2"


def with_image_offset(data, offset, tile_origin=None, tile_size=None):
    """A JPEG 2000 file (codestream or JP2) with its image area moved to
    ``offset`` (XOsiz, YOsiz) on the reference grid, Xsiz and Ysiz grown
    as much: the SIZ marker segment (ISO/IEC 15444-1, A.5.1). The tile
    grid starts at ``tile_origin`` (XTOsiz, YTOsiz; the image's corner
    unless given), its tiles ``tile_size`` (as written unless given)."""
    import struct
    at = data.index(b"\xff\x4f\xff\x51") + 4   # SOC, then SIZ
    fields = list(struct.unpack(">HHIIIIIIII", data[at:at + 36]))
    dx, dy = offset
    fields[2:6] = fields[2] + dx, fields[3] + dy, dx, dy
    if tile_size:
        fields[6:8] = tile_size
    fields[8:10] = tile_origin or offset
    return data[:at] + struct.pack(">HHIIIIIIII", *fields) + data[at + 36:]


# (image size, tile, offset, tile grid origin, tile size)
JP2_OFFSETS = {
    "one-tile": ((600, 400), None, (37, 21), None, None),
    "tiled": ((600, 400), 256, (37, 21), None, None),
    # a multiple of the code-blocks at every level (2^5 x 64): the file
    # decodes to the very pixels written
    "far": ((600, 400), 256, (2048, 4096), None, None),
    # the grid at the reference grid's corner, its first tiles cut short
    # by the image's offset (the tiles as written: 256 on the image)
    "grid-at-corner": ((400, 300), 256, (37, 21), (0, 0), (293, 277)),
    "jp2-box": ((600, 400), 256, (37, 21), None, None),
}


@needs_jp2
@pytest.mark.parametrize("engine", ["jp2", "auto", "pillow"])
@pytest.mark.parametrize("kind", sorted(JP2_OFFSETS))
def test_jp2_image_offset(tmp_path, kind, engine):
    # the image is the area from (XOsiz, YOsiz) to (Xsiz, Ysiz): read as
    # OpenJPEG decodes it (here through Pillow), every row
    from PIL import Image

    from ZoomifyImage.pyramid import open_source
    size, tile, offset, tile_origin, tile_size = JP2_OFFSETS[kind]
    pixels = smooth(*size)
    name = "in.jp2" if kind == "jp2-box" else "in.j2k"
    written = write_jp2(tmp_path / ("written-" + name), pixels, tile)
    path = tmp_path / name
    with open(written, "rb") as f:
        path.write_bytes(with_image_offset(f.read(), offset, tile_origin,
                                           tile_size))
    path = str(path)
    with Image.open(path) as im:
        expected = np.asarray(im)
    assert expected.shape == pixels.shape
    if kind == "far":
        assert np.array_equal(expected, pixels)
    assert check_tiers(path, expected, engine) == (
        "jp2" if engine == "auto" else engine)
    with open_source(path, engine) as source:
        got = np.empty_like(expected)
        for top in range(0, size[1], 256):
            rows = min(256, size[1] - top)
            memory = bytearray(rows * size[0] * source.pixel_bytes)
            source.read_into(memory, top, rows)
            got[top:top + rows] = np.frombuffer(memory, np.uint8).reshape(
                rows, size[0], -1)[..., :3]
    assert np.array_equal(got, expected)


@needs_jp2
def test_jp2_subsampled_is_read_by_pillow(tmp_path):
    # every component sampled every second pixel of the reference grid:
    # the jp2 engine (OpenJPEG's regions come at the components' own
    # size) refuses it and says why; auto gives it to Pillow, which fills
    # the grid
    from PIL import Image

    from tests.test_errors import run_cli
    path = write_jp2(tmp_path / "in.j2k", smooth(600, 400), subsam=(2, 2))
    with Image.open(path) as im:
        expected = np.asarray(im)
    # (vips where libvips has OpenJPEG: the binary wheel's has not)
    assert check_tiers(path, expected, "auto") in ("pillow", "vips")
    result = run_cli("--engine", "jp2", path, str(tmp_path / "out"))
    assert result.stderr.splitlines() == [
        "zoomify-tile: error: %s: a JPEG 2000 image with subsampled "
        "components, which the jp2 engine does not read" % path]


@needs_jp2
def test_jp2_damaged_fails_in_one_line(tmp_path):
    path = write_jp2(tmp_path / "good.jp2", smooth(600, 400), 256)
    with open(path, "rb") as f:
        data = f.read()
    files = truncations("tiled.jp2", data)
    files.update(truncations("one.jp2", open(write_jp2(
        tmp_path / "one.jp2", smooth(600, 400)), "rb").read()))
    for engine in ("jp2", "auto"):
        folder = tmp_path / engine
        folder.mkdir()
        assert not damaged_runs(folder, engine, files)


@needs_jp2
def test_jp2_streams(tmp_path):
    def stripes(height):
        pixels = np.zeros((height, 4000, 3), np.uint8)
        for top in range(0, height, 512):
            pixels[top:top + 512] = (top // 512 * 37 % 256, 90, 200)
        return pixels
    short = write_jp2(tmp_path / "short.jp2", stripes(1000), 512)
    tall = write_jp2(tmp_path / "tall.jp2", stripes(10000), 512)
    small, big = peak_kb(short, "jp2"), peak_kb(tall, "jp2")
    assert big - small < 25_000, "peak memory grew by %d KB" % (big - small)


# ------------------------------------------------------ whole-slide images

def slide_ok():
    from ZoomifyImage.pyramid.sources import slide_available
    return slide_available() and tiff_available()


needs_slide = pytest.mark.skipif(not slide_ok(), reason="openslide-python "
                                 "or tifffile not installed (the 'slide' "
                                 "and 'tiff' extras)")

APERIO = ("Aperio Image Library v10.0.51\n%dx%d [0,0 %dx%d] (256x256) "
          "JPEG/RGB Q=95|AppMag = 20|MPP = 0.5")


def write_svs(path, pixels):
    """An Aperio slide as OpenSlide knows one: a tiled JPEG TIFF whose
    description says Aperio (level 0 only)."""
    h, w = pixels.shape[:2]
    return write_tiff(path, pixels, tile=(256, 256), compression="jpeg",
                      compressionargs={"level": 95}, metadata=None,
                      description=APERIO % (w, h, w, h))


@needs_slide
def test_slide_layout_and_pixels(tmp_path):
    pixels = smooth(1025, 700)
    svs = write_svs(tmp_path / "in.svs", pixels)
    assert check_tiers(svs, pixels, "auto") == "slide"
    generic = write_tiff(tmp_path / "generic.tif", pixels,
                         **TIFFS["jpeg-tiles"])
    assert check_tiers(generic, pixels, "slide") == "slide"


@needs_slide
def test_slide_damaged_fails_in_one_line(tmp_path):
    path = write_svs(tmp_path / "good.svs", smooth(600, 400))
    with open(path, "rb") as f:
        files = truncations("aperio.svs", f.read())
    for engine in ("slide", "auto"):
        folder = tmp_path / engine
        folder.mkdir()
        assert not damaged_runs(folder, engine, files)


@needs_slide
def test_slide_streams(tmp_path):
    options = dict(compression="jpeg", metadata=None)
    short = tall_tiff(tmp_path / "short.svs", 4000, 1000,
                      description=APERIO % (4000, 1000, 4000, 1000),
                      **options)
    tall = tall_tiff(tmp_path / "tall.svs", 4000, 10000,
                     description=APERIO % (4000, 10000, 4000, 10000),
                     **options)
    small, big = peak_kb(short, "slide"), peak_kb(tall, "slide")
    assert big - small < 25_000, "peak memory grew by %d KB" % (big - small)


# ------------------------------------------------------------- PSD, PSB

def photoshop(pixels, version=1, declared=None):
    """A flat RGB Photoshop document (PSD, or PSB with version 2) with its
    merged image uncompressed, as Photoshop writes one; ``declared`` puts
    another (width, height) in the header."""
    import struct
    w, h = declared or pixels.shape[1::-1]
    wide = "Q" if version == 2 else "I"
    head = (b"8BPS" + struct.pack(">H6xHIIHH", version, 3, h, w, 8, 3)
            + struct.pack(">I", 0)             # colour mode data
            + struct.pack(">I", 0)             # image resources
            + struct.pack(">" + wide, 0)       # layers and masks
            + struct.pack(">H", 0))            # raw image data
    return head + np.ascontiguousarray(pixels.transpose(2, 0, 1)).tobytes()


def test_psd_is_read_by_pillow(tmp_path):
    pixels = smooth(700, 500)
    path = str(tmp_path / "in.psd")
    with open(path, "wb") as f:
        f.write(photoshop(pixels))
    assert check_tiers(path, pixels, "auto") == "pillow"


def test_big_psd_and_psb_are_refused_in_one_line(tmp_path):
    from tests.test_errors import run_cli
    psd = tmp_path / "big.psd"
    # 200 megapixels declared: Pillow would decode them whole
    psd.write_bytes(photoshop(smooth(70, 50), declared=(20000, 10000)))
    psb = tmp_path / "in.psb"
    psb.write_bytes(photoshop(smooth(700, 500), version=2))
    for path, options, words in [
            (psd, ["--max-megapixels", "1000"], "TIFF or BigTIFF"),
            (psb, [], "Photoshop large document (PSB)")]:
        for engine in ("auto", "pillow"):
            out = tmp_path / ("out-" + engine)
            result = run_cli("--engine", engine, *options, str(path),
                             str(out))
            lines = result.stderr.splitlines()
            assert result.returncode == 1 and len(lines) == 1, lines
            assert words in lines[0], lines[0]
            assert not out.exists()


def test_psd_damaged_fails_in_one_line(tmp_path):
    files = truncations("flat.psd", photoshop(smooth(600, 400)))
    assert not damaged_runs(tmp_path, "auto", files)


@needs_slide
def test_slide_pixels_without_data_get_the_background(tmp_path):
    # OpenSlide hands out premultiplied ARGB; where a slide has no data
    # (between scanned regions) alpha is 0
    from ZoomifyImage.pyramid.sources.slide import SlideSource
    path = write_svs(tmp_path / "in.svs", smooth(600, 400))
    source = SlideSource(path, (10, 200, 250))
    try:
        words = np.array([[0x00000000, 0x80402010, 0xFF0A141E]], np.uint32)
        source._read_argb = lambda *args: words
        out = np.zeros((1, 3, 3), np.uint8)
        source._read(0, 0, out)
    finally:
        source.close()
    half = [(v * 127 + 127) // 255 for v in (10, 200, 250)]
    assert out[0, 0].tolist() == [10, 200, 250]
    assert out[0, 1].tolist() == [0x40 + half[0], 0x20 + half[1],
                                  0x10 + half[2]]
    assert out[0, 2].tolist() == [0x0A, 0x14, 0x1E]


@needs_jp2
def test_openjpeg_warnings_reach_the_decode_of_their_own_thread():
    # OpenJPEG warns (and makes up pixels) on some damaged streams; with
    # regions decoded side by side, each warning must fail the decode of
    # the thread it came from: glymur's callback, replaced by ours, called
    # through ctypes as OpenJPEG calls it
    from glymur.lib import openjp2

    from ZoomifyImage.pyramid.sources import jp2
    assert jp2.own_warnings()
    callback = openjp2._WARNING_CALLBACK
    heard = {}
    both = threading.Barrier(2)

    def decode(name):
        jp2._said.lines = heard[name] = []
        both.wait()     # both threads inside a decode at once
        callback(("damaged " + name).encode(), None)
        both.wait()
        jp2._said.lines = None

    threads = [threading.Thread(target=decode, args=(n,)) for n in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert heard == {"a": ["damaged a"], "b": ["damaged b"]}
    # outside our decodes: the warnings module, as glymur's own callback
    with pytest.warns(UserWarning, match="OpenJPEG library warning:  other"):
        callback(b"other", None)


# ------------------------------------------------------------ HEIF, AVIF
# What phones shoot: HEIF (HEVC, or any codec) and AVIF (HEIF with AV1).
# libvips reads both through libheif; Pillow 11.3+ reads AVIF (decoded
# whole), and no HEIF.

def pillow_avif():
    from PIL import features
    return bool(features.check("avif"))


def vips_heif():
    if not vips_available():
        return False
    import pyvips
    return ".heic" in pyvips.get_suffixes()


needs_avif = pytest.mark.skipif(not pillow_avif(), reason="this Pillow "
                                "writes no AVIF (Pillow 11.3+ does)")


def avif_and_expected(pixels, **options):
    """An AVIF of ``pixels`` (RGB or RGBA) made by Pillow, and its pixels
    as Pillow decodes them (turned by their EXIF orientation), flattened
    over white."""
    import io

    from PIL import Image
    from PIL import ImageOps
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "AVIF", quality=90, **options)
    data = out.getvalue()
    decoded = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(
        data))).convert("RGBA"), np.float64)
    alpha = decoded[..., 3:] / 255
    expected = decoded[..., :3] * alpha + 255 * (1 - alpha)
    return data, np.round(expected).astype(np.uint8)


@needs_avif
@pytest.mark.parametrize("engine", ["auto", "vips", "pillow"])
@pytest.mark.parametrize("kind", ["avif", "avif-alpha", "avif-turned",
                                  "heif"])
def test_heif_and_avif_layout_and_pixels(tmp_path, kind, engine):
    from PIL import Image

    from tests.images import as_generic_heif
    if engine == "vips" and not vips_available():
        pytest.skip("pyvips not installed")
    pixels = smooth(600, 400)
    if kind == "avif-alpha":
        alpha = np.full((400, 600, 1), 255, np.uint8)
        alpha[:, :200] = 0          # the left third transparent: white
        alpha[:, 200:400] = 128
        pixels = np.concatenate([pixels, alpha], axis=2)
    options = {}
    if kind == "avif-turned":   # EXIF orientation 6: a quarter clockwise
        exif = Image.Exif()
        exif[0x0112] = 6
        options["exif"] = exif.tobytes()
    data, expected = avif_and_expected(pixels, **options)
    if kind == "avif-turned":
        assert expected.shape == (600, 400, 3)
    if kind == "heif":
        data = as_generic_heif(data)    # the same image as a plain HEIF
    path = tmp_path / ("in." + kind.split("-")[0])
    path.write_bytes(data)
    readers = {"avif": {"vips", "pillow"}, "heif": {"vips"}}[path.suffix[1:]]
    if not vips_heif():
        readers.discard("vips")
    if engine in readers or engine == "auto" and readers:
        used = check_tiers(str(path), expected, engine)
        assert used in readers
        # both decode whole: Pillow, where it reads the file, in less
        # memory (benchmarks/bench_heif.py)
        assert engine != "auto" or used == (
            "pillow" if "pillow" in readers else "vips")
    else:
        with pytest.raises(TilingError) as refused:
            tile_image(str(path), MemorySink(), engine=engine)
        assert refused.value.problem.startswith(
            "unsupported format (HEIF)"), refused.value.problem


@needs_avif
def test_avif_memory_budget_counts_the_whole_decode(tmp_path):
    # libheif and libavif decode an AVIF whole before its first row
    # (benchmarks/bench_heif.py): over max-tiling-memory it is refused
    # before anything is decoded, where a JPEG of its size streams
    data, _ = avif_and_expected(smooth(600, 400))
    path = tmp_path / "in.avif"
    path.write_bytes(data)
    budget = 600 * 400 * 8
    engines = ["pillow"] + (["vips"] if vips_heif() else [])
    for engine in engines:
        with pytest.raises(TilingError, match="in a format decoded whole: "
                           "tiling it would need .* more than "
                           "max-tiling-memory"):
            tile_image(str(path), MemorySink(), engine=engine,
                       max_tiling_memory=budget)
    if vips_available():
        from tests.images import save
        jpeg = save(smooth(600, 400), tmp_path / "in.jpg", quality=90)
        tile_image(jpeg, MemorySink(), engine="vips",
                   max_tiling_memory=budget)


@pytest.mark.parametrize("bits,lossless", [(12, False), (16, True)])
def test_jpeg_of_more_than_8_bits_is_named(tmp_path, bits, lossless):
    # 12-bit JPEG (medical, some cameras) and 16-bit lossless JPEG: the
    # libjpeg of libvips and of Pillow read 8-bit samples only; libvips
    # said the file was damaged, Pillow that it was no image
    imagecodecs = pytest.importorskip("imagecodecs")
    from tests.test_errors import run_cli
    samples = smooth(300, 200).astype(np.uint16) << (bits - 8)
    try:
        data = imagecodecs.jpeg8_encode(samples, bitspersample=bits,
                                        lossless=lossless)
    except Exception as e:   # an imagecodecs without libjpeg-turbo 3
        pytest.skip("imagecodecs cannot write it: %s" % e)
    path = tmp_path / "deep.jpg"
    path.write_bytes(data)
    words = ("unsupported JPEG (%d-bit samples: libvips and Pillow read "
             "8-bit JPEG only)" % bits)
    for engine in ["auto", "pillow"] + (["vips"] if vips_available()
                                        else []):
        result = run_cli("--engine", engine, str(path),
                         str(tmp_path / "out"))
        assert result.stderr.splitlines() == [
            "zoomify-tile: error: %s: %s" % (path, words)], engine


def test_heif_of_a_codec_no_engine_has_is_unsupported(tmp_path):
    # a HEIF whose image is coded as JPEG: libheif decodes it only where
    # it was built with its libjpeg plugin (not in the pyvips binary
    # wheel), and Pillow not at all; either it tiles right or the one
    # line says which format and codec, never "damaged"
    import io

    from PIL import Image

    from tests.images import heif
    from tests.test_errors import run_cli
    pixels = smooth(300, 200)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=95)
    expected = np.asarray(Image.open(out))
    path = tmp_path / "jpeg.heic"
    path.write_bytes(heif(b"jpeg", out.getvalue(), 300, 200))
    for engine in ["auto", "pillow"] + (["vips"] if vips_available()
                                        else []):
        target = tmp_path / ("out-" + engine)
        result = run_cli("--engine", engine, str(path), str(target))
        if result.returncode == 0 and engine != "pillow":
            assert check_tiers(str(path), expected, engine) == "vips"
            continue
        lines = result.stderr.splitlines()
        assert result.returncode == 1 and len(lines) == 1, result.stderr
        assert "unsupported format (HEIF)" in lines[0], lines[0]
        assert "damaged" not in lines[0] and "seek" not in lines[0]
        assert not target.exists()


@needs_avif
@pytest.mark.skipif(not vips_heif(), reason="no libvips with libheif")
def test_damaged_avif_says_what_libheif_found(tmp_path):
    # libheif asks whether the file reaches each offset it may read, and
    # libvips logs every "no" as "bad seek to N": the first line of its
    # error log, whatever then failed
    from ZoomifyImage.pyramid import DamagedImage
    data, _ = avif_and_expected(smooth(600, 400))
    path = tmp_path / "cut.avif"
    path.write_bytes(data[:len(data) // 2])
    for engine in ("vips", "auto"):
        with pytest.raises(DamagedImage) as damaged:
            tile_image(str(path), MemorySink(), engine=engine)
        assert "seek" not in damaged.value.detail
        assert "heif" in damaged.value.detail


# ------------------------------------------------------------ HEIC (HEVC)
# What phones shoot: HEIF whose image is HEVC-coded, often as a grid of
# tiles, with its orientation and a colour profile. The pyvips binary
# wheel's libheif has no HEVC decoder; pillow-heif (the `heif` extra)
# has, and the pillow engine reads it through its opener. The files are
# made by pillow-heif's own encoder (tests/heic_files.py), and the tiles
# must show its own decode.

def heif_extra():
    from tests.heic_files import pillow_heif_here
    return pillow_heif_here()


def heic_case(kind):
    """(HEIC bytes, their pixels as pillow-heif decodes them) of a kind
    of file phones make."""
    from PIL import Image

    from tests.heic_files import heic_and_expected
    from tests.heic_files import linear_rgb_profile
    pixels = smooth(600, 400)
    options = {}
    if kind == "heic-10bit":
        options["bits"] = 10
    elif kind == "heic-grid":       # as phones: a grid of HEVC tiles
        options["grid"] = 256
    elif kind == "heic-alpha":
        alpha = np.full((400, 600, 1), 255, np.uint8)
        alpha[:, :200] = 0          # the left third transparent: white
        alpha[:, 200:400] = 128
        pixels = np.concatenate([pixels, alpha], axis=2)
    elif kind == "heic-turned":     # EXIF orientation 6: a quarter turn
        exif = Image.Exif()
        exif[0x0112] = 6
        options["exif"] = exif.tobytes()
    elif kind == "heic-icc":        # colours in a space unlike sRGB
        options["icc_profile"] = linear_rgb_profile()
    data, expected = heic_and_expected(pixels, **options)
    if kind == "heic-turned":
        assert expected.shape == (600, 400, 3)
    if kind == "heic-icc":          # the profile changes what one sees
        assert np.abs(expected.astype(int) - pixels).mean() > 20
    return data, expected


@pytest.mark.parametrize("engine", ["auto", "pillow", "vips"])
@pytest.mark.parametrize("kind", ["heic", "heic-10bit", "heic-grid",
                                  "heic-alpha", "heic-turned", "heic-icc"])
def test_heic_layout_and_pixels(tmp_path, kind, engine):
    if engine == "vips" and not vips_available():
        pytest.skip("pyvips not installed")
    data, expected = heic_case(kind)
    path = tmp_path / "in.heic"
    path.write_bytes(data)
    if engine != "vips" and heif_extra():
        assert check_tiers(str(path), expected, engine) == "pillow"
        return
    try:   # a libvips whose libheif decodes HEVC (not the binary wheel)
        used = check_tiers(str(path), expected, engine)
    except TilingError as refused:
        problem = refused.problem
    else:
        assert used == "vips"
        return
    assert problem.startswith("unsupported format (HEIF)"), problem
    assert "damaged" not in problem
    if heif_extra():
        assert problem.endswith("the pillow engine reads it (pillow-heif)")
    else:
        assert "install the 'heif' extra (pip install " \
            "'ZoomifyImage[heif]')" in problem, problem


def test_heic_memory_budget_counts_the_whole_decode(tmp_path):
    # libheif decodes a HEIC whole before its first row: over
    # max-tiling-memory it is refused before anything is decoded
    # (the figures: tests/test_budgets.py, benchmarks/bench_heif.py)
    from tests.heic_files import heic
    path = tmp_path / "in.heic"
    path.write_bytes(heic(smooth(600, 400)))
    for engine in ("auto", "pillow"):
        with pytest.raises(TilingError) as refused:
            tile_image(str(path), MemorySink(), engine=engine,
                       max_tiling_memory=600 * 400 * 8)
        problem = refused.value.problem
        whole = re.search("in a format decoded whole: tiling it would "
                          "need .* more than max-tiling-memory", problem)
        if heif_extra():
            assert whole, problem
        elif engine == "pillow" or not vips_available():
            assert "install the 'heif' extra" in problem, problem
        else:   # libvips counts its decode before it finds no HEVC
            assert whole, problem


@pytest.mark.parametrize("cut", ["header", "half", "last-byte-gone"])
def test_truncated_heic_is_damaged(tmp_path, cut):
    # with the codec at hand a cut HEIC is damaged, and said so in one
    # line leaving nothing; without it, what to install (the file cannot
    # be checked), never "damaged"
    from tests.heic_files import heic
    from tests.test_errors import run_cli
    data = heic(smooth(600, 400))
    data = {"header": data[:100], "half": data[:len(data) // 2],
            "last-byte-gone": data[:-1]}[cut]
    path = tmp_path / ("cut-%s.heic" % cut)
    path.write_bytes(data)
    for engine in ["auto", "pillow"]:
        target = tmp_path / ("out-" + engine)
        result = run_cli("--engine", engine, str(path), str(target))
        lines = result.stderr.splitlines()
        assert result.returncode == 1 and len(lines) == 1, result.stderr
        if heif_extra():
            assert ": the image data is damaged: " in lines[0], lines[0]
        elif cut != "header" or not vips_available():
            assert "unsupported format (HEIF)" in lines[0], lines[0]
            assert "install the 'heif' extra" in lines[0], lines[0]
        else:   # no codec known: libvips' word on the file
            assert "damaged" not in lines[0] or "heif" in lines[0]
        assert not target.exists()
