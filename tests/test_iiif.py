"""IIIF Image API 3.0 (level 2) and the Presentation 3 manifest, through
the real publisher (zope.testbrowser), and iiif-validator against a real
Zope server."""

import contextlib
import io
import math
import time

import numpy as np
import pytest
from PIL import Image

from tests.images import psnr
from tests.images import save
from tests.images import smooth
from tests.zope_fixtures import BASE
from tests.zope_fixtures import ZopeServer
from tests.zope_fixtures import add
from tests.zope_fixtures import add_folder
from tests.zope_fixtures import body
from tests.zope_fixtures import fetch
from tests.zope_fixtures import product_config
from tests.zope_fixtures import status
from tests.zope_fixtures import zope_root
from ZoomifyImage.iiif_pixels import compose
from ZoomifyImage.iiif_pixels import scale_factor
from ZoomifyImage.pyramid import Layout

LEVEL2 = "http://iiif.io/api/image/3/level2.json"
W, H = 1001, 700  # odd: floor-halved edge tiles a pixel short of the spec


def picture(b):
    image = Image.open(io.BytesIO(body(b)))
    image.load()
    return image


def info_of(url, **kw):
    import json
    return json.loads(body(fetch(url + "/iiif/info.json", **kw)))


@pytest.fixture(scope="module")
def source():
    return smooth(W, H, seed=3)


@pytest.fixture(scope="module")
def image(source):
    """One public image for the read-only tests of this module."""
    return add(add_folder("iiif-module"), source, "p")


# ---------------------------------------------------------------- info.json

def test_info_json_describes_the_pyramid(image):
    info = info_of(image)
    assert info["@context"] == "http://iiif.io/api/image/3/context.json"
    assert info["id"] == image + "/iiif"
    assert info["type"] == "ImageService3"
    assert info["protocol"] == "http://iiif.io/api/image"
    assert info["profile"] == "level2"
    assert (info["width"], info["height"]) == (W, H)
    # the stored tiers, floor-halved, smallest first
    assert info["sizes"] == [{"width": 250, "height": 175},
                             {"width": 500, "height": 350},
                             {"width": W, "height": H}]
    assert info["tiles"] == [{"width": 256, "height": 256,
                              "scaleFactors": [1, 2, 4]}]
    assert info["maxArea"] == 4096 * 4096
    assert info["extraFormats"] == ["webp"]
    assert set(info["extraQualities"]) == {"color", "gray", "bitonal"}
    assert {"mirroring", "sizeUpscaling"} <= set(info["extraFeatures"])


def test_info_json_http(image):
    url = image + "/iiif/info.json"
    plain = fetch(url)
    assert plain.headers["Content-Type"] == (
        'application/ld+json;profile="http://iiif.io/api/image/3/'
        'context.json"')
    assert fetch(url, headers=[("Accept", "application/ld+json")]).headers[
        "Content-Type"].startswith("application/ld+json")
    assert fetch(url, headers=[("Accept", "application/json")]).headers[
        "Content-Type"] == "application/json"
    assert plain.headers["Link"] == '<%s>;rel="profile"' % LEVEL2
    assert plain.headers["Access-Control-Allow-Origin"] == "*"
    assert "public" in plain.headers["Cache-Control"]
    etag = plain.headers["ETag"]
    again = fetch(url, headers=[("If-None-Match", etag)])
    assert status(again) == 304 and body(again) == b""
    # the base URI redirects to its info.json
    base = fetch(image + "/iiif", follow=False)
    assert status(base) in (301, 302, 303)
    assert base.headers["Location"] == url


