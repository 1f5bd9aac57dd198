"""The tiles show the right pixels in the right places, for every engine
and every kind of input."""

import io

import numpy as np
import pytest
from PIL import Image

from tests.images import ENGINES
from tests.images import VIPS_LACKS
from tests.images import decode
from tests.images import engine_formats
from tests.images import psnr
from tests.images import save
from tests.images import smooth
from tests.images import tier_images
from ZoomifyImage.pyramid import Layout
from ZoomifyImage.pyramid import MemorySink
from ZoomifyImage.pyramid import tile_image


def tiles_of(path, **options):
    sink = MemorySink()
    tile_image(path, sink, **options)
    return sink.tiles


def assemble(tiles, layout, tier):
    """Paste the tiles of one tier back into a picture."""
    w, h = layout.tiers[tier]
    cols, rows = layout.grids[tier]
    first = decode(tiles[layout.tile_name(tier, 0, 0)])
    channels = 1 if first.ndim == 2 else first.shape[2]
    out = np.zeros((h, w, channels), dtype=np.uint8)
    for row in range(rows):
        for col in range(cols):
            tile = decode(tiles[layout.tile_name(tier, col, row)])
            tile = tile.reshape(tile.shape[0], tile.shape[1], channels)
            left, top, right, bottom = layout.tile_box(tier, col, row)
            assert tile.shape[:2] == (bottom - top, right - left)
            out[top:bottom, left:right] = tile
    return out


@pytest.mark.parametrize("w,h", [(1025, 1027), (513, 300), (2049, 1025),
                                 (700, 1500)])
@pytest.mark.parametrize("engine,fmt",
                         engine_formats(["png", "ppm", "tif", "bmp"]))
def test_every_tier_matches_box_reduction(tmp_path, engine, w, h, fmt):
    pixels = smooth(w, h)
    path = save(pixels, tmp_path / ("in." + fmt))
    tiles = tiles_of(path, engine=engine, quality=90)
    layout = Layout(w, h)
    for tier, expected in enumerate(tier_images(pixels)):
        got = assemble(tiles, layout, tier)
        assert got.shape[:2] == expected.shape[:2]
        assert psnr(got, expected) > 35, (tier, psnr(got, expected))


def test_no_transposition_or_shift_at_edges(tmp_path, engine):
    # a black image with one white 8x8 square in the bottom-right corner
    # of the tile at column 2, row 1: it must show there and nowhere else
    w, h = 700, 600
    pixels = np.zeros((h, w, 3), dtype=np.uint8)
    pixels[504:512, 760 - 256:768 - 256] = 255  # tile (1, 1), bottom right
    pixels[h - 4:, w - 4:] = 255                # the image's last corner
    path = save(pixels, tmp_path / "in.png")
    tiles = tiles_of(path, engine=engine, quality=95)
    layout = Layout(w, h)
    top = layout.num_tiers - 1
    got = assemble(tiles, layout, top)
    assert np.abs(got.astype(int) - pixels).max() < 60
    corner = decode(tiles[layout.tile_name(top, 2, 2)])
    assert corner.shape[:2] == (600 - 512, 700 - 512)
    assert corner[-2:, -2:].min() > 200 and corner[:-8, :-8].max() < 40


def test_engines_agree(tmp_path):
    if len(ENGINES) < 2:
        pytest.skip("pyvips is not installed: only one engine to compare")
    pixels = smooth(1300, 900)
    path = save(pixels, tmp_path / "in.png")
    vips = tiles_of(path, engine="vips", quality=90)
    pil = tiles_of(path, engine="pillow", quality=90)
    assert set(vips) == set(pil)
    assert vips["ImageProperties.xml"] == pil["ImageProperties.xml"]
    for name in vips:
        if name.endswith(".jpg"):
            assert psnr(decode(vips[name]), decode(pil[name])) > 38, name


def colour_of(tiles):
    tile = decode(tiles["TileGroup0/0-0-0.jpg"])
    return tile.reshape(-1, tile.shape[-1] if tile.ndim == 3 else 1).mean(0)


def close(a, b, tolerance=6):
    return np.all(np.abs(np.asarray(a, float) - np.asarray(b, float))
                  <= tolerance)


