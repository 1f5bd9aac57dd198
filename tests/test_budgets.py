"""Budgets no input can pass (issue 23): the tiler's memory, which grows
with the image's width (H3), and options checked before anything is
made (L6).

The wide images are 1-bit PNGs of one colour: a few hundred bytes of
file that declare hundreds of thousands of pixels of width.
"""

import glob
import io
import os
import subprocess
import sys

import pytest
from PIL import Image

from tests.images import save
from tests.images import smooth
from tests.images import snapshot
from tests.zope_fixtures import BASE
from tests.zope_fixtures import add
from tests.zope_fixtures import add_by_form
from tests.zope_fixtures import browser
from tests.zope_fixtures import fetch
from tests.zope_fixtures import job_status
from tests.zope_fixtures import status
from tests.zope_fixtures import zope_root
from ZoomifyImage.pyramid import DirectorySink
from ZoomifyImage.pyramid import TilingError
from ZoomifyImage.pyramid import tile_image

MB = 1 << 20


def plan_tiling(*args, **kw):
    from ZoomifyImage.pyramid.tiler import plan_tiling
    return plan_tiling(*args, **kw)


def wide_png(path, width, height):
    Image.new("1", (width, height), 1).save(path, optimize=True)
    return str(path)


@pytest.fixture
def existing_set(tmp_path):
    """A destination that already holds a good tile set."""
    out = tmp_path / "out" / "tiles"
    tile_image(save(smooth(300, 200), tmp_path / "previous.jpg"),
               DirectorySink(str(out)), engine="pillow")
    return str(out)


def leftovers(parent):
    return glob.glob(os.path.join(parent, ".*partial*"))


def run_cli(*args):
    """zoomify-tile in a process of its own: (returncode, stderr)."""
    result = subprocess.run([sys.executable, "-m", "ZoomifyImage.cli",
                             *args], capture_output=True, text=True,
                            timeout=120)
    return result.returncode, result.stderr