def test_ids_follow_the_virtual_host(image):
    folder, id = image.split("/")[-2:]
    vhost = ("%s/VirtualHostBase/https/iiif.example.org:443/%s/"
             "VirtualHostRoot" % (BASE, folder))
    info = info_of(vhost + "/" + id)
    assert info["id"] == "https://iiif.example.org/%s/iiif" % id
    import json
    doc = json.loads(body(fetch(vhost + "/" + id + "/manifest.json")))
    service = doc["items"][0]["items"][0]["items"][0]["body"]["service"][0]
    assert doc["id"] == "https://iiif.example.org/%s/manifest.json" % id
    assert service["id"] == "https://iiif.example.org/%s/iiif" % id
    # an image request's canonical link too (its base comes from the URL
    # the request was traversed by)
    answer = fetch(vhost + "/" + id + "/iiif/pct:0,0,50,50/max/0/"
                   "default.jpg")
    assert answer.headers["Link"].endswith(
        '<https://iiif.example.org/%s/iiif/0,0,501,350/max/0/default.jpg>'
        ';rel="canonical"' % id)


# ------------------------------------------------------------- stored tiles

def spec_tiles(width, height, tile, scale_factors):
    """Every tile request a client makes from info.json, computed as the
    spec's implementation notes do: (scale, col, row, region, size)."""
    for s in scale_factors:
        span = tile * s
        for row in range(math.ceil(height / span)):
            for col in range(math.ceil(width / span)):
                x, y = col * span, row * span
                w, h = min(span, width - x), min(span, height - y)
                yield s, col, row, (x, y, w, h), (math.ceil(w / s),
                                                  math.ceil(h / s))


def iiif_url(image, region, size, rest="0/default.jpg"):
    return "%s/iiif/%d,%d,%d,%d/%d,%d/%s" % ((image,) + region + size
                                               + (rest,))


@pytest.mark.parametrize("storage", ["zodb", "filesystem", "s3"])
def test_tile_requests_are_the_stored_tiles(folder, source, storage,
                                            request):
    if storage == "s3":
        request.getfixturevalue("s3_settings")
    url = add(folder, source, "p", storage=storage)
    layout = Layout(W, H)
    same = derived = 0
    for s, col, row, region, size in spec_tiles(W, H, 256, [1, 2, 4]):
        tier = layout.num_tiers - 1 - int(math.log2(s))
        left, top, right, bottom = layout.tile_box(tier, col, row)
        answer = fetch(iiif_url(url, region, size))
        assert status(answer) == 200
        assert picture(answer).size == size
        zoomify = body(fetch("%s/%s" % (url, layout.tile_name(tier, col,
                                                              row))))
        if (right - left, bottom - top) == size:
            # the stored JPEG itself, not decoded and encoded again
            assert body(answer) == zoomify, (s, col, row)
            same += 1
        else:
            # a pixel short (floor halving): derived from the tier above,
            # it still looks like the stored tile
            assert size[0] - (right - left) <= 1
            assert size[1] - (bottom - top) <= 1
            stored = Image.open(io.BytesIO(zoomify)).convert("RGB")
            ours = picture(answer).convert("RGB").crop((0, 0) + stored.size)
            assert psnr(np.asarray(ours), np.asarray(stored)) > 30
            derived += 1
    assert same == 14 and derived == 3


# ----------------------------------------------------------------- pixels

def reference(source, region, size):
    x, y, w, h = region
    return np.asarray(Image.fromarray(source).crop(
        (x, y, x + w, y + h)).resize(size, Image.LANCZOS), dtype=np.float64)


@pytest.mark.parametrize("path, region, size", [
    ("full/max", (0, 0, W, H), (W, H)),
    ("square/max", (150, 0, 700, 700), (700, 700)),
    ("100,50,300,200/max", (100, 50, 300, 200), (300, 200)),
    ("900,600,500,500/max", (900, 600, 101, 100), (101, 100)),
    ("pct:10,20,30,40/max", (100, 140, 300, 280), (300, 280)),
    ("full/300,", (0, 0, W, H), (300, 210)),
    ("full/,200", (0, 0, W, H), (286, 200)),
    ("full/pct:25", (0, 0, W, H), (250, 175)),
    ("full/200,300", (0, 0, W, H), (200, 300)),
    ("full/!300,300", (0, 0, W, H), (300, 210)),
    ("256,256,300,300/77,77", (256, 256, 300, 300), (77, 77)),
    ("10,10,100,80/^300,", (10, 10, 100, 80), (300, 240)),
    ("10,10,100,80/^pct:150", (10, 10, 100, 80), (150, 120)),
    ("10,10,100,80/^!300,300", (10, 10, 100, 80), (300, 240)),
    ("0,0,50,50/^400,100", (0, 0, 50, 50), (400, 100)),
])
def test_regions_and_sizes(image, source, path, region, size):
    answer = fetch("%s/iiif/%s/0/default.png" % (image, path))
    assert status(answer) == 200, body(answer)
    got = picture(answer)
    assert got.size == size and got.mode == "RGB"
    # from JPEG tiles at quality 80: close to Pillow's resize of the source
    assert psnr(np.asarray(got), reference(source, region, size)) > 32


