import random

import pytest

from tests.images import decode
from tests.images import save
from tests.images import smooth
from ZoomifyImage.pyramid import Layout
from ZoomifyImage.pyramid import MemorySink
from ZoomifyImage.pyramid import tile_image
from ZoomifyImage.pyramid.layout import parse_tile_name


def floor_tiers(w, h, t=256):
    """The floor rule of docs/zoomify-format.txt, spelled out
    independently."""
    sizes = [(w, h)]
    while sizes[-1][0] > t or sizes[-1][1] > t:
        sizes.append((sizes[-1][0] // 2, sizes[-1][1] // 2))
    return sizes[::-1]


def expected_tiles(w, h, t=256):
    """{name: (width, height)} for every tile, numbered as Zoomify does."""
    out = {}
    index = 0
    for tier, (tw, th) in enumerate(floor_tiers(w, h, t)):
        if tw == 0 or th == 0:
            continue
        cols, rows = -(-tw // t), -(-th // t)
        for row in range(rows):
            for col in range(cols):
                name = "TileGroup%d/%d-%d-%d.jpg" % (index // 256, tier, col,
                                                     row)
                out[name] = (min(t, tw - col * t), min(t, th - row * t))
                index += 1
    return out


SIZES = [(1, 1), (256, 256), (257, 1), (513, 513), (1025, 1027),
         (2049, 2055), (1000, 1), (1, 70000), (255, 257), (512, 512),
         (4097, 33)]
rng = random.Random(20261123)
SIZES += [(rng.randint(1, 2000), rng.randint(1, 2000)) for _ in range(5)]


@pytest.mark.parametrize("w,h", SIZES)
def test_layout_matches_floor_rule(w, h):
    layout = Layout(w, h)
    expected = expected_tiles(w, h)
    assert layout.tile_names() == list(expected)
    assert layout.num_tiles == len(expected)
    assert layout.tiers == floor_tiers(w, h)


def test_known_counts():
    # the figures quoted in docs/zoomify-format.txt
    assert Layout(513, 513).num_tiers == 2
    assert Layout(513, 513).num_tiles == 10
    assert Layout(30000, 20000).num_tiles == 12489


def test_image_properties_bytes():
    assert Layout(30000, 20000).properties_xml() == (
        b'<IMAGE_PROPERTIES WIDTH="30000" HEIGHT="20000" NUMTILES="12489" '
        b'NUMIMAGES="1" VERSION="1.8" TILESIZE="256" />\n')


def test_tile_groups_roll_over_at_256():
    layout = Layout(8000, 8000)
    names = layout.tile_names()
    assert names[255].startswith("TileGroup0/")
    assert names[256].startswith("TileGroup1/")


def test_parse_tile_name_is_strict():
    assert parse_tile_name("TileGroup0/1-2-3.jpg") == (0, 1, 2, 3)
    for bad in ["TileGroup0/1-2-3.png", "TileGroup00/1-2-3.jpg",
                "TileGroup0/01-2-3.jpg", "TileGroup0/1-2.jpg",
                "TileGroup-1/1-2-3.jpg", "../TileGroup0/1-2-3.jpg",
                "TileGroup0/1-2-3.jpg/x", "TileGroup0/+1-2-3.jpg",
                "TileGroup0/1-2-\u0663.jpg"]:
        assert parse_tile_name(bad) is None, bad


@pytest.mark.parametrize("w,h", SIZES)
def test_tiler_writes_exactly_the_layout(tmp_path, engine, w, h):
    path = save(smooth(w, h), tmp_path / "in.png")
    sink = MemorySink()
    tile_image(path, sink, engine=engine)
    expected = expected_tiles(w, h)
    props = sink.tiles.pop("ImageProperties.xml")
    assert set(sink.tiles) == set(expected)
    for name, data in sink.tiles.items():
        tile = decode(data)
        assert (tile.shape[1], tile.shape[0]) == expected[name], name
    assert props == (
        b'<IMAGE_PROPERTIES WIDTH="%d" HEIGHT="%d" NUMTILES="%d" '
        b'NUMIMAGES="1" VERSION="1.8" TILESIZE="256" />\n'
        % (w, h, len(expected)))