# run by a small Python of its own: a child forked straight from pytest
# would count pytest's memory in its peak
MEASURE = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(code, peak / 1024)
"""


def peak_rss_mb(*args):
    """Run zoomify-tile: (returncode, stderr, its peak RSS in MB)."""
    result = subprocess.run([sys.executable, "-c", MEASURE, sys.executable,
                             "-m", "ZoomifyImage.cli", *args],
                            capture_output=True, text=True, timeout=120)
    code, peak = result.stdout.split()
    return int(code), result.stderr, float(peak)


@pytest.mark.parametrize("engine", ["auto", "vips", "pillow"])
def test_a_wide_image_over_the_budget_is_refused(tmp_path, existing_set,
                                                 engine):
    # 97 megapixels: under the pillow engine's whole-decode limit
    path = wide_png(tmp_path / "wide.png", 380000, 256)
    assert os.path.getsize(path) < 20000
    before = snapshot(existing_set)
    with pytest.raises(TilingError) as info:
        tile_image(path, DirectorySink(existing_set), engine=engine,
                   max_tiling_memory=64 * MB)
    message = str(info.value)
    assert "380000 pixels wide" in message or (
        engine == "pillow" and "380000x256 in a format decoded whole"
        in message)
    assert "more than max-tiling-memory (64 MB)" in message
    assert snapshot(existing_set) == before
    assert leftovers(os.path.dirname(existing_set)) == []


def test_the_command_refuses_before_making_the_buffers(tmp_path,
                                                       existing_set):
    # about 450 MB of buffers (1 byte a pixel, 256 rows, every tier)
    path = wide_png(tmp_path / "wide.png", 400000, 256)
    before = snapshot(existing_set)
    code, stderr, peak = peak_rss_mb(path, existing_set,
                                     "--max-tiling-memory", "64MB")
    assert code == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("zoomify-tile: error: %s: the image is "
                               "400000 pixels wide" % path)
    assert "more than max-tiling-memory (64 MB)" in lines[0]
    # refused from the header: no buffer was made (an interpreter with
    # the libraries loaded is about 60 MB)
    assert peak < 150, peak
    assert snapshot(existing_set) == before
    assert leftovers(os.path.dirname(existing_set)) == []


@pytest.mark.parametrize("engine", ["vips", "pillow"])
def test_an_image_just_under_the_budget_is_tiled(tmp_path, engine):
    path = wide_png(tmp_path / "wide.png", 40000, 300)
    need = plan_tiling(path, engine=engine, max_tiling_memory=0)[2]
    with pytest.raises(TilingError, match="max-tiling-memory"):
        tile_image(path, DirectorySink(str(tmp_path / "refused")),
                   engine=engine, max_tiling_memory=need - 1)
    assert not (tmp_path / "refused").exists()
    result = tile_image(path, DirectorySink(str(tmp_path / "out")),
                        engine=engine, max_tiling_memory=need)
    assert (result.width, result.height) == (40000, 300)
    assert (tmp_path / "out" / "TileGroup0" / "0-0-0.jpg").exists()


# files that libvips decodes whole before it hands out the first row
# (found by the review of issue 23): a progressive JPEG (libjpeg keeps
# every DCT coefficient), an interlaced PNG, a GIF, a WebP. 6000x6000 of
# one grey: a few KB to 400 KB of file, 36 to 300 MB to decode
def _vips_whole(kind, path):
    pyvips = pytest.importorskip("pyvips")
    grey = pyvips.Image.black(6000, 6000).add(90).cast("uchar")
    if kind == "progressive.jpg":
        grey.bandjoin([grey, grey]).jpegsave(path, interlace=True, Q=5)
    elif kind == "interlaced.png":
        grey.bandjoin([grey, grey]).pngsave(path, interlace=True,
                                            compression=9)
    elif kind == "big.gif":
        Image.new("P", (6000, 6000), 0).save(path)
    else:
        Image.new("RGB", (6000, 6000), (5, 6, 7)).save(path, lossless=True)
    return str(path)


@pytest.mark.parametrize("kind", ["progressive.jpg", "interlaced.png",
                                  "big.gif", "lossless.webp"])
def test_a_file_decoded_whole_counts_its_decoding(tmp_path, kind):
    """The budget holds for any file, not only wide ones: what the decoder
    keeps of a file it decodes whole is counted before it starts. Refused
    under what it needs (nothing decoded: the peak stays an interpreter's),
    and tiled at what plan_tiling says, within it."""
    path = _vips_whole(kind, tmp_path / kind)
    need = plan_tiling(path, engine="vips", max_tiling_memory=0)[2]
    code, stderr, peak = peak_rss_mb(
        "--engine", "vips", "--max-tiling-memory", "%dMB" % (need // MB - 8),
        path, str(tmp_path / "refused"))
    assert code == 1 and "max-tiling-memory" in stderr, (kind, need, peak,
                                                         stderr)
    assert peak < 150, (kind, peak)
    code, stderr, peak = peak_rss_mb(
        "--engine", "vips", "--max-tiling-memory", "%dMB" % (need // MB + 1),
        path, str(tmp_path / "out"))
    assert code == 0, stderr
    # an interpreter with the libraries loaded is about 60 MB
    assert peak < need / MB + 90, (kind, need / MB, peak)


def test_a_heic_counts_its_whole_decode(tmp_path):
    """A HEIC (HEVC, what phones shoot) is decoded whole by pillow-heif's
    libheif before the first row: refused under what plan_tiling says it
    needs with nothing decoded, and tiled at it taking no more than that
    beyond the refused run's interpreter."""
    pytest.importorskip("pillow_heif")
    import numpy as np

    from tests.heic_files import heic
    path = tmp_path / "phone.heic"    # 12 megapixels, as a phone's
    path.write_bytes(heic(np.full((3000, 4000, 3), 90, np.uint8),
                          fast=True))
    for engine in ("auto", "pillow"):
        need = plan_tiling(str(path), engine=engine, max_tiling_memory=0)[2]
        code, stderr, idle = peak_rss_mb(
            "--engine", engine, "--max-tiling-memory",
            "%dMB" % (need // MB - 1), str(path), str(tmp_path / "refused"))
        assert code == 1 and "max-tiling-memory" in stderr, stderr
        assert idle < 150, idle
        code, stderr, peak = peak_rss_mb(
            "--engine", engine, "--max-tiling-memory",
            "%dMB" % (need // MB + 1), str(path), str(tmp_path / engine))
        assert code == 0, stderr
        assert peak - idle < need / MB, (engine, need / MB, peak, idle)


def test_ten_million_pixels_wide_is_refused_from_its_header(tmp_path):
    # 16 rows: 20 KB of file, 160 megapixels (under max-megapixels)
    path = wide_png(tmp_path / "thin.png", 10_000_000, 16)
    assert os.path.getsize(path) < 25000
    with pytest.raises(TilingError) as info:
        plan_tiling(path, max_tiling_memory=512 * MB)
    assert "10000000 pixels wide" in str(info.value)
    assert "more than max-tiling-memory (512 MB)" in str(info.value)


def test_bad_quality_leaves_nothing_behind(tmp_path):
    # L6: the check ran before the sink was aborted on failure
    good = save(smooth(300, 200), tmp_path / "small.jpg")
    code, stderr = run_cli("--quality", "1000", good, str(tmp_path / "q"))
    assert code == 1 and "quality must be 1 to 100" in stderr
    assert os.listdir(tmp_path) == ["small.jpg"]
    with pytest.raises(TilingError, match="not a colour"):
        tile_image(good, DirectorySink(str(tmp_path / "c")),
                   background="#zz0000")
    assert os.listdir(tmp_path) == ["small.jpg"]


# --------------------------------------------------------------- in Zope

def test_zope_refuses_a_wide_image_at_once(folder, tmp_path, zope_settings):
    zope_settings(**{"max-tiling-memory": "64MB"})
    path = wide_png(tmp_path / "wide.png", 400000, 256)
    b = add_by_form(folder, path, "wide")
    assert status(b) == 400
    assert "wide.png: the image is 400000 pixels wide" in b.contents
    assert "max-tiling-memory (64 MB)" in b.contents
    with zope_root(commit=False) as app:
        assert "wide" not in app[folder].objectIds()

    # an image's new file: refused, its tiles and original kept
    add(folder, save(smooth(300, 200), tmp_path / "p.jpg"), "p")
    base = "%s/%s/p" % (BASE, folder)
    tile = fetch(base + "/TileGroup0/0-0-0.jpg").contents
    b = browser()
    b.open(base + "/manage_main")
    with open(path, "rb") as f:
        b.getControl(name="file").add_file(f, "image/png", "wide.png")
        b.getControl("Save Changes").click()
    assert status(b) == 400 and "max-tiling-memory" in b.contents
    assert fetch(base + "/TileGroup0/0-0-0.jpg").contents == tile
    with zope_root(commit=False) as app:
        assert app[folder]["p"].width == 300


def test_a_wide_image_is_tiled_in_the_background(folder, tmp_path,
                                                 zope_settings):
    from ZoomifyImage import jobs
    # 26 megapixels (background-megapixels is 50) but more than a quarter
    # of the budget in buffers: not in a request thread
    zope_settings(**{"max-tiling-memory": "128MB"})
    path = wide_png(tmp_path / "wide.png", 100000, 256)
    assert plan_tiling(path, max_tiling_memory=0)[2] > 32 * MB
    jobs.pool.pause()
    try:
        add(folder, path, "wide")
        assert job_status(folder, "wide")["status"] == "queued"
    finally:
        jobs.pool.resume()
        assert jobs.pool.wait(120)
    assert job_status(folder, "wide")["status"] == "ready"


# ------------------------------------------------ M4: area and job quotas

def header_only_png(path, width, height):
    """A PNG that declares width x height 1-bit pixels and holds a few."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(bytes(1000)))
        + chunk(b"IEND", b""))
    return str(path)


def test_the_default_area_limit_is_1000_megapixels(tmp_path):
    from ZoomifyImage import config
    assert config.load({}).max_megapixels == 1000
    path = header_only_png(tmp_path / "bomb.png", 40000, 30000)
    with pytest.raises(TilingError, match=r"1200 megapixels, over the limit "
                       r"of 1000 megapixels .*raise max-megapixels"):
        plan_tiling(path)
    code, stderr = run_cli(path, str(tmp_path / "out"))
    assert code == 1 and "over the limit of 1000 megapixels" in stderr
    # the way out it names: raised, the area passes (and the file, which
    # holds no rows, is found damaged)
    code, stderr = run_cli(path, str(tmp_path / "out"),
                           "--max-megapixels", "1500")
    assert code == 1 and "megapixels" not in stderr and "damaged" in stderr
    assert not (tmp_path / "out").exists()


def test_a_new_instance_keeps_the_lower_area_limit(tmp_path):
    # make start writes zope.conf: it set max-megapixels 20000 itself
    import re

    from ZoomifyImage import config
    from ZoomifyImage.instance import write_instance
    conf = open(write_instance(str(tmp_path / "site"))[0]).read()
    block = re.search(r"<product-config zoomifyimage>(.*?)</product-config>",
                      conf, re.S).group(1)
    section = dict(line.split(None, 1) for line in block.splitlines()
                   if line.strip() and not line.strip().startswith("#"))
    section = {k.strip(): v.strip().replace("$INSTANCE", "/srv")
               for k, v in section.items()}
    assert config.load(section).max_megapixels == 1000


def test_a_user_may_queue_only_max_queued_jobs(small_threshold, folder,
                                               tmp_path, zope_settings):
    from AccessControl.SecurityManagement import newSecurityManager
    from zExceptions import BadRequest

    from ZoomifyImage import jobs
    from ZoomifyImage.content import manage_addZoomifyImage
    zope_settings(**{"max-queued-jobs": "2"})
    big = save(smooth(1000, 800), tmp_path / "big.png")  # goes to a job
    with zope_root() as app:
        app._addRole("Editor")
        app.manage_role("Editor", ["Add Zoomify Images", "View",
                                   "Change Images and Files",
                                   "Access contents information"])
        for name in ("ed1", "ed2"):
            app.acl_users._doAddUser(name, "secret", ["Editor"], [])

    def add_as(user, id):
        with zope_root() as app:
            users = app.acl_users
            newSecurityManager(None, users.getUser(user).__of__(users))
            with open(big, "rb") as f:
                manage_addZoomifyImage(app[folder], id=id, file=f)
    jobs.pool.pause()
    add_as("ed1", "a")
    add_as("ed1", "b")
    with pytest.raises(BadRequest) as info:
        add_as("ed1", "c")
    assert ("big.png: you have 2 images waiting to be tiled, as many as one "
            "user may (max-queued-jobs 2)") in str(info.value)
    with zope_root(commit=False) as app:
        assert "c" not in app[folder].objectIds()
    # a Retile of a waiting image replaces its job: not refused
    with zope_root() as app:
        users = app.acl_users
        newSecurityManager(None, users.getUser("ed1").__of__(users))
        app[folder]["a"].manage_retile()
    # another user's images still go to the queue; a Manager (who could
    # raise the setting) is not capped, nor is zoomify-import, run as one
    add_as("ed2", "d")
    for id in ("m1", "m2", "m3"):
        add(folder, big, id)
    for id in ("a", "b", "d", "m1", "m2", "m3"):
        assert job_status(folder, id)["status"] == "queued", id


# ---------------------------------------- M1: composed IIIF answers' budget

def test_a_composition_over_the_pixel_budget_is_refused_undecoded(
        folder, tmp_path, zope_settings):
    from ZoomifyImage import iiif_pixels
    # a thin image: its tiers below 5000x1 are empty, so a 1000x1 answer
    # of the whole can only be read from 5000 pixels, over 2 x maxArea
    add(folder, Image.new("L", (10000, 3), 128), "thin")
    zope_settings(**{"iiif-max-area": "1000"})
    iiif_pixels.decoded_tiles.clear()
    url = "%s/%s/thin/iiif/full/1000,1/0/default.jpg" % (BASE, folder)
    answer = fetch(url, login=True)
    assert status(answer) == 400
    assert ("this request would decode 5000 pixels, more than the 2000 one "
            "answer may") in answer.contents
    assert iiif_pixels.decoded_tiles.size == 0   # nothing was decoded
    # a smaller region fits: composed
    answer = fetch(url.replace("full", "0,0,3000,3"), login=True)
    assert status(answer) == 200


def test_one_composition_at_a_time_per_client(folder, monkeypatch):
    import base64
    import threading

    from webtest import TestApp

    from tests.zope_fixtures import ADMIN
    from tests.zope_fixtures import wsgi_app
    from ZoomifyImage import iiif_pixels
    add(folder, smooth(900, 700), "p")
    entered, go = threading.Event(), threading.Event()
    real = iiif_pixels.compose

    def held(*args, **kw):
        entered.set()
        assert go.wait(30)
        return real(*args, **kw)
    monkeypatch.setattr(iiif_pixels, "compose", held)
    auth = "Basic " + base64.b64encode(("%s:%s" % ADMIN).encode()).decode()

    def client(address):
        return TestApp(wsgi_app(), extra_environ={
            "REMOTE_ADDR": address, "HTTP_AUTHORIZATION": auth})
    path = "/%s/p/iiif/%%s/0/default.png" % folder
    first = {}
    # 900x700 and 800x622 pixels: more than a few tiles' worth
    thread = threading.Thread(target=lambda: first.setdefault(
        "answer", client("10.0.0.1").get(path % "full/max")))
    thread.start()
    try:
        assert entered.wait(30)
        # the same address again, while its first is composed: refused
        again = client("10.0.0.1").get(path % "full/800,", status="*")
        assert again.status_int == 429
        assert int(again.headers["Retry-After"]) > 0
        assert again.headers["Cache-Control"] == "no-store"
        # a stored tile is no composition: served
        tile = client("10.0.0.1").get("/%s/p/iiif/0,0,256,256/256,256/0/"
                                      "default.jpg" % folder)
        assert tile.status_int == 200
        # nor is an answer as small as a few tiles (a viewer asks many
        # such edge cells at once: OpenLayers' IIIF source)
        monkeypatch.setattr(iiif_pixels, "compose", real)
        small = client("10.0.0.1").get(path % "0,512,512,1/256,1")
        assert small.status_int == 200
        small = client("10.0.0.1").get(path % "full/200,")
        assert small.status_int == 200
    finally:
        monkeypatch.setattr(iiif_pixels, "compose", real)
        go.set()
    # another client is served meanwhile (its own render slot)
    other = client("10.0.0.2").get(path % "full/250,")
    assert other.status_int == 200
    thread.join(30)
    assert first["answer"].status_int == 200
    assert Image.open(io.BytesIO(first["answer"].body)).size[0] == 900
    assert iiif_pixels.client_renders.running == {}


def test_a_big_composed_answer_is_sent_whole_from_a_file(folder, tmp_path):
    import tempfile

    import numpy as np

    from ZoomifyImage import iiif_pixels
    noise = np.random.default_rng(5).integers(0, 256, (800, 900, 3),
                                              np.uint8)
    add(folder, noise, "noisy")
    url = "%s/%s/noisy/iiif/full/max/0/default.png" % (BASE, folder)
    answer = fetch(url, login=True)
    assert status(answer) == 200
    data = answer.contents if isinstance(answer.contents, bytes) else \
        answer.contents.encode("latin-1")
    # over SPOOL_BYTES: sent from a temporary file, every byte of it
    assert len(data) > iiif_pixels.SPOOL_BYTES
    assert int(answer.headers["Content-Length"]) == len(data)
    assert Image.open(io.BytesIO(data)).size == (900, 800)
    assert not glob.glob(os.path.join(tempfile.gettempdir(),
                                      "zoomify-iiif-*"))


def test_a_wide_png_through_the_uploader_is_refused_at_once(tmp_path):
    # the review's H3 reproduction: a few hundred bytes through tus, +530
    # MB in a request thread of Zope
    import base64

    import requests

    from tests.zope_fixtures import ADMIN
    from tests.zope_fixtures import ZopeServer
    zope = ZopeServer(settings={"max-tiling-memory": "64MB"}).start()
    try:
        folder = zope.add_folder("wide")
        data = open(wide_png(tmp_path / "wide.png", 400000, 256),
                    "rb").read()
        tus = {"Tus-Resumable": "1.0.0"}
        peak = zope.memory_kb("VmHWM")
        r = requests.post(folder + "/@@zoomify-upload", auth=ADMIN,
                          headers=dict(tus, **{
                              "Upload-Length": str(len(data)),
                              "Upload-Metadata": "filename " + base64.
                              b64encode(b"wide.png").decode()}))
        assert r.status_code == 201, r.text
        r = requests.patch(r.headers["Location"], data=data, auth=ADMIN,
                           headers=dict(tus, **{
                               "Upload-Offset": "0", "Content-Type":
                               "application/offset+octet-stream"}))
        assert r.status_code == 400
        assert "wide.png: the image is 400000 pixels wide" in r.text
        assert "max-tiling-memory (64 MB)" in r.text
        assert requests.get(folder + "/wide.png/status_json",
                            auth=ADMIN).status_code == 404
        # refused from the header: no row buffer was ever made
        assert zope.memory_kb("VmHWM") - peak < 50 * 1024
    finally:
        zope.stop()
