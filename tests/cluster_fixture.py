"""Two Zope clients on one PostgreSQL (RelStorage) behind nginx, sharing
a tile root and an upload directory, as docs/cluster.txt describes: for
tests/test_cluster.py and benchmarks/bench_cluster.py."""

import os
import threading

from tests import processes
from tests.nginx_fixture import Nginx
from tests.nginx_fixture import front_end_servers
from tests.postgres_fixture import PostgreSQL
from tests.zope_fixtures import ZopeServer

# short intervals: jobs and the lease are looked at twice a second
FAST = {"background-megapixels": "1", "job-scan-seconds": "0.5",
        "maintenance-lease-seconds": "1.5",
        "x-sendfile-header": "X-Accel-Redirect",
        "x-sendfile-prefix": "/protected-tiles/"}


class Cluster:

    def __init__(self, **settings):
        self.postgres = PostgreSQL().init()
        # shared by the clients, as a mount of one network filesystem
        self.tiles = processes.scratch_dir("zoomify-cluster-tiles-",
                                           self.running)
        os.chmod(self.tiles, 0o755)  # nginx's workers read it
        self.uploads = processes.scratch_dir("zoomify-cluster-uploads-",
                                             self.running)
        self.settings = dict(FAST, **{"tile-root": self.tiles,
                                      "upload-dir": self.uploads},
                             **settings)
        self.nginx = None
        self.fronts = []
        try:
            self.clients = [self.client() for _ in range(2)]
        except BaseException:
            self.postgres.remove()  # no server left behind
            raise

    def client(self):
        return ZopeServer(storage="filesystem", relstorage=self.postgres.dsn,
                          settings=self.settings)

    def start(self):
        # the first makes the schema and the site; then the second
        for client in self.clients:
            client.start()
        ports = [c.port for c in self.clients]
        self.nginx = Nginx(lambda n: front_end_servers(
            ports, self.tiles, n.prefix, n.port)).start()
        return self

    def front(self, clients):
        """Another nginx of docs/nginx.conf over ``clients`` only."""
        ports = [c.port for c in clients]
        nginx = Nginx(lambda n: front_end_servers(
            ports, self.tiles, n.prefix, n.port)).start()
        self.fronts.append(nginx)
        return nginx

    def running(self):
        """True while one of its Zope clients runs."""
        return any(c.running() for c in getattr(self, "clients", ()))

    def stop(self, kill=False):
        """Stop everything (``kill``: the clients by kill -9, when how
        they stop does not matter: a clean stop takes seconds)."""
        for nginx in self.fronts + [self.nginx]:
            if nginx is not None:
                nginx.stop()
        # at once: each waits for its workers to stop
        stopping = [threading.Thread(
            target=c.kill if kill and c.process and c.process.poll() is None
            else c.stop) for c in self.clients]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()
        self.postgres.remove()


