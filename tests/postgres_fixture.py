"""Debian's PostgreSQL for the cluster tests and `make start-cluster`: a
cluster made by initdb in a temporary directory, listening on a loopback
port only, stopped and removed at the end.

PostgreSQL refuses to run as root: as root (the tests, CI) its programs
run as the user ``postgres`` that Debian's package creates (runuser),
and the directory is given to that user."""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile

from tests.processes import free_port


def _programs():
    """Debian's programs of one version (not on PATH, unless linked)."""
    initdb = shutil.which("initdb") or (sorted(glob.glob(
        "/usr/lib/postgresql/*/bin/initdb")) or ["/usr/bin/initdb"])[-1]
    return os.path.dirname(os.path.realpath(initdb))


BIN = _programs()
RUN_AS = "postgres"
USER = "zope"          # the database user the Zope clients connect as
DATABASE = "zodb"


def missing():
    """Why PostgreSQL cannot run here, or None."""
    for name in ("initdb", "pg_ctl", "postgres", "createdb"):
        if not os.path.exists(os.path.join(BIN, name)):
            return "PostgreSQL's %s is not in %s (make test installs " \
                   "Debian's postgresql)" % (name, BIN)
    if os.getuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            return "no user %r to run PostgreSQL as" % RUN_AS
    return None


class PostgreSQL:
    """A PostgreSQL of its own on 127.0.0.1:``port`` with the database
    DATABASE, owned by USER (trust on loopback: nothing but this machine
    reaches it)."""

    def __init__(self, home=None, port=None):
        self.home = home or tempfile.mkdtemp(prefix="zoomify-postgres-")
        self.data = os.path.join(self.home, "data")
        self.port = port or free_port()
        self.dsn = ("host=127.0.0.1 port=%d dbname=%s user=%s"
                    % (self.port, DATABASE, USER))

    def _run(self, *command, check=True):
        command = [os.path.join(BIN, command[0])] + list(command[1:])
        if os.getuid() == 0:
            command = ["runuser", "-u", RUN_AS, "--"] + command
        result = subprocess.run(command, capture_output=True, text=True)
        if check and result.returncode:
            raise RuntimeError("%s failed: %s%s" % (
                " ".join(command), result.stdout, result.stderr))
        return result

    def init(self):
        """initdb (once), with the user and the database."""
        if os.path.isdir(self.data):
            return self
        if os.getuid() == 0:
            owner = pwd.getpwnam(RUN_AS)
            os.chown(self.home, owner.pw_uid, owner.pw_gid)
        # --no-sync: a test cluster need not survive a power cut
        self._run("initdb", "-D", self.data, "-U", USER, "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        self.start()
        try:
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port),
                      "-U", USER, DATABASE)
        except BaseException:
            self.stop("immediate")  # no server left behind
            raise
        return self

    def start(self, timeout=30):
        # only loopback TCP; the socket in our own directory, not /run
        options = ("-h 127.0.0.1 -p %d -k %s -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off"
                   % (self.port, self.home))
        self._run("pg_ctl", "-D", self.data, "-o", options,
                  "-l", os.path.join(self.home, "postgres.log"),
                  "-t", str(timeout), "-w", "start")
        return self

    def stop(self, mode="fast"):
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop",
                  check=False)

    def restart(self):
        """Stop (closing every client's connection) and start again."""
        self.stop()
        self.start()

    def is_running(self):
        return self._run("pg_ctl", "-D", self.data, "status",
                         check=False).returncode == 0

    def log_text(self):
        try:
            with open(os.path.join(self.home, "postgres.log"),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def remove(self):
        self.stop("immediate")
        shutil.rmtree(self.home, ignore_errors=True)
