"""Bad input: a clear error naming the file and the problem, and the
destination exactly as it was, through the function and the command."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.images import ENGINES
from tests.images import big_jpeg
from tests.images import read_dir
from tests.images import save
from tests.images import smooth
from tests.images import snapshot
from ZoomifyImage.pyramid import DirectorySink
from ZoomifyImage.pyramid import Layout
from ZoomifyImage.pyramid import TilingError
from ZoomifyImage.pyramid import tile_image


def good_jpeg(tmp_path, name="good.jpg", size=(700, 500)):
    return save(smooth(*size), tmp_path / name, quality=90)


def truncated(tmp_path, fmt, keep=0.5):
    source = save(smooth(700, 500), tmp_path / ("whole." + fmt))
    data = open(source, "rb").read()
    path = tmp_path / ("truncated." + fmt)
    path.write_bytes(data[:int(len(data) * keep)])
    return str(path)


def truncated_bigtiff(tmp_path):
    # libvips read it as black rows: the check missed BigTIFF's magic
    source = save(smooth(700, 500), tmp_path / "whole-big.tif", big_tiff=True)
    data = open(source, "rb").read()
    path = tmp_path / "truncated-big.tif"
    path.write_bytes(data[:len(data) * 9 // 10])
    return str(path)


def corrupt_jpeg(tmp_path):
    data = bytearray(open(good_jpeg(tmp_path), "rb").read())
    # a Huffman table whose code counts overflow: fatal to every decoder
    dht = data.index(b"\xff\xc4")
    data[dht + 5:dht + 21] = b"\xff" * 16
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(bytes(data))
    return str(path)


def bomb(tmp_path):
    # 20000 x 20000 of one colour: a few hundred KB of PNG, 1.2 GB of pixels
    image = Image.new("L", (20000, 20000))
    return save(image, tmp_path / "bomb.png", optimize=False)


def zero_side(tmp_path):
    path = tmp_path / "zero.ppm"
    path.write_bytes(b"P6 0 10 255\n")
    return str(path)


def text_file(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not an image\n" * 50)
    return str(path)


def empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    return str(path)


def fifo(tmp_path):
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    return str(path)


BAD_INPUTS = {
    "text": (text_file, "not an image"),
    "empty": (empty_file, "empty"),
    "missing": (lambda p: str(p / "nowhere.jpg"), "no such file"),
    "directory": (lambda p: str(p), "not a regular file"),
    "fifo": (fifo, "not a regular file"),
    "truncated-jpeg": (lambda p: truncated(p, "jpg"), ""),
    "truncated-png": (lambda p: truncated(p, "png"), ""),
    "truncated-tiff": (lambda p: truncated(p, "tif"), ""),
    "truncated-ppm": (lambda p: truncated(p, "ppm"), "truncated"),
    "truncated-bigtiff": (truncated_bigtiff, "truncated"),
    "header-only-png": (lambda p: truncated(p, "png", 0.01), ""),
    "corrupt-jpeg": (corrupt_jpeg, ""),
    "zero-side": (zero_side, ""),
}


@pytest.fixture
def existing_set(tmp_path):
    """A destination that already holds a good tile set."""
    out = tmp_path / "out" / "tiles"
    tile_image(good_jpeg(tmp_path, "previous.jpg", (300, 300)),
               DirectorySink(str(out)), engine="pillow")
    return str(out)


def engines_for(kind):
    # the PPM reader is Pillow's (the libvips wheel has none)
    return ["pillow", "auto"] if kind == "truncated-ppm" else ENGINES


CASES = [(kind, engine) for kind in BAD_INPUTS for engine in engines_for(kind)]


@pytest.mark.parametrize("kind,engine", CASES)
def test_bad_input_through_function(tmp_path, existing_set, kind, engine):
    make, words = BAD_INPUTS[kind]
    bad = make(tmp_path)
    before = snapshot(existing_set)
    with pytest.raises(TilingError) as info:
        tile_image(bad, DirectorySink(existing_set), engine=engine)
    message = str(info.value)
    assert message.startswith(bad + ": ")
    assert words.lower() in message.lower()
    assert "Traceback" not in message
    assert snapshot(existing_set) == before
    # no temporary directory left beside it
    assert os.listdir(os.path.dirname(existing_set)) == ["tiles"]


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "ZoomifyImage.cli", *args],
        capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_input_through_command(tmp_path, existing_set, kind):
    make, words = BAD_INPUTS[kind]
    bad = make(tmp_path)
    before = snapshot(existing_set)
    result = run_cli(bad, existing_set)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("zoomify-tile: error: " + bad + ": ")
    assert words.lower() in lines[0].lower()
    assert snapshot(existing_set) == before


def test_decompression_bomb_is_refused(tmp_path, engine, existing_set):
    path = bomb(tmp_path)
    before = snapshot(existing_set)
    with pytest.raises(TilingError, match=r"\(?400 megapixels\)?,? .*over "
                       "the limit of 100 megapixels"):
        tile_image(path, DirectorySink(existing_set), engine=engine,
                   max_megapixels=100)
    assert snapshot(existing_set) == before
    result = run_cli(path, existing_set, "--max-megapixels", "100")
    assert result.returncode == 1
    assert "over the limit of 100 megapixels" in result.stderr
    assert snapshot(existing_set) == before


def test_pillow_refuses_big_whole_decode_and_names_the_fix(tmp_path):
    path = save(Image.new("RGB", (3000, 2000)), tmp_path / "big.png")
    with pytest.raises(TilingError, match=r"install the 'vips' extra"):
        tile_image(path, DirectorySink(str(tmp_path / "out")),
                   engine="pillow", whole_decode_megapixels=5)
    assert not (tmp_path / "out").exists()


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    out = str(blocker / "tiles")
    with pytest.raises(TilingError, match="cannot write the output"):
        tile_image(good_jpeg(tmp_path), DirectorySink(out))
    result = run_cli(good_jpeg(tmp_path), out)
    assert result.returncode == 1
    assert "cannot write the output directory" in result.stderr
    assert blocker.read_text() == "x"


def test_output_that_is_a_file(tmp_path):
    target = tmp_path / "taken"
    target.write_text("keep me")
    result = run_cli(good_jpeg(tmp_path), str(target))
    assert result.returncode == 1 and "not a directory" in result.stderr
    assert target.read_text() == "keep me"


def test_new_parent_folders_are_removed_after_failure(tmp_path):
    out = tmp_path / "a" / "b" / "tiles"
    with pytest.raises(TilingError):
        tile_image(text_file(tmp_path), DirectorySink(str(out)))
    assert not (tmp_path / "a").exists()


class FailingPut(DirectorySink):
    """Tiles come as bytes to put(), which fails midway."""

    def file_for(self, name):
        return None

    def put(self, name, data):
        if name.startswith("TileGroup0/2-"):
            raise TilingError(self.path, "disk full (simulated)")
        super().put(name, data)


class FailingFile(DirectorySink):
    """The encoder threads write the files; some cannot be written."""

    def file_for(self, name):
        path = super().file_for(name)
        if name.startswith("TileGroup0/2-"):
            return os.path.join(path, "no such folder", "tile.jpg")
        return path


@pytest.mark.parametrize("sink, message", [
    (FailingPut, "disk full"),
    (FailingFile, "cannot write the tile .No such file or directory")])
def test_failure_midway_leaves_previous_set(tmp_path, existing_set, engine,
                                            sink, message):
    # the sink fails after some tiles were written: nothing may change
    before = snapshot(existing_set)
    with pytest.raises(TilingError, match=message):
        tile_image(good_jpeg(tmp_path, size=(900, 900)),
                   sink(existing_set), engine=engine)
    assert snapshot(existing_set) == before
    assert os.listdir(os.path.dirname(existing_set)) == ["tiles"]


def test_bad_options(tmp_path):
    good = good_jpeg(tmp_path)
    with pytest.raises(TilingError, match="quality must be 1 to 100"):
        tile_image(good, DirectorySink(str(tmp_path / "o")), quality=101)
    with pytest.raises(TilingError, match="unknown engine"):
        tile_image(good, DirectorySink(str(tmp_path / "o")), engine="magic")
    # a pair of rows to shrink must never span two rows of tiles
    for size in (255, 8):
        with pytest.raises(TilingError, match="tile size must be an even "
                           "number of at least 16, not %d" % size):
            tile_image(good, DirectorySink(str(tmp_path / "o")),
                       tile_size=size)
    assert not (tmp_path / "o").exists()
    for size in ("129", "8"):
        result = run_cli(good, str(tmp_path / "o"), "--tile-size", size)
        assert result.returncode == 2 and "must be an even number of at " \
            "least 16" in result.stderr
    assert not (tmp_path / "o").exists()
    result = run_cli(good, str(tmp_path / "o"), "--background", "#zz0000")
    assert result.returncode == 2 and "not a colour" in result.stderr


def test_success_replaces_previous_set(tmp_path, existing_set, engine):
    tile_image(good_jpeg(tmp_path, size=(900, 900)),
               DirectorySink(existing_set), engine=engine)
    props = open(os.path.join(existing_set, "ImageProperties.xml")).read()
    assert 'WIDTH="900"' in props
    assert os.listdir(os.path.dirname(existing_set)) == ["tiles"]
    # and the old set's extra tiles are gone, not merged
    assert not any(n.startswith("9") for n in os.listdir(existing_set))


def test_random_garbage_never_hangs(tmp_path):
    rng = np.random.default_rng(7)
    good = open(good_jpeg(tmp_path), "rb").read()
    for i in range(8):
        data = bytearray(good)
        for pos in rng.integers(20, len(data), 30):
            data[pos] = rng.integers(0, 256)
        path = tmp_path / ("fuzz%d.jpg" % i)
        path.write_bytes(bytes(data))
        for engine in ENGINES:
            try:
                tile_image(str(path), DirectorySink(str(tmp_path / "f")),
                           engine=engine)
            except TilingError as e:
                assert str(e).startswith(str(path))


def flipped_jpeg(tmp_path, maker="pillow"):
    """A 2000x1500 JPEG with a byte flipped every kilobyte."""
    path = str(tmp_path / "good-big.jpg")
    if maker == "pillow":
        save(smooth(2000, 1500), path, quality=85)
    else:
        big_jpeg(path, 2000, 1500)
    data = bytearray(open(path, "rb").read())
    for i in range(1024, len(data), 1024):
        data[i] ^= 0xFF
    bad = tmp_path / "flipped.jpg"
    bad.write_bytes(bytes(data))
    return str(bad)


DAMAGED = {
    "flipped-jpeg": (flipped_jpeg, (2000, 1500)),
    # libjpeg only warns about this one, and Pillow hides its warnings:
    # the pillow engine cannot tell it from a sound JPEG
    "flipped-jpeg-warnings-only": (lambda p: flipped_jpeg(p, "vips"),
                                   (2000, 1500)),
    "truncated-jpeg": (lambda p: truncated(p, "jpg"), (700, 500)),
    "truncated-png": (lambda p: truncated(p, "png"), (700, 500)),
    "truncated-tiff": (lambda p: truncated(p, "tif", 0.9), (700, 500)),
}


@pytest.mark.parametrize("kind", sorted(DAMAGED))
def test_damaged_data_is_refused_unless_accepted(tmp_path, existing_set,
                                                 engine, kind):
    make, size = DAMAGED[kind]
    if kind == "flipped-jpeg-warnings-only" and engine == "pillow":
        pytest.skip("Pillow does not report libjpeg's warnings")
    bad = make(tmp_path)
    before = snapshot(existing_set)
    with pytest.raises(TilingError) as info:
        tile_image(bad, DirectorySink(existing_set), engine=engine)
    assert str(info.value).startswith(bad + ": ")
    assert "damaged" in str(info.value)
    assert snapshot(existing_set) == before
    assert os.listdir(os.path.dirname(existing_set)) == ["tiles"]
    # accepted: tiled all the same, and the result says what was wrong
    result = tile_image(bad, DirectorySink(existing_set), engine=engine,
                        accept_damaged=True)
    layout = Layout(*size)
    assert result.damaged and "damaged" not in result.damaged
    assert result.tiles == layout.num_tiles
    assert set(read_dir(existing_set)) == set(layout.tile_names()) | {
        "ImageProperties.xml"}
    assert os.listdir(os.path.dirname(existing_set)) == ["tiles"]


def test_damaged_data_through_command(tmp_path, existing_set, engine):
    bad = flipped_jpeg(tmp_path)
    before = snapshot(existing_set)
    result = run_cli("--engine", engine, bad, existing_set)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("zoomify-tile: error: %s: the image data is "
                               "damaged" % bad)
    assert lines[0].endswith("(--accept-damaged tiles it anyway)")
    assert snapshot(existing_set) == before
    result = run_cli("--engine", engine, "--accept-damaged", bad,
                     existing_set)
    assert result.returncode == 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("zoomify-tile: warning: %s: the image data "
                               "is damaged" % bad)
    assert "tiled anyway" in lines[0]
    assert "2000x1500" in result.stdout


def noisy_tiffs(tmp_path):
    """Broken TIFFs that make Pillow warn, and libtiff print from C."""
    from tests.test_broken_images import flip_every
    from tests.test_broken_images import pillow_bytes
    from tests.test_broken_images import tiff
    image = Image.fromarray(smooth(600, 400))
    files = {
        # the IFD is at the end: Pillow warns about the tags it misses
        "cut-ifd.tif": tiff()[:300000],
        # libtiff's LZW decoder prints "Using code not yet in table"
        "flipped-lzw.tif": flip_every(pillow_bytes(
            image, "TIFF", compression="tiff_lzw"), 1024),
        "flipped-deflate.tif": flip_every(pillow_bytes(
            image, "TIFF", compression="tiff_adobe_deflate"), 1024),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return [str(tmp_path / name) for name in files]


def test_broken_tiffs_say_one_line(tmp_path, existing_set, engine):
    before = snapshot(existing_set)
    said = ""
    for path in noisy_tiffs(tmp_path):
        result = run_cli("--engine", engine, path, existing_set)
        assert result.returncode == 1
        assert result.stderr.splitlines() == [result.stderr.rstrip("\n")]
        assert result.stderr.startswith("zoomify-tile: error: %s: " % path)
        # --verbose shows what the libraries said, before the error
        result = run_cli("--verbose", "--engine", engine, path,
                         existing_set)
        assert result.returncode == 1
        lines = result.stderr.splitlines()
        assert lines[-1].startswith("zoomify-tile: error: %s: " % path)
        said += "".join(lines[:-1])
    assert said
    assert snapshot(existing_set) == before


@pytest.mark.skipif("vips" not in ENGINES, reason="pyvips is not installed")
def test_vips_source_callbacks_never_raise(tmp_path):
    # an exception in a cffi callback is printed as a traceback on stderr
    # and libvips gets 0: answer errors the way libvips understands
    from ZoomifyImage.pyramid.sources import VipsSource
    path = save(smooth(300, 200), tmp_path / "a.tif")
    source = VipsSource(path, (255, 255, 255))
    try:
        assert source._seek(-256, 0) == -1
        assert source._seek(1 << 70, 0) == -1
        assert source._seek(10, 0) == 10
        assert source._read(4) == open(path, "rb").read()[10:14]
        source.file.close()
        assert source._read(4) is None
    finally:
        source.close()
