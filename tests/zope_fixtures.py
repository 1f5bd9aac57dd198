"""A real Zope for the tests: an instance in a temporary directory with a
FileStorage and blobs, the product loaded from its ZCML, published in this
process for zope.testbrowser, or run as a separate server process on a
loopback port.

The plain helpers of the Zope tests are here, one of each; the fixtures
that use them (folder, photo, demo storage, settings) are in conftest.py.
"""

import base64
import contextlib
import json
import mimetypes
import os
import subprocess
import sys
import tempfile
import time

from tests import processes
from tests.processes import free_port

ADMIN = ("admin", "secret")
BASE = "http://localhost"   # the publisher's URL for zope.testbrowser
_app = None
_home = None


def instance_home():
    global _home
    if _home is None:
        from ZoomifyImage.instance import write_instance
        # this process's Zope uses it till the process ends
        _home = processes.scratch_dir("zoomify-zope-", lambda: True)
        write_instance(_home, admin=ADMIN)
    return _home


def wsgi_app():
    """The Zope WSGI application (configured once per test process)."""
    global _app
    if _app is None:
        from Zope2.Startup.run import make_wsgi_app
        from ZPublisher.httpexceptions import HTTPExceptionHandler
        publish = make_wsgi_app({}, os.path.join(instance_home(), "etc",
                                                 "zope.conf"))
        # as in zope.ini's pipeline: HTTP exceptions become responses
        _app = HTTPExceptionHandler(publish)
    return _app


@contextlib.contextmanager
def zope_root(commit=True):
    """The application root in a fresh connection; commits at the end."""
    import transaction
    import Zope2
    from AccessControl.SecurityManagement import newSecurityManager
    from AccessControl.SecurityManagement import noSecurityManager
    from Testing.makerequest import makerequest
    wsgi_app()
    transaction.begin()
    app = makerequest(Zope2.app())
    user = app.acl_users.getUser(ADMIN[0]).__of__(app.acl_users)
    newSecurityManager(None, user)
    try:
        yield app
        if commit:
            transaction.commit()
        else:
            transaction.abort()
    except BaseException:
        transaction.abort()
        raise
    finally:
        noSecurityManager()
        app._p_jar.close()


@contextlib.contextmanager
def demo_storage(name="test"):
    """A DemoStorage stacked over the database of the test Zope, as Zope's
    own test layers do (plone.testing's stackDemoStorage): Zope2.app() (so
    zope_root), Zope2.DB, the publisher (so browser() and a waitress
    thread over wsgi_app()) and background jobs all use it; at the end it
    is dropped with every change made in it. Processes of their own
    (ZopeServer, ZEO, commands) never see it.

    Its changes are in memory, blobs in a temporary directory. It has no
    Undo: DemoStorage undoes only with a changes storage that can, and
    then not a transaction that was the first to change an object of the
    base (the next change of that object is a ConflictError)."""
    import transaction
    import ZODB
    import Zope2
    from ZODB.DemoStorage import DemoStorage

    from ZoomifyImage import jobs
    wsgi_app()
    base = Zope2.DB
    wrapper = Zope2.bobo_application  # the publisher keeps this object
    storage = DemoStorage(name=name, base=base.storage,
                          close_base_on_close=False)
    db = ZODB.DB(storage, database_name=base.database_name, databases={},
                 class_factory=base.classFactory)
    pool_db = jobs.pool.db
    transaction.abort()
    Zope2.DB = wrapper._db = db
    try:
        yield db
    finally:
        transaction.abort()
        # a job the test left running must not outlive its database
        if jobs.pool.go.is_set():
            jobs.pool.wait(120)
        Zope2.DB = wrapper._db = base
        if jobs.pool.db is db:
            jobs.pool.db = pool_db
        db.close()