def test_rotation_mirroring_and_qualities(image, source):
    url = image + "/iiif/100,50,300,200/150,100/%s"
    want = reference(source, (100, 50, 300, 200), (150, 100))
    cases = {
        "0/default.png": want,
        "90/color.png": np.rot90(want, -1),
        "180/default.png": np.rot90(want, 2),
        "270/default.png": np.rot90(want, 1),
        "!0/default.png": want[:, ::-1],
        "!90/default.png": np.rot90(want[:, ::-1], -1),
    }
    for rest, expected in cases.items():
        got = picture(fetch(url % rest))
        assert got.size == expected.shape[1::-1], rest
        assert psnr(np.asarray(got), expected) > 32, rest
    gray = picture(fetch(url % "0/gray.png"))
    assert gray.mode == "L"
    luma = np.asarray(Image.fromarray(want.round().astype(np.uint8)
                                      ).convert("L"))
    assert psnr(np.asarray(gray), luma) > 32
    bitonal = picture(fetch(url % "0/bitonal.png"))
    assert set(np.unique(np.asarray(bitonal.convert("L")))) <= {0, 255}
    assert bitonal.size == (150, 100)


def test_formats(image):
    url = image + "/iiif/full/200,/0/default."
    for fmt, pil, mime in [("jpg", "JPEG", "image/jpeg"),
                           ("png", "PNG", "image/png"),
                           ("webp", "WEBP", "image/webp")]:
        answer = fetch(url + fmt)
        assert answer.headers["Content-Type"] == mime
        assert picture(answer).format == pil
        assert picture(answer).size == (200, 140)


def test_image_http(image):
    url = image + "/iiif/pct:0,0,50,50/max/0/default.jpg"
    answer = fetch(url)
    assert answer.headers["Link"] == (
        '<%s>;rel="profile", <%s/iiif/0,0,501,350/max/0/default.jpg>;'
        'rel="canonical"' % (LEVEL2, image))
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    tile = fetch(image + "/TileGroup0/0-0-0.jpg")
    # the same caching rules as the tiles
    for header in ("ETag", "Cache-Control", "Last-Modified"):
        assert answer.headers[header] == tile.headers[header], header
    again = fetch(url, headers=[("If-None-Match", answer.headers["ETag"])])
    assert status(again) == 304 and body(again) == b""


def test_arbitrary_rotation_is_501_and_fast(image):
    """Level 2 rotates by multiples of 90 only: any other angle (whose
    bounding box would double the pixels) is refused before any work."""
    assert "rotationArbitrary" not in info_of(image)["extraFeatures"]
    for path in ("full/^4096,4096/45/default.png",
                 "100,50,300,200/150,100/30/default.png",
                 "full/max/!0.5/default.jpg",
                 "full/^16383,1024/5/default.webp",
                 "full/^65500,256/0.22/default.jpg"):
        start = time.monotonic()
        answer = fetch(image + "/iiif/" + path)
        assert status(answer) == 501, (path, body(answer))
        assert time.monotonic() - start < 2, path
    # 360 is 0
    assert picture(fetch(image + "/iiif/full/100,/360/default.png")).size == \
        (100, 70)


