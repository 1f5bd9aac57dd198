"""The servers the tests start leave nothing in the temporary directory:
their homes (var/, logs, tile roots) go at the end of the test module
that made them, once they are stopped, and the rest when the process
ends (tests/processes.py, conftest.py). They piled up in /tmp, gigabytes
a day. A pytest of its own, with a temporary directory of its own."""

import os
import subprocess
import sys

MODULE_A = '''
from tests.nginx_fixture import zope_behind_nginx
from tests.zope_fixtures import ZEOServer, ZopeServer

def test_servers_are_made():
    zeo = ZEOServer().start()
    ZopeServer(zeo=zeo.address)  # its instance only
    zope_behind_nginx()          # an instance and a tile root
    zeo.stop()
'''

MODULE_B = '''
import os, tempfile
from tests.zope_fixtures import instance_home

def test_the_last_modules_are_gone():
    left = sorted(n for n in os.listdir(tempfile.gettempdir())
                  if n.startswith("zoomify-"))
    assert left == [], left
    instance_home()  # this process's Zope: till the process ends
'''


def test_nothing_is_left_in_the_temporary_directory(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    (tmp_path / "test_a.py").write_text(MODULE_A)
    (tmp_path / "test_b.py").write_text(MODULE_B)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "--basetemp", str(tmp_path / "basetemp"),
         str(tmp_path / "test_a.py"), str(tmp_path / "test_b.py")],
        cwd=root, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, TMPDIR=str(scratch),
                 PYTHONPATH=root))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "2 passed" in result.stdout
    assert sorted(os.listdir(scratch)) == []