@contextlib.contextmanager
def local_server():
    """This process's Zope served by waitress on a free loopback port (for
    a browser); its URL."""
    import threading

    from waitress import create_server
    httpd = create_server(wsgi_app(), host="127.0.0.1", port=0, threads=4,
                          clear_untrusted_proxy_headers=True)
    thread = threading.Thread(target=httpd.run, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%s" % httpd.effective_port
    finally:
        httpd.close()
        thread.join(10)


def undo(note):
    """Undo the last transaction whose description has ``note``; the undo
    is noted as "undo of NOTE"."""
    import transaction
    with zope_root() as app:
        db = app._p_jar.db()
        entry = [e for e in db.undoLog(0, 50)
                 if note in (e["description"] if isinstance(
                     e["description"], str) else e["description"].decode())]
        db.undo(entry[0]["id"])
        transaction.get().note("undo of " + note)


def make_dead(folder, attempts=1):
    """The job was claimed by a worker that died halfway: tiling, a
    temporary directory left behind, no heartbeat. Returns the key."""
    with zope_root() as app:
        image = app[folder]["big"]
        job = image._job
        job.status = "tiling"
        from ZoomifyImage.jobs import records
        # a thread of this process that has ended
        job.owner = "%s:gone" % records.process_id()
        job.heartbeat = 0
        job.temp_dir = os.path.join(tile_root(), ".partial",
                                    image.uid + "-dead")
        os.makedirs(os.path.join(job.temp_dir, "TileGroup0"))
        job.attempts = attempts
        return job.key


def add_folder(name):
    """A new folder ``name`` in the site (replacing one of that name)."""
    from OFS.Folder import manage_addFolder
    with zope_root() as app:
        if name in app.objectIds():
            app.manage_delObjects([name])
        manage_addFolder(app, name)
    return name


def add_by_form(folder, path, id="", storage="", title=""):
    """Add the file at ``path`` through the ZMI's add form (the plain form,
    through the publisher, as the manager); the testbrowser on the page
    it answered (its status: status(b))."""
    b = browser()
    b.open("%s/%s/manage_addProduct/ZoomifyImage/"
           "manage_addZoomifyImageForm" % (BASE, folder))
    form = b.getForm(action="manage_addZoomifyImage")
    form.getControl(name="id").value = id
    if title:
        form.getControl(name="title").value = title
    if storage:
        form.getControl(name="storage").value = [storage]
    with open(path, "rb") as f:
        form.getControl(name="file").add_file(
            f, mimetypes.guess_type(str(path))[0] or "image/jpeg",
            os.path.basename(path))
        form.submit()
    return b


def add(folder, image, id="img", storage="zodb", title="", **settings):
    """Add an image to ``folder`` as the add form does, in a transaction of
    its own; its URL for the testbrowser. ``image`` is a file's path, or
    an array of pixels that is saved as ID.png in a temporary directory.
    ``settings`` are more arguments of manage_addZoomifyImage
    (quality)."""
    from ZoomifyImage.content import manage_addZoomifyImage
    with tempfile.TemporaryDirectory() as scratch:
        if not isinstance(image, (str, os.PathLike)):
            from tests.images import save
            image = save(image, os.path.join(scratch, id + ".png"))
        with zope_root() as app:
            with open(image, "rb") as f:
                manage_addZoomifyImage(app[folder], id=id, file=f,
                                       title=title, storage=storage,
                                       **settings)
    return "%s/%s/%s" % (BASE, folder, id)


def put_jpeg(folder, id, array, tmp_path, **settings):
    """Add an array of pixels as a JPEG (quality 90) image: its path in the
    site, for a server's URL (the browser tests)."""
    from tests.images import save
    path = save(array, tmp_path / (id + ".jpg"), quality=90)
    return add(folder, path, id, **settings)[len(BASE):]


def browser(login=True):
    from zope.testbrowser.browser import Browser
    b = Browser(wsgi_app=wsgi_app())
    b.handleErrors = True
    b.raiseHttpErrors = False
    if login:
        token = base64.b64encode(("%s:%s" % ADMIN).encode()).decode()
        b.addHeader("Authorization", "Basic " + token)
    return b


def fetch(url, login=False, headers=(), follow=True):
    """A GET through the publisher, anonymous unless ``login``; the
    testbrowser after it (status(b), b.headers, b.contents)."""
    b = browser(login=login)
    b.followRedirects = follow
    for name, value in headers:
        b.addHeader(name, value)
    b.open(url)
    return b


def status(b):
    """The HTTP status of a testbrowser's last answer, as a number."""
    return int(b.headers["status"].split()[0])


def body(b):
    """The bytes of a testbrowser's last answer (b.contents decodes
    text)."""
    return b._response.body


def get(url, login=False, headers=()):
    """(status, headers, body bytes) of a GET through the publisher, as
    tests.http_upload.get over HTTP."""
    b = fetch(url, login=login, headers=headers)
    return status(b), b.headers, body(b)


def job_status(folder, id):
    """An image's status_json, as the viewer and the Edit tab poll it."""
    return json.loads(fetch("%s/%s/%s/status_json" % (BASE, folder, id))
                      .contents)


def product_section():
    """<product-config zoomifyimage> of the test Zope, a dict."""
    from App.config import getConfiguration
    wsgi_app()
    return getConfiguration().product_config.setdefault("zoomifyimage", {})


@contextlib.contextmanager
def product_config(**settings):
    """Other <product-config zoomifyimage> settings within the block."""
    section = product_section()
    old = dict(section)
    section.update(settings)
    try:
        yield
    finally:
        section.clear()
        section.update(old)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu",
                 "--disable-background-networking",
                 "--disable-component-update", "--no-first-run",
                 "--disable-sync", "--disable-quic"]


def chromium_missing():
    """Why the browser tests cannot run here, or None."""
    if not os.path.exists(CHROMIUM):
        return "Chromium is not installed (%s); make test installs it " \
               "with apt-get" % CHROMIUM
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


def tile_root():
    return os.path.join(instance_home(), "var", "zoomifyimage")


def import_command():
    """The zoomify-import console script beside this Python."""
    return os.path.join(os.path.dirname(sys.executable), "zoomify-import")