def test_composed_renders_are_limited_stored_tiles_are_not(image):
    from ZoomifyImage import iiif_pixels
    held = 0
    try:
        while iiif_pixels.RENDERS.acquire(blocking=False):
            held += 1
        assert held == 2   # two of waitress's four threads
        start = time.monotonic()
        answer = fetch(image + "/iiif/full/max/0/default.png")
        assert status(answer) == 503, body(answer)
        assert time.monotonic() - start < 2
        assert int(answer.headers["Retry-After"]) > 0
        assert answer.headers["Cache-Control"] == "no-store"
        # a stored tile needs no decoding: still served
        tile = fetch(iiif_url(image, (0, 0, 256, 256), (256, 256)))
        assert status(tile) == 200
        assert tile.headers["Content-Type"] == "image/jpeg"
        # nor does an answer as small as a few tiles
        small = fetch(image + "/iiif/full/300,/0/default.png")
        assert status(small) == 200
    finally:
        for _ in range(held):
            iiif_pixels.RENDERS.release()
    assert status(fetch(image + "/iiif/full/max/0/default.png")) == 200


# ----------------------------------------------------------------- errors

@pytest.mark.parametrize("path", [
    "nonsense/max/0/default.jpg",
    "full/nonsense/0/default.jpg",
    "full/max/nonsense/default.jpg",
    "full/max/0/nonsense.jpg",
    "full/max/0/default.nonsense",
    "full/max/0/default",
    "_x/max/0/default.jpg",
    "-1,0,10,10/max/0/default.jpg",
    "0,0,0,10/max/0/default.jpg",
    "2000,0,10,10/max/0/default.jpg",
    "pct:0,0,0,10/max/0/default.jpg",
    "full/0,/0/default.jpg",
    "full/1002,/0/default.jpg",
    "full/,701/0/default.jpg",
    "full/pct:101/0/default.jpg",
    "full/1000,1000/0/default.jpg",
    "full/!2000,2000/0/default.jpg",
    "full/full/0/default.jpg",
    "0,0,1000,1/10,/0/default.jpg",  # less than a pixel high
    "full/^5000,5000/0/default.jpg",
    "full/max/361/default.jpg",
    "full/max/-90/default.jpg",
    "full/max/0/grey.jpg",
    "full/max",
    "full/max/0",
    "99999999999/max/0/default.jpg",
    "0,0,3000,1/!10,10/0/default.jpg",  # 10x0: less than a pixel
    "0,0,1,3000/^!1,1/0/default.jpg",
    "pct:0,0,100,0.01/!10,10/0/default.jpg",
    "full/^16384,1024/0/default.webp",  # WebP's limit
    "full/^1024,16384/90/default.webp",
    "full/^65501,1/0/default.jpg",  # JPEG's
])
def test_bad_requests_are_400(image, path):
    answer = fetch(image + "/iiif/" + path)
    assert status(answer) == 400, body(answer)
    assert answer.headers["Content-Type"].startswith("text/plain")


def test_parse_answers_every_request_with_an_iiif_error():
    """Odd regions and sizes of odd images: an answer or an IIIFError
    (400, 501), never another exception (a 500)."""
    import itertools

    from ZoomifyImage.iiif_request import IIIFError
    from ZoomifyImage.iiif_request import parse
    regions = ["full", "square", "0,0,3000,1", "0,0,1,3000", "1000,699,5,5",
               "pct:0,0,0.0001,0.0001", "pct:99.99,99.99,50,50",
               "pct:0,0,100,0.01", "0,0,1,1"]
    sizes = ["max", "^max", "!10,10", "^!10,10", "!1,1", "^!1,1",
             "^!9999999999,9999999999", "^!65500,1", "!1,65500",
             "pct:0.0001", "^pct:9999999999", ",1", "1,", "^65500,",
             "^,65500", "^1,65500", "^pct:0.00000001"]
    rotations = ["0", "90", "!270", "360", "0.5"]
    lasts = ["default.jpg", "gray.webp", "bitonal.png"]
    for width, height in [(1001, 700), (1, 1), (3001, 7), (65500, 2),
                          (1, 100000)]:
        for segments in itertools.product(regions, sizes, rotations, lasts):
            try:
                request = parse(segments, width, height, 4096 * 4096)
            except IIIFError as e:
                assert e.status in (400, 501), segments
                continue
            w, h = request.size
            assert 1 <= w and 1 <= h and w * h <= 4096 * 4096, segments
            limit = 16383 if request.format == "webp" else 65500
            assert max(w, h) <= limit, segments


