"""Debian's nginx for the tests and benchmarks: started on a loopback port
with a configuration and a prefix directory of its own, its workers
running as www-data (the master needs root for that, as in production).

docs/nginx.conf, the configuration docs/frontend.txt shows, is used as it is:
only its ports and paths are replaced (front_end_servers)."""

import os
import shutil
import subprocess
import tempfile

from tests import processes
from tests.processes import free_port
from tests.zope_fixtures import ZopeServer

HERE = os.path.dirname(os.path.abspath(__file__))
DOCUMENTED = os.path.join(os.path.dirname(HERE), "docs", "nginx.conf")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
USER = "www-data"

# the main part Debian's /etc/nginx/nginx.conf provides around conf.d/
MAIN = """\
user %(user)s;
worker_processes auto;
pid %(prefix)s/nginx.pid;
error_log %(prefix)s/error.log warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log off;
    client_body_temp_path %(prefix)s/tmp/body;
    proxy_temp_path %(prefix)s/tmp/proxy;
    fastcgi_temp_path %(prefix)s/tmp/fastcgi;
    uwsgi_temp_path %(prefix)s/tmp/uwsgi;
    scgi_temp_path %(prefix)s/tmp/scgi;
%(servers)s
}
"""


def missing():
    """Why nginx cannot run here, or None."""
    if not os.path.exists(NGINX):
        return "nginx is not installed (make test installs nginx-light)"
    return None


def zope_behind_nginx(storage="filesystem", accel=True, **settings):
    """A ZopeServer (not started) whose tile root, in a directory of its
    own, nginx's workers may read (an instance's home is 0700), and whose
    tile answers name the file for nginx (X-Accel-Redirect) as
    docs/nginx.conf says, unless ``accel`` is false."""
    tile_root = processes.scratch_dir("zoomify-tiles-",
                                      lambda: server.running())
    os.chmod(tile_root, 0o755)
    if accel:
        settings.setdefault("x-sendfile-header", "X-Accel-Redirect")
        settings.setdefault("x-sendfile-prefix", "/protected-tiles/")
    server = ZopeServer(storage=storage, settings=settings)
    with open(server.conf) as f:
        text = f.read()
    with open(server.conf, "w") as f:
        f.write(text.replace("tile-root $INSTANCE/var/zoomifyimage",
                             "tile-root " + tile_root))
    server.tile_root = tile_root
    return server


def front_end_servers(zope_port, tile_root, prefix, port):
    """docs/nginx.conf with this test's Zope, tile root, cache, socket and
    port in place of the documented ones. ``zope_port``: a port, or a
    list of them (Zope clients nginx balances over)."""
    text = open(DOCUMENTED).read()
    ports = zope_port if isinstance(zope_port, (list, tuple)) else [
        zope_port]
    upstream = "\n    ".join("server 127.0.0.1:%d;" % p for p in ports)
    for documented, here in [
            ("listen 80;", "listen 127.0.0.1:%d;" % port),
            ("server 127.0.0.1:8080;", upstream),
            ("/srv/tiles/", tile_root.rstrip("/") + "/"),
            ("/var/cache/nginx/zoomify", prefix + "/cache"),
            ("/run/nginx-zoomify.sock", prefix + "/zope.sock")]:
        # the documented text must still hold what the tests replace
        assert documented in text, documented
        text = text.replace(documented, here)
    return text


class Nginx:
    """nginx with the server blocks ``servers(nginx)`` (a function of this
    object, so that it can use .prefix and .port)."""

    def __init__(self, servers):
        self.prefix = tempfile.mkdtemp(prefix="zoomify-nginx-")
        # the workers (www-data) reach the cache and the socket in here
        os.chmod(self.prefix, 0o755)
        self.port = free_port()
        self.conf = os.path.join(self.prefix, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(MAIN % {"user": USER, "prefix": self.prefix,
                            "servers": servers(self)})
        self.url = "http://127.0.0.1:%d" % self.port
        self.process = None

    def start(self, timeout=10):
        os.mkdir(os.path.join(self.prefix, "tmp"))
        # -e: the error log before the configuration is read (Debian's
        # default is /var/log/nginx); daemon off: we hold the master's pid
        self.process = subprocess.Popen(
            [NGINX, "-p", self.prefix, "-e", self.prefix + "/error.log",
             "-c", self.conf, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if processes.listening(self.port, timeout, self.process):
            return self
        if self.process.poll() is not None:
            raise RuntimeError("nginx did not start: %s %s" % (
                self.process.stderr.read().decode(errors="replace"),
                self.error_log()))
        self.stop()
        raise RuntimeError("nginx did not listen: " + self.error_log())

    def worker_users(self):
        """The user names the worker processes run as."""
        out = subprocess.run(["ps", "-o", "user=", "--ppid",
                              str(self.process.pid)],
                             capture_output=True, text=True).stdout
        return set(out.split())

    def cpu_seconds(self):
        """The CPU time (user and system) its workers have used so far."""
        pids = subprocess.run(["ps", "-o", "pid=", "--ppid",
                               str(self.process.pid)],
                              capture_output=True, text=True).stdout.split()
        return processes.cpu_seconds(*pids)

    def error_log(self):
        try:
            with open(os.path.join(self.prefix, "error.log"),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        processes.stop(self.process, 10)   # SIGTERM: fast shutdown
        shutil.rmtree(self.prefix, ignore_errors=True)


# wrk asks for the paths in random order, as a viewer does; done() prints
# one line the caller parses (wrk's own summary rounds the latencies)
WRK_SCRIPT = """\
local paths = {%s}
local requests = {}
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("seed", threads)
end
function init(args)
    math.randomseed(seed)
    for i, path in ipairs(paths) do
        requests[i] = wrk.format("GET", path)
    end
end
function request()
    return requests[math.random(#requests)]
end
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d %%d %%d %%d %%d\\n",
        summary.requests, summary.duration, summary.bytes,
        latency:percentile(50), latency:percentile(99),
        e.connect, e.read, e.write, e.status, e.timeout))
end
"""
WRK = shutil.which("wrk") or "/usr/bin/wrk"


def has_wrk():
    return os.path.exists(WRK)


def wrk(base_url, paths, seconds, connections, headers=(), threads=2):
    """Run wrk against ``base_url`` + random ``paths``: a dict of
    requests, rate (per second), p50 and p99 (ms), bytes per response and
    errors (socket errors, timeouts and answers other than 2xx/3xx)."""
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    with script:
        script.write(WRK_SCRIPT % ", ".join('"%s"' % p for p in paths))
    command = [WRK, "-t%d" % threads, "-c%d" % connections,
               "-d%ds" % seconds, "--timeout", "5s", "-s", script.name]
    for header in headers:
        command += ["-H", header]
    try:
        out = subprocess.run(command + [base_url], capture_output=True,
                             text=True, timeout=seconds + 60).stdout
    finally:
        os.unlink(script.name)
    line = [x for x in out.splitlines() if x.startswith("RESULT ")]
    if not line:
        raise RuntimeError("wrk printed no result:\n" + out)
    (requests, duration, size, p50, p99,
     connect, read, write, status, timeout) = map(int, line[0].split()[1:])
    return {"requests": requests,
            "rate": requests / (duration / 1e6),
            "p50": p50 / 1000.0, "p99": p99 / 1000.0,
            "bytes": size / max(requests, 1),
            "errors": connect + read + write + status + timeout,
            "status_errors": status}
