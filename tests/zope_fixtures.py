"""A real Zope for the tests: an instance in a temporary directory with a
FileStorage and blobs, the product loaded from its ZCML, published in this
process for zope.testbrowser, or run as a separate server process on a
loopback port."""

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

ADMIN = ("admin", "secret")
_app = None
_home = None


def instance_home():
    global _home
    if _home is None:
        from ZoomifyImage.instance import write_instance
        _home = tempfile.mkdtemp(prefix="zoomify-zope-")
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


def browser(login=True):
    from zope.testbrowser.browser import Browser
    b = Browser(wsgi_app=wsgi_app())
    b.handleErrors = True
    b.raiseHttpErrors = False
    if login:
        token = base64.b64encode(("%s:%s" % ADMIN).encode()).decode()
        b.addHeader("Authorization", "Basic " + token)
    return b


def tile_root():
    return os.path.join(instance_home(), "var", "zoomifyimage")


def import_command():
    """The zoomify-import console script beside this Python."""
    return os.path.join(os.path.dirname(sys.executable), "zoomify-import")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ZopeServer:
    """`runwsgi` on an instance of its own, on 127.0.0.1."""

    def __init__(self, storage="zodb", zeo=None, settings=None):
        from ZoomifyImage.instance import write_instance
        self.home = tempfile.mkdtemp(prefix="zoomify-server-")
        self.port = free_port()
        self.conf, self.ini = write_instance(self.home, port=self.port,
                                             admin=ADMIN, zeo=zeo)
        settings = dict(settings or {}, storage=storage)
        text = open(self.conf).read()
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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/", timeout=2)
                return self
            except urllib.error.HTTPError:
                return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("Zope did not start:\n" + open(
            os.path.join(self.home, "server.log")).read()[-3000:])

    def memory_kb(self, field="VmRSS"):
        with open("/proc/%d/status" % self.process.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])

    def add(self, path, id):
        """Add an image through the ZMI add form, over HTTP."""
        from tests.http_upload import post_form
        status, body = post_form(
            self.url + "/manage_addProduct/ZoomifyImage/"
            "manage_addZoomifyImage", {"id": id}, "file", path, ADMIN)
        assert status == 302, body[:300]

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
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def unique_id(request):
    return "t%d" % (abs(hash(request.node.nodeid)) % 10 ** 8)


@pytest.fixture
def folder(unique_id):
    """A fresh folder in the site for one test."""
    name = "f" + unique_id
    with zope_root() as app:
        from OFS.Folder import manage_addFolder
        if name in app.objectIds():
            app.manage_delObjects([name])
        manage_addFolder(app, name)
    return name


class ZEOServer:
    """A ZEO server (FileStorage with blobs) on 127.0.0.1."""

    def __init__(self):
        self.home = tempfile.mkdtemp(prefix="zoomify-zeo-")
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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("ZEO did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)