def test_unimplemented_formats_are_501_and_unknown_images_404(image):
    for fmt in ("tif", "gif", "jp2", "pdf"):
        answer = fetch(image + "/iiif/full/max/0/default." + fmt)
        assert status(answer) == 501, fmt
    folder = image.rsplit("/", 1)[0]
    for path in ("no-such-image/iiif/info.json",
                 "no-such-image/iiif/full/max/0/default.jpg",
                 "p/iiif/full/max/0/default.jpg/more",
                 "p/iiif/info.json/more",
                 "no-such-image/manifest.json"):
        assert status(fetch(folder + "/" + path)) == 404, path


def test_an_image_without_tiles_is_404(folder):
    from ZoomifyImage.content import ZoomifyImage
    with zope_root() as app:
        app[folder]._setObject("empty", ZoomifyImage("empty"))
    for path in ("iiif/info.json", "iiif/full/max/0/default.jpg",
                 "manifest.json", "about.json"):
        answer = fetch("%s/%s/empty/%s" % (BASE, folder, path))
        assert status(answer) == 404, path


# -------------------------------------------------------- bounded work

def test_max_area_bounds_every_answer(image):
    with product_config(**{"iiif-max-area": "100000"}):
        info = info_of(image)
        assert info["maxArea"] == 100000
        assert info["sizes"] == [{"width": 250, "height": 175}]
        # max is the largest within the limit; ^max too (upscaled)
        got = picture(fetch(image + "/iiif/full/max/0/default.jpg"))
        assert got.size == (378, 264)
        up = picture(fetch(image + "/iiif/0,0,100,100/^max/0/default.jpg"))
        assert up.size == (316, 316)
        # an explicit size above the limit is refused
        answer = fetch(image + "/iiif/full/400,/0/default.jpg")
        assert status(answer) == 400


def test_work_is_bounded_to_a_few_tiers():
    """A distorted request over a huge image reads a coarse tier, not
    gigapixels; a plain one reads the nearest tier at or above its
    scale."""
    layout = Layout(100000, 80000)
    budget = 4 * 4096 * 4096
    k = scale_factor(layout, (0, 0, 100000, 80000), (4000, 3200), budget)
    assert k == 4  # 1/25 asked: the tier of 1/16
    thin = scale_factor(layout, (0, 0, 100000, 80000), (60000, 10), budget)
    assert (100000 >> thin) * (80000 >> thin) <= budget
    # a thin image's zero-side tiers are never read
    thin_layout = Layout(3001, 7)
    k = scale_factor(thin_layout, (0, 0, 3001, 7), (2, 1), budget)
    assert min(thin_layout.tiers[thin_layout.num_tiers - 1 - k]) > 0


@contextlib.contextmanager
def reading_tiles(image):
    """(the image, its layout, a get_tile for compose() that notes each
    name it is asked, the list of those names)."""
    folder, id = image.split("/")[-2:]
    with zope_root(commit=False) as app:
        img = app[folder][id]
        store, read = img._store, []

        def get_tile(name):
            read.append(name)
            return store.get(name)
        yield img, img.tile_set().layout, get_tile, read


def test_a_region_reads_only_its_tiles(image):
    with reading_tiles(image) as (img, layout, get_tile, read):
        # at half size: the tier of 500x350, its pixels 150..350 x
        # 150..250, in its first row of tiles
        compose(layout, get_tile, (300, 300, 400, 200), (200, 100), 10 ** 8)
        assert sorted(read) == [layout.tile_name(1, 0, 0),
                                layout.tile_name(1, 1, 0)]
        read[:] = []
        # 1:1 over a tile corner: the four full-size tiles around it
        compose(layout, get_tile, (500, 500, 20, 20), (20, 20), 10 ** 8)
        assert sorted(read) == sorted(layout.tile_name(2, c, r)
                                      for c in (1, 2) for r in (1, 2))