@pytest.mark.parametrize("mode,fmt,value,expected", [
    ("RGB", "png", (200, 30, 90), (200, 30, 90)),
    ("L", "png", 77, (77,)),
    ("L", "tif", 77, (77,)),
    ("LA", "png", (77, 255), (77,)),
    ("RGBA", "png", (200, 30, 90, 255), (200, 30, 90)),
    ("RGBA", "png", (200, 30, 90, 0), (255, 255, 255)),        # background
    ("RGBA", "tif", (0, 0, 0, 128), (127, 127, 127)),          # half blend
    ("CMYK", "tif", (0, 0, 0, 0), (255, 255, 255)),
    ("CMYK", "jpg", (0, 255, 255, 0), (237, 28, 36)),
    ("1", "png", 1, (255,)),
    ("1", "bmp", 0, (0,)),
])
def test_colour_modes(tmp_path, engine, mode, fmt, value, expected):
    if engine == "vips" and fmt in VIPS_LACKS:
        engine = "auto"  # libvips cannot read it; auto hands it to Pillow
    image = Image.new(mode, (300, 200), value)
    path = save(image, tmp_path / ("in." + fmt))
    got = colour_of(tiles_of(path, engine=engine))
    tolerance = 40 if mode == "CMYK" and fmt == "jpg" else 6
    assert len(got) == len(expected)
    assert close(got, expected, tolerance), (got, expected)


def test_palette_with_transparency(tmp_path, engine):
    image = Image.new("P", (300, 200), 1)
    image.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    image.info["transparency"] = 1
    path = save(image, tmp_path / "in.png", transparency=1)
    got = colour_of(tiles_of(path, engine=engine, background="#102030"))
    assert close(got, (16, 32, 48)), got
    image.info.pop("transparency")
    path = save(image, tmp_path / "opaque.png")
    assert close(colour_of(tiles_of(path, engine=engine)), (10, 200, 30))


def test_palette_bmp_streams(tmp_path):
    engine = "pillow"
    image = Image.new("P", (300, 200), 2)
    image.putpalette([0, 0, 0, 9, 9, 9, 250, 100, 5] + [0] * 759)
    path = save(image, tmp_path / "in.bmp")
    assert close(colour_of(tiles_of(path, engine=engine)), (250, 100, 5))


