"""The fixtures of the tests, one of each. The plain helpers of the Zope
tests are in tests/zope_fixtures.py, HTTP to a Zope process of its own in
tests/http_upload.py, test images in tests/images.py."""

import pytest

from tests import processes
from tests.images import ENGINES
from tests.images import save
from tests.images import smooth
from tests.zope_fixtures import CHROMIUM
from tests.zope_fixtures import CHROMIUM_ARGS
from tests.zope_fixtures import add_folder
from tests.zope_fixtures import demo_storage
from tests.zope_fixtures import local_server
from tests.zope_fixtures import product_section

# the photo fixture's picture, unless the test module sets PHOTO
PHOTO = {"width": 700, "height": 500, "name": "photo.png"}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "file_storage: the test changes the shared FileStorage "
        "of the test Zope, not a DemoStorage of its own")


@pytest.fixture(scope="module", autouse=True)
def _remove_server_directories():
    """The temporary directories of the servers a test module started
    (their var/, logs, tile roots) go at its end, once they are stopped
    (tests/processes.py); they piled up in /tmp, gigabytes a day."""
    yield
    processes.remove_scratch()


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


@pytest.fixture
def unique_id(request):
    return "t%d" % (abs(hash(request.node.nodeid)) % 10 ** 8)


@pytest.fixture
def zodb(request):
    """The test's own DemoStorage over the database of the test Zope
    (zope_fixtures.demo_storage): what the test commits is gone after it.
    A test marked ``file_storage`` works on the shared FileStorage."""
    if request.node.get_closest_marker("file_storage"):
        yield None
    else:
        with demo_storage(request.node.name) as db:
            yield db


@pytest.fixture
def folder(zodb, unique_id):
    """A fresh folder in the site of the test Zope for one test, in the
    test's own DemoStorage: its name."""
    return add_folder("f" + unique_id)


@pytest.fixture
def folder_url(server, unique_id):
    """A fresh folder in the Zope process of the test module's ``server``
    fixture (a ZopeServer): its URL."""
    return server.add_folder("f" + unique_id)


@pytest.fixture(scope="module")
def local_url():
    """The test Zope of this process served on a loopback port, for a
    browser (one per test module that asks for it): its URL."""
    with local_server() as url:
        yield url


@pytest.fixture
def photo(request, tmp_path):
    """A smooth test picture in a file: the test module's PHOTO, a dict of
    width, height, file name and save options, or conftest's PHOTO."""
    spec = dict(getattr(request.module, "PHOTO", PHOTO))
    width, height = spec.pop("width"), spec.pop("height")
    return save(smooth(width, height), tmp_path / spec.pop("name"), **spec)


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, headless, driven by Playwright (one per test
    module that asks for it)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def zope_settings(monkeypatch):
    """zope_settings(**{"tile-url": ...}) changes <product-config
    zoomifyimage> of the test Zope until the end of the test."""
    section = product_section()

    def change(**settings):
        for name, value in settings.items():
            monkeypatch.setitem(section, name, value)
    return change


@pytest.fixture
def small_threshold(zodb, zope_settings, monkeypatch):
    """Images over 0.5 megapixels go to the background worker; at the end
    the workers run what is queued (in the test's database)."""
    from ZoomifyImage import jobs
    zope_settings(**{"background-megapixels": "0"})
    monkeypatch.setattr(jobs.worker, "PROGRESS_SECONDS", 0.0)
    # a whole number of megapixels is the setting: 0 disables it, so use
    # the smallest real limit through the size check itself
    import ZoomifyImage.content as content
    monkeypatch.setattr(content.ZoomifyImage, "_is_big",
                        lambda self: self._original_size_pixels() > 5e5)
    yield
    jobs.pool.resume()
    assert jobs.pool.wait(60)


@pytest.fixture(scope="session")
def seaweedfs():
    """One SeaweedFS (S3 on loopback) for the whole run: a SeaweedFS
    (tests/seaweedfs_fixture.py). Each test takes a prefix of its own
    (s3_settings)."""
    from tests import seaweedfs_fixture
    why = seaweedfs_fixture.missing()
    if why:
        pytest.fail(why)  # make install installs it: never a silent skip
    server = seaweedfs_fixture.SeaweedFS().start()
    yield server
    server.stop()


@pytest.fixture
def s3_settings(seaweedfs, zope_settings, unique_id):
    """The test Zope's S3 tile store on the session's SeaweedFS, under a
    key prefix of this test's own (the sweep of one test's database never
    judges another's sets): the prefix."""
    prefix = "run-%s/%s" % (seaweedfs.port, unique_id)
    zope_settings(**seaweedfs.settings(prefix=prefix))
    return prefix