def test_thin_images(folder):
    array = smooth(3001, 7)
    url = add(folder, array, "p")
    info = info_of(url)
    assert all(s["width"] and s["height"] for s in info["sizes"])
    factors = info["tiles"][0]["scaleFactors"]
    for s, col, row, region, size in spec_tiles(3001, 7, 256, factors):
        answer = fetch(iiif_url(url, region, size))
        assert status(answer) == 200, (s, col, row)
        assert picture(answer).size == size


# ---------------------------------------------------------------- security

def test_private_images_answer_401_and_leak_nothing(folder, source):
    url = add(folder, source, "p", title="Secret harbour")
    with zope_root() as app:
        app[folder]["p"].manage_permission("View", ["Manager"], acquire=0)
    paths = ["iiif", "iiif/info.json", "iiif/full/max/0/default.jpg",
             "iiif/0,0,256,256/256,256/0/default.jpg",
             "iiif/5000,0,10,10/max/0/default.jpg",  # outside the image
             "iiif/full/max/0/default.gif", "iiif/nonsense", "manifest.json",
             # longer than any IIIF path (issue 23, L9: was 404)
             "iiif/a/b/c/d/e", "iiif/a/b/c/d/e/f", "manifest.json/x",
             "manifest.json/x/y", "about.json", "about.json/x"]
    for path in paths:
        answer = fetch(url + "/" + path, follow=False)
        assert status(answer) == 401, path
        text = body(answer).decode("latin-1")
        assert "1001" not in text and "Secret" not in text, path
        assert "Access-Control-Allow-Origin" not in answer.headers, path
    # whatever the method
    import webtest

    from tests.zope_fixtures import wsgi_app
    app = webtest.TestApp(wsgi_app())
    for path in ("iiif/info.json", "iiif/full/max/0/default.jpg",
                 "manifest.json", "about.json"):
        for method in ("PATCH", "DELETE", "FOO"):
            answer = app.request(url[len(BASE):] + "/" + path,
                                 method=method, expect_errors=True)
            assert answer.status_int == 401, (path, method)
            assert "1001" not in answer.text, (path, method)
    # those who may view it: 404 for a path IIIF has not, as plain text
    for path in ("iiif/a/b/c/d/e", "manifest.json/x/y"):
        answer = fetch(url + "/" + path, login=True)
        assert status(answer) == 404, path
        assert answer.headers["Content-Type"].startswith("text/plain")
    # those who may view it get it, privately and without CORS
    for path in ("iiif/info.json", "iiif/full/max/0/default.jpg",
                 "manifest.json"):
        answer = fetch(url + "/" + path, login=True)
        assert status(answer) == 200, path
        assert "Access-Control-Allow-Origin" not in answer.headers, path
        control = answer.headers["Cache-Control"]
        assert "private" in control and "public" not in control


# ---------------------------------------------------------------- manifest