class ZopeServer:
    """`runwsgi` on an instance of its own, on 127.0.0.1."""

    def __init__(self, storage="zodb", zeo=None, settings=None,
                 relstorage=None, blob_cache_size=None):
        from ZoomifyImage.instance import write_instance
        self.home = processes.scratch_dir("zoomify-server-", self.running)
        self.port = free_port()
        more = {"blob_cache_size": blob_cache_size} if blob_cache_size \
            else {}
        self.conf, self.ini = write_instance(self.home, port=self.port,
                                             admin=ADMIN, zeo=zeo,
                                             relstorage=relstorage, **more)
        settings = dict(settings or {}, storage=storage)
        text = open(self.conf).read()
        if "tile-root" in settings:  # in place of the instance's own
            text = text.replace("    tile-root $INSTANCE/var/zoomifyimage\n",
                                "")
        lines = "".join("    %s %s\n" % item for item in settings.items())
        text = text.replace("    storage zodb\n", lines)
        open(self.conf, "w").write(text)
        self.url = "http://127.0.0.1:%d" % self.port
        self.process = None

    def start(self, timeout=60):
        runwsgi = os.path.join(os.path.dirname(sys.executable), "runwsgi")
        self.log = open(os.path.join(self.home, "server.log"), "ab")
        self.process = subprocess.Popen([runwsgi, self.ini],
                                        stdout=self.log, stderr=self.log)
        if processes.answering(self.url + "/", timeout, self.process):
            return self
        self.stop()
        raise RuntimeError("Zope did not start:\n" + open(
            os.path.join(self.home, "server.log")).read()[-3000:])

    def memory_kb(self, field="VmRSS"):
        return processes.status_kb(self.process.pid, field)

    def cpu_seconds(self):
        """The CPU time (user and system) the server has used so far."""
        return processes.cpu_seconds(self.process.pid)

    def add(self, path, id):
        """Add an image through the ZMI add form, over HTTP."""
        from tests.http_upload import post_form
        status, body = post_form(
            self.url + "/manage_addProduct/ZoomifyImage/"
            "manage_addZoomifyImage", {"id": id}, "file", path, ADMIN)
        assert status == 302, body[:300]

    def add_folder(self, name):
        """A new folder in the site, over HTTP; its URL."""
        from tests.http_upload import post
        code, headers, body = post(
            self.url + "/manage_addProduct/OFSP/manage_addFolder",
            {"id": name}, ADMIN)
        assert code == 302, body[:300]
        return self.url + "/" + name

    def job_status(self, id):
        """status_json of an image, or status "missing"."""
        from tests.http_upload import get
        code, headers, body = get("%s/%s/status_json" % (self.url, id))
        return json.loads(body) if code == 200 else {"status": "missing"}

    def wait_for(self, id, wanted, timeout=120, interval=0.05):
        """Poll until the image's status is one of ``wanted``; the states
        seen on the way."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            state = self.job_status(id)["status"]
            if not seen or seen[-1] != state:
                seen.append(state)
            if state in wanted:
                return seen
            time.sleep(interval)
        raise AssertionError("no %s after %s s: %s"
                             % (wanted, timeout, seen))

    def log_text(self):
        with open(os.path.join(self.home, "server.log"), errors="replace") \
                as f:
            return f.read()

    def kill(self):
        """kill -9: no chance to clean up."""
        self.process.kill()
        self.process.wait()

    def stop(self):
        processes.stop(self.process)

    def running(self):
        """True while its process runs (its home is kept till the end of
        the test module that made it, then removed: processes.py)."""
        return self.process is not None and self.process.poll() is None


class ZEOServer:
    """A ZEO server (FileStorage with blobs) on 127.0.0.1."""

    def __init__(self):
        self.home = processes.scratch_dir("zoomify-zeo-", self.running)
        self.process = None
        self.port = free_port()
        self.address = "127.0.0.1:%d" % self.port
        self.conf = os.path.join(self.home, "zeo.conf")
        with open(self.conf, "w") as f:
            f.write("<zeo>\n  address %s\n</zeo>\n<filestorage>\n"
                    "  path %s/Data.fs\n  blob-dir %s/blobs\n"
                    "</filestorage>\n" % (self.address, self.home, self.home))

    def start(self, timeout=30):
        runzeo = os.path.join(os.path.dirname(sys.executable), "runzeo")
        self.log = open(os.path.join(self.home, "zeo.log"), "wb")
        self.process = subprocess.Popen([runzeo, "-C", self.conf],
                                        stdout=self.log, stderr=self.log)
        if processes.listening(self.port, timeout, pause=0.1):
            return self
        raise RuntimeError("ZEO did not start")

    def stop(self):
        processes.stop(self.process)

    def running(self):
        return self.process is not None and self.process.poll() is None


@contextlib.contextmanager
def tmpfs(path, size):
    """A tmpfs of ``size`` (mount's text: 1m, 4m) mounted on the new
    directory ``path`` for the block: a real disc that fills up (mounting
    needs root, as the tests have)."""
    import pytest
    os.makedirs(path)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size,
                             "tmpfs", str(path)], capture_output=True)
    if result.returncode:
        pytest.fail("cannot mount a tmpfs: %s" % result.stderr)
    try:
        yield str(path)
    finally:
        subprocess.run(["umount", "-l", str(path)])
