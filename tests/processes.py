"""The servers that tests and benchmarks start (Zope, ZEO, nginx,
PostgreSQL, SeaweedFS): a free port, waiting for one to listen, stopping
one, their temporary directories (removed when they are done), and what
/proc says of their CPU and memory."""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    """A port on 127.0.0.1 that nothing listens on now (test files run two
    at a time: never a fixed port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port, timeout, process=None, pause=0.05):
    """True once 127.0.0.1:``port`` takes a connection; False after
    ``timeout`` seconds, or as soon as ``process`` has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return True
        except OSError:
            time.sleep(pause)
    return False


def answering(url, timeout, process=None, pause=0.2):
    """True once ``url`` gets an HTTP answer (any status: the server is
    up); False after ``timeout`` seconds, or as soon as ``process`` has
    exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(pause)
    return False


def stop(process, timeout=20):
    """SIGTERM (each server's clean stop), SIGKILL after ``timeout``
    seconds."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_seconds(*pids):
    """The user and system CPU time the processes have used so far (one
    that is gone counts nothing)."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % int(pid)) as f:
                # after the command's name, which may hold spaces
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])   # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def status_kb(pid, field="VmRSS"):
    """A field of /proc/PID/status in kB (VmRSS, VmHWM), or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# the directories the servers of this process were given (their var/,
# logs, tile roots), each with a function that says whether its server
# may still use it; remove_scratch removes those no longer used: at the
# end of each test module (conftest.py) and of the process
_scratch = []


def scratch_dir(prefix, in_use=None):
    """A new temporary directory for a server, removed by remove_scratch
    once ``in_use()`` is false (None: once the test module that made it
    is over)."""
    path = tempfile.mkdtemp(prefix=prefix)
    _scratch.append((path, in_use))
    return path


def remove_scratch(final=False):
    """Remove the scratch directories no server uses now (``final``: all
    of them, at the process's exit)."""
    for entry in list(_scratch):
        path, in_use = entry
        if not final and in_use is not None and in_use():
            continue
        shutil.rmtree(path, ignore_errors=True)
        _scratch.remove(entry)


atexit.register(remove_scratch, final=True)