def test_manifest(folder, source):
    import json
    url = add(folder, source, "p", title="Harbour at dusk")
    answer = fetch(url + "/manifest.json")
    assert answer.headers["Content-Type"] == (
        'application/ld+json;profile="http://iiif.io/api/presentation/3/'
        'context.json"')
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    doc = json.loads(body(answer))
    assert doc["@context"] == "http://iiif.io/api/presentation/3/context.json"
    assert doc["type"] == "Manifest" and doc["id"] == url + "/manifest.json"
    assert doc["label"] == {"none": ["Harbour at dusk"]}
    (canvas,) = doc["items"]
    assert canvas["type"] == "Canvas"
    assert (canvas["width"], canvas["height"]) == (W, H)
    (page,) = canvas["items"]
    (annotation,) = page["items"]
    assert page["type"] == "AnnotationPage"
    assert annotation["motivation"] == "painting"
    assert annotation["target"] == canvas["id"]
    body_ = annotation["body"]
    assert body_["type"] == "Image" and body_["format"] == "image/jpeg"
    assert body_["service"] == [{"id": url + "/iiif",
                                 "type": "ImageService3",
                                 "profile": "level2"}]
    # every image the manifest names is there
    for picture_ in (body_, doc["thumbnail"][0]):
        got = picture(fetch(picture_["id"]))
        assert got.size == (picture_["width"], picture_["height"])
    assert "rights" not in doc and "requiredStatement" not in doc
    with product_config(**{
            "iiif-rights": "http://creativecommons.org/licenses/by/4.0/",
            "iiif-required-statement": "Harbour Museum"}):
        doc = json.loads(body(fetch(url + "/manifest.json")))
        info = info_of(url)
    assert doc["rights"] == info["rights"] == \
        "http://creativecommons.org/licenses/by/4.0/"
    assert doc["requiredStatement"]["value"] == {"none": ["Harbour Museum"]}


# ---------------------------------------------------------- iiif-validator

def validator_image(path):
    """The validator's own 1000x1000 test image: 10x10 squares of 100
    pixels in the colours of its table (colorInfo[column][row])."""
    from iiif_validator.validator import ValidationInfo
    colours = np.array(ValidationInfo().colorInfo, dtype=np.uint8)
    # colours[x][y] -> pixels[y][x]
    array = np.repeat(np.repeat(colours.transpose(1, 0, 2), 100, 0), 100, 1)
    return save(array, path)


@pytest.fixture(scope="module")
def server():
    s = ZopeServer().start()
    yield s
    s.stop()


def test_iiif_validator_level2(server, tmp_path):
    pytest.importorskip("magic", reason="iiif-validator needs libmagic")
    from iiif_validator.validator import ImageAPI
    from iiif_validator.validator import TestSuite
    from iiif_validator.validator import ValidationInfo
    server.add(validator_image(str(tmp_path / "validator.png")), "val")
    server.wait_for("val", ["ready"])
    host = server.url.split("://", 1)[1]
    tests = TestSuite(ValidationInfo()).list_tests("3.0")
    ran, failures = [], []
    for name, facts in sorted(tests.items()):
        if facts["level"] > 2:
            continue
        result = ImageAPI("iiif", host, "val", "http", "", "3.0",
                          debug=False)
        try:
            TestSuite(ValidationInfo()).run_test(name, result)
            error = result.exception
        except Exception as e:  # the validator's own way of failing
            error = e
        ran.append(name)
        if error is not None:
            failures.append("%s: %s %s" % (name, error, result.urls))
    assert len(ran) >= 30
    assert failures == []