def test_sixteen_bit(tmp_path, engine):
    grey = np.full((200, 300), 40000, dtype=np.uint16)
    path = save(Image.fromarray(grey), tmp_path / "grey16.png")
    assert close(colour_of(tiles_of(path, engine=engine)), (40000 // 257,),
                 3)
    path = save(Image.fromarray(grey), tmp_path / "grey16.tif")
    assert close(colour_of(tiles_of(path, engine=engine)), (40000 // 257,),
                 3)


def test_exif_orientation_is_applied(tmp_path, engine):
    # stored 300 wide and 200 high, left half red; orientation 6 means
    # "rotate 90 degrees clockwise to view": 200 wide, 300 high, top red
    pixels = np.zeros((200, 300, 3), dtype=np.uint8)
    pixels[:, :150] = (255, 0, 0)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6
    path = save(image, tmp_path / "rotated.jpg", exif=exif.tobytes(),
                quality=95)
    tiles = tiles_of(path, engine=engine)
    assert b'WIDTH="200" HEIGHT="300"' in tiles["ImageProperties.xml"]
    tile = decode(tiles["TileGroup0/1-0-0.jpg"])
    assert tile.shape[:2] == (256, 200)
    assert close(tile[10, 100], (255, 0, 0), 30)
    assert close(tile[250, 100], (0, 0, 0), 30)


def test_icc_profile_is_converted_to_srgb(tmp_path, engine):
    from PIL import ImageCms
    # a LAB-ish test: a pure sRGB value tagged with a foreign profile
    # (the XYZ-based "LAB" profile is not available as RGB; use a
    # profile whose primaries differ: sRGB with gamma 1.0 via createProfile
    # is not offered by littlecms, so compare against ImageCms itself)
    profile = ImageCms.createProfile("sRGB")
    srgb_bytes = ImageCms.ImageCmsProfile(profile).tobytes()
    image = Image.new("RGB", (300, 200), (180, 60, 20))
    path = save(image, tmp_path / "tagged.png", icc_profile=srgb_bytes)
    # sRGB -> sRGB must leave the colour alone
    assert close(colour_of(tiles_of(path, engine=engine)), (180, 60, 20))


def test_quality_changes_size(tmp_path, engine):
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)
    path = save(pixels, tmp_path / "noise.png")
    low = tiles_of(path, engine=engine, quality=20)["TileGroup0/0-0-0.jpg"]
    high = tiles_of(path, engine=engine, quality=95)["TileGroup0/0-0-0.jpg"]
    assert len(high) > 2 * len(low)


def test_tile_size_option(tmp_path, engine):
    path = save(smooth(600, 300), tmp_path / "in.png")
    tiles = tiles_of(path, engine=engine, tile_size=128)
    assert b'TILESIZE="128"' in tiles["ImageProperties.xml"]
    assert set(tiles) - {"ImageProperties.xml"} == set(
        Layout(600, 300, 128).tile_names())
    assert Image.open(io.BytesIO(tiles["TileGroup0/2-0-0.jpg"])).size == (
        128, 128)


@pytest.mark.parametrize("tile_size", [18, 100, 200, 254])
@pytest.mark.parametrize("engine,fmt", engine_formats(["png", "jpg"]))
def test_tile_sizes_across_the_decoders_strips(tmp_path, engine, fmt,
                                                tile_size):
    """Any even tile size: rows of tiles need not line up with the strips
    a decoder reads in (libvips reads a PNG 16 rows and a JPEG 8 or 16
    rows at a time, and cannot go back)."""
    pixels = smooth(700, 530)
    path = save(pixels, tmp_path / ("in." + fmt), quality=95)
    source = np.asarray(Image.open(path).convert("RGB"))
    tiles = tiles_of(path, engine=engine, quality=90, tile_size=tile_size)
    layout = Layout(700, 530, tile_size)
    assert set(tiles) - {"ImageProperties.xml"} == set(layout.tile_names())
    for tier, expected in enumerate(tier_images(source, tile_size)):
        got = assemble(tiles, layout, tier)
        # the rounding of seven halvings shows in a 10x8 tier (31.9 dB)
        limit = 35 if min(got.shape[:2]) >= 32 else 30
        assert psnr(got, expected) > limit, (tier, psnr(got, expected))


def test_progress_is_reported(tmp_path, engine):
    path = save(smooth(1000, 700), tmp_path / "in.png")
    calls = []
    tiles_of(path, engine=engine, progress=lambda d, t: calls.append((d, t)))
    total = Layout(1000, 700).num_tiles
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == list(range(1, total + 1))


def test_auto_engine_picks_the_streaming_reader_for_tiff(tmp_path):
    from ZoomifyImage.pyramid import vips_available
    from ZoomifyImage.pyramid.sources import tiff_available
    pixels = smooth(600, 400)
    plain = save(pixels, tmp_path / "plain.tif")
    packed = save(pixels, tmp_path / "packed.tif", compression="tiff_lzw")
    sink = MemorySink()
    assert tile_image(plain, sink, engine="auto").engine == "pillow"
    # a compressed TIFF: the tiff engine where it is installed
    expected = ("tiff" if tiff_available() else
                "vips" if vips_available() else "pillow")
    assert tile_image(packed, MemorySink(), engine="auto").engine == expected


@pytest.mark.parametrize("quality,limit", [(92, 35), (100, 40)])
def test_high_quality_keeps_full_colour_resolution(tmp_path, engine,
                                                   quality, limit):
    # a hue ramp one pixel a step: 4:2:0 chroma subsampling would halve
    # its colour resolution (28.5 dB at Q92); at Q90 and above the tiles
    # keep every chroma sample, as libvips' own JPEG writer does
    x = np.arange(255)
    row = np.stack([x, 255 - x, (x * 7) % 256], axis=-1)
    pixels = np.repeat(row[None], 3, axis=0).astype(np.uint8)
    path = save(pixels, tmp_path / "ramp.png")
    tiles = tiles_of(path, engine=engine, quality=quality)
    got = decode(tiles["TileGroup0/0-0-0.jpg"])
    assert psnr(got, pixels) >= limit, psnr(got, pixels)


def test_lower_quality_keeps_chroma_subsampling(tmp_path):
    # below Q90 the tiles stay 4:2:0, smaller
    path = save(smooth(300, 200), tmp_path / "a.png")
    tile = tiles_of(path, engine="pillow", quality=80)["TileGroup0/0-0-0.jpg"]
    from PIL import JpegImagePlugin
    image = Image.open(io.BytesIO(tile))
    assert JpegImagePlugin.get_sampling(image) == 2
