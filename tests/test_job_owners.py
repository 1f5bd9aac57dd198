"""Who owns a background job in a cluster: worker processes on one ZEO
server, each as on a machine of its own (its own temporary directory, its
own PID namespace: so the same host name and the same pid, 1), one with
its clock 10 minutes off. A live job stays its worker's; a dead one is
taken over once its heartbeat is older than STALE_SECONDS by the
database's clock."""

import os
import subprocess
import sys
import time

import pytest
import ZODB
from ZEO.ClientStorage import ClientStorage

from tests.job_claimant import STALE_SECONDS
from tests.job_claimant import add_job
from tests.zope_fixtures import ZEOServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "job-1"


@pytest.fixture
def zeo():
    server = ZEOServer().start()
    host, port = server.address.rsplit(":", 1)
    db = ZODB.DB(ClientStorage((host, int(port))))
    add_job(db, KEY)
    db.close()
    yield server.address
    server.stop()


def machine(tmp_path, zeo, mode, offset=0, name="a"):
    """A worker process as on a machine of its own."""
    tmp = tmp_path / name
    tmp.mkdir(exist_ok=True)
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONPATH=ROOT)
    return subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", sys.executable, "-m",
         "tests.job_claimant", zeo, KEY, mode, str(offset)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def holder(tmp_path, zeo):
    a = machine(tmp_path, zeo, "hold")
    assert a.stdout.readline().strip() == "claimed"
    return a


def attempt(tmp_path, zeo, offset=0):
    b = machine(tmp_path, zeo, "try", offset, name="b")
    out, _ = b.communicate(timeout=60)
    assert b.returncode == 0
    return out.strip()


def test_same_host_name_and_pid_do_not_take_a_live_job(tmp_path, zeo):
    a = holder(tmp_path, zeo)
    try:
        time.sleep(STALE_SECONDS + 1)  # longer than a dead beat may be
        assert attempt(tmp_path, zeo) == "left"
    finally:
        a.kill()
        a.wait()


def test_a_clock_10_minutes_off_neither_takes_a_live_job_nor_keeps_a_dead_one(
        tmp_path, zeo):
    a = holder(tmp_path, zeo)
    try:
        assert attempt(tmp_path, zeo, offset=600) == "left"
    finally:
        a.kill()  # -9: its heartbeat stops
        a.wait()
    time.sleep(STALE_SECONDS + 1)
    assert attempt(tmp_path, zeo, offset=-600) == "taken"