def test_head_and_cors_preflight(server, tmp_path):
    import urllib.request
    server.add(save(smooth(300, 200), str(tmp_path / "small.png")), "small")
    server.wait_for("small", ["ready"])
    url = server.url + "/small/iiif/full/max/0/default.jpg"

    def call(method):
        request = urllib.request.Request(url, method=method, headers={
            "Origin": "http://viewer.example",
            "Access-Control-Request-Method": "GET"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers, answer.read()

    code, headers, data = call("GET")
    assert code == 200 and len(data) == int(headers["Content-Length"])
    code, head, nothing = call("HEAD")
    assert code == 200 and nothing == b""
    assert head["Content-Length"] == headers["Content-Length"]
    code, preflight, _ = call("OPTIONS")
    assert code == 204
    assert preflight["Access-Control-Allow-Origin"] == "*"
    assert "GET" in preflight["Access-Control-Allow-Methods"]


def test_other_methods_are_405(server, tmp_path):
    """PUT, PATCH, DELETE, POST or an invented method on any IIIF URL: 405
    with Allow, and nothing in the log (they were 500s from Zope's
    traversal)."""
    import urllib.request
    server.add(save(smooth(300, 200), str(tmp_path / "m.png")), "methods")
    server.wait_for("methods", ["ready"])
    log_before = len(server.log_text())
    for path in ("iiif", "iiif/info.json", "iiif/full/max/0/default.jpg",
                 "iiif/0,0,256,200/256,200/0/default.jpg", "manifest.json"):
        for method in ("PATCH", "PUT", "DELETE", "POST", "FOO", "PROPFIND"):
            request = urllib.request.Request(
                "%s/methods/%s" % (server.url, path), method=method,
                data=b"x" if method in ("PUT", "PATCH", "POST") else None)
            try:
                urllib.request.urlopen(request, timeout=30)
                code, headers = 200, {}
            except urllib.error.HTTPError as e:
                code, headers = e.code, e.headers
            assert code == 405, (path, method, code)
            assert headers["Allow"] == "GET, HEAD, OPTIONS", (path, method)
    assert "Traceback" not in server.log_text()[log_before:]


def test_decoded_tiles_are_kept_and_give_the_same_pixels(image):
    from ZoomifyImage import iiif_pixels
    with reading_tiles(image) as (img, layout, get_tile, read):
        key = ("test", img.uid, img.tiles_set())
        iiif_pixels.decoded_tiles.clear()
        region, size = (500, 500, 300, 200), (150, 100)
        plain = compose(layout, get_tile, region, size, 10 ** 8)
        first = compose(layout, get_tile, region, size, 10 ** 8, key)
        assert len(read) == 2 * 4
        read[:] = []
        again = compose(layout, get_tile, region, size, 10 ** 8, key)
        assert read == []   # all four tiles from the cache
        assert np.array_equal(np.asarray(plain), np.asarray(first))
        assert np.array_equal(np.asarray(plain), np.asarray(again))
        # another set's key shares nothing
        compose(layout, get_tile, region, size, 10 ** 8, ("other",))
        assert len(read) == 4
    iiif_pixels.decoded_tiles.clear()


def test_the_decoded_tile_cache_is_bounded():
    from ZoomifyImage.iiif_pixels import DecodedTiles
    # three 10x10 RGB tiles, as Pillow holds them (4 bytes a pixel)
    cache = DecodedTiles(3 * 10 * 10 * 4)
    tiles = [Image.new("RGB", (10, 10), (i, 0, 0)) for i in range(5)]
    for i in range(3):
        cache.put(i, tiles[i])
    assert cache.get(0) is tiles[0]   # now the most recent
    cache.put(3, tiles[3])            # drops 1, the least recent
    assert cache.get(1) is None
    assert [cache.get(i) is not None for i in (0, 2, 3)] == [True] * 3
    assert cache.size == 3 * 400
    cache.put(4, Image.new("RGB", (20, 20)))   # above the limit: not kept
    assert cache.get(4) is None and cache.size == 3 * 400


def test_an_image_request_is_one_traversal_step():
    from ZoomifyImage.iiif import _take_image_request

    class Request(dict):
        pass

    request = Request(URL="http://x/img/iiif")
    # the publisher's stack, last name first
    request.path = ["default.jpg", "0", "max", "full"]
    request._steps = ["img", "iiif"]
    assert _take_image_request(request) == ("full", "max", "0",
                                            "default.jpg")
    assert request.path == []
    assert request["URL"] == "http://x/img/iiif/full/max/0/default.jpg"
    assert request._steps[2:] == ["full", "max", "0", "default.jpg"]
    # anything but the rest of an image request is traversed as before
    for stack in ([], ["info.json"], ["0", "max", "full"],
                  ["x", "default.jpg", "0", "max", "full"],
                  ["index_html", "0", "max", "full"]):
        request.path = list(stack)
        assert _take_image_request(request) == ()
        assert request.path == stack


@pytest.mark.parametrize("path, code", [
    ("full/max/0/default.jpg", 200),
    ("full/max/0/default.jpg/more", 404),
    ("full/max/0", 400),
    ("full/max/0/default.jpg/index_html", 200),
])
def test_image_request_paths(image, path, code):
    assert status(fetch("%s/iiif/%s" % (image, path))) == code
