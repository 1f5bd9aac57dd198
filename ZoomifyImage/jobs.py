"""Background tiling: big images are tiled after the adding transaction
commits, by worker threads in the Zope process with their own ZODB
connections.

- Each image's current job is a small persistent TilingJob of its own, so
  progress writes never conflict with a manager editing the image.
- Jobs are listed in a registry in the ZODB root. A worker claims a job in
  a transaction of its own: with several Zope processes on one ZEO server
  only one of them wins the claim, so a job runs once.
- A working job writes a heartbeat with its progress. A job whose
  heartbeat has stopped (its process died) is found by the next scan, at
  startup and every minute after, and run again; its temporary tiles
  are removed. Nothing half-built is ever served: the new tile set is
  swapped in by the job's last transaction.
"""

import logging
import os
import queue
import shutil
import socket
import threading
import time

import transaction
from BTrees.OOBTree import OOBTree
from persistent import Persistent
from ZODB.POSException import ConflictError
from ZODB.POSException import POSKeyError

from . import config
from .pyramid import TilingError
from .pyramid.sinks import TileSink

logger = logging.getLogger("ZoomifyImage.jobs")

REGISTRY = "zoomifyimage.jobs"
HEARTBEAT_SECONDS = 2.0    # progress is committed at most this often
STALE_SECONDS = 60.0       # a heartbeat older than this: the worker died
SCAN_SECONDS = 60.0        # how often idle workers look for stale jobs

ACTIVE = ("queued", "tiling")


class TilingJob(Persistent):
    """State of one tiling run of one image."""

    def __init__(self, key):
        self.key = key
        self.status = "queued"   # queued, tiling, ready, failed
        self.done = 0
        self.total = 0
        self.error = ""
        self.created = time.time()
        self.started = self.finished = self.heartbeat = None
        self.owner = None
        self.attempts = 0
        self.temp_dir = None

    def stale(self, now=None):
        """True if the worker of a tiling job is gone."""
        if self.status != "tiling":
            return False
        if owner_is_dead(self.owner):
            return True
        return ((now or time.time()) - (self.heartbeat or 0)) > STALE_SECONDS

    def progress_text(self):
        if self.total:
            return "%d of %d tiles (%d%%)" % (
                self.done, self.total, 100 * self.done // self.total)
        return ""


def scan_seconds():
    try:
        return max(0.2, float(config.get("job-scan-seconds")))
    except (TypeError, ValueError):
        return SCAN_SECONDS


def owner_is_dead(owner):
    """A worker of this machine whose process has gone (after a kill -9 or
    a crash): its jobs can run again without waiting for the heartbeat."""
    try:
        host, pid, thread = owner.split(":", 2)
        pid = int(pid)
    except (AttributeError, ValueError):
        return False
    if host != socket.gethostname():
        return False  # another machine: the heartbeat tells
    if pid == os.getpid():
        return thread not in {t.name for t in threading.enumerate()}
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def registry(connection):
    """The job registry (key -> image oid) in the ZODB root."""
    root = connection.root()
    if REGISTRY not in root:
        root[REGISTRY] = OOBTree()
    return root[REGISTRY]


def new_job(image):
    """Make a queued job for an image (in the current transaction) and
    have it run when the transaction commits."""
    key = "%s-%d" % (image.uid, int(time.time() * 1e6))
    job = TilingJob(key)
    image._job = job
    jar = image._p_jar
    if jar is None:  # the image is new: give it an oid now
        transaction.savepoint(optimistic=True)
        jar = image._p_jar
    if jar is None:
        raise RuntimeError("a background job needs an image in the ZODB")
    registry(jar)[key] = image._p_oid
    db = jar.db()
    transaction.get().addAfterCommitHook(_after_commit, args=(db, key))
    return job


def _after_commit(ok, db, key):
    if ok:
        pool.submit(db, key)


class WorkerPool:
    """Threads that take job keys from one queue, in order."""

    def __init__(self):
        self.queue = queue.Queue()
        self.threads = []
        self.lock = threading.Lock()
        self.db = None
        self.stopping = False
        self.idle = threading.Event()  # set while nothing is queued/running
        self.idle.set()
        self.go = threading.Event()    # cleared: workers take no new jobs
        self.go.set()
        self.running = 0

    def submit(self, db, key):
        self.db = db
        self.idle.clear()
        self.queue.put(key)
        self._ensure_threads()

    def _ensure_threads(self):
        with self.lock:
            self.threads = [t for t in self.threads if t.is_alive()]
            wanted = max(1, config.get_int("workers", 1))
            while len(self.threads) < wanted:
                t = threading.Thread(target=self._run, daemon=True,
                                     name="zoomify-worker-%d"
                                     % len(self.threads))
                t.start()
                self.threads.append(t)

    def pause(self):
        self.go.clear()

    def resume(self):
        self.go.set()

    def _run(self):
        while not self.stopping:
            self.go.wait()
            try:
                key = self.queue.get(timeout=scan_seconds())
            except queue.Empty:
                if self.db is not None:
                    self._safe(scan, self.db)
                continue
            self.go.wait()  # paused while we waited for the key
            with self.lock:
                self.running += 1
            try:
                self._safe(run_job, self.db, key)
            finally:
                with self.lock:
                    self.running -= 1
                    if self.queue.empty() and self.running == 0:
                        self.idle.set()

    @staticmethod
    def _safe(function, *args):
        try:
            function(*args)
        except Exception:
            logger.exception("background tiling: %s failed",
                             function.__name__)

    def wait(self, timeout=None):
        """Until every queued job has run (tests, the import command)."""
        return self.idle.wait(timeout)


pool = WorkerPool()


def worker_name():
    return "%s:%d:%s" % (socket.gethostname(), os.getpid(),
                         threading.current_thread().name)


class JobSink(TileSink):
    """Passes tiles to a store's writer and commits the progress (and, for
    the ZODB store, the tiles written so far) every few seconds."""

    def __init__(self, writer, job):
        self.writer = writer
        self.job = job
        self.last = time.monotonic()

    def put(self, name, data):
        self.writer.put(name, data)

    def file_for(self, name):
        return self.writer.file_for(name)

    def progress(self, done, total):
        now = time.monotonic()
        if now - self.last >= HEARTBEAT_SECONDS or done == total:
            self.job.done, self.job.total = done, total
            self.job.heartbeat = time.time()
            transaction.commit()
            self.last = now

    def finish(self):
        self.writer.finish()

    def abort(self):
        self.writer.abort()


def _claim(connection, key):
    """Mark the job as ours; the image, or None if it is not ours to run."""
    transaction.begin()
    oid = registry(connection).get(key)
    if oid is None:
        return None
    try:
        image = connection.get(oid)
        job = image._job
    except (POSKeyError, KeyError, AttributeError):
        del registry(connection)[key]
        transaction.commit()
        return None
    if job is None or job.key != key or job.status not in ACTIVE:
        del registry(connection)[key]  # done, or replaced by a newer job
        transaction.commit()
        return None
    if job.status == "tiling" and not job.stale():
        transaction.abort()  # its worker is alive
        return None
    if job.temp_dir:  # left by a worker that died
        shutil.rmtree(job.temp_dir, ignore_errors=True)
        job.temp_dir = None
    if job.attempts:
        # a worker that died before it could record its directory
        remove_partials(config.tile_root(), image.uid)
    job.status = "tiling"
    job.owner = worker_name()
    job.started = job.heartbeat = time.time()
    job.attempts += 1
    job.done = 0
    try:
        transaction.commit()
    except ConflictError:
        transaction.abort()  # another worker (process) claimed it
        return None
    return image


def run_job(db, key):
    connection = db.open()
    try:
        image = _claim(connection, key)
        if image is None:
            return
        job = image._job
        try:
            image._run_job(job, JobSink)
            job.status = "ready"
            job.finished = time.time()
            del registry(connection)[key]
            transaction.commit()
            logger.info("tiled %s in the background", key)
        except (TilingError, config.ConfigError, ValueError, OSError) as e:
            transaction.abort()
            _fail(connection, key, str(e))
        except ConflictError as e:
            transaction.abort()
            _fail(connection, key, "could not save the new tiles (%s); "
                  "retile to try again" % e)
        except BaseException:
            transaction.abort()
            _fail(connection, key, "an unexpected error stopped the tiling "
                  "(see the log)")
            raise
    finally:
        transaction.abort()
        connection.close()


def _fail(connection, key, message):
    transaction.begin()
    oid = registry(connection).get(key)
    if oid is None:
        return
    image = connection.get(oid)
    job = image._job
    if job is not None and job.key == key:
        if job.temp_dir:
            shutil.rmtree(job.temp_dir, ignore_errors=True)
            job.temp_dir = None
        job.status = "failed"
        job.error = message
        job.finished = time.time()
        image._job_failed(job)
    del registry(connection)[key]
    transaction.commit()
    logger.warning("tiling %s failed: %s", key, message)


def scan(db):
    """Queue the jobs that wait or whose worker died (at startup and every
    minute): the registry survives restarts and is shared over ZEO."""
    connection = db.open()
    try:
        transaction.begin()
        now = time.time()
        waiting = []
        for key, oid in list(registry(connection).items()):
            try:
                job = connection.get(oid)._job
            except (POSKeyError, KeyError, AttributeError):
                continue
            if job is None:
                continue
            if job.status == "queued" or job.stale(now):
                waiting.append(key)
        transaction.abort()
    finally:
        connection.close()
    queued = set(pool.queue.queue)
    for key in waiting:
        if key not in queued:
            logger.info("queueing tiling job %s again", key)
            pool.submit(db, key)
    return waiting


def remove_partials(root_dir, uid):
    """Remove the temporary tile directories of one image."""
    partial = os.path.join(root_dir, ".partial")
    try:
        names = os.listdir(partial)
    except OSError:
        return
    for name in names:
        if name.startswith(uid + "-"):
            shutil.rmtree(os.path.join(partial, name), ignore_errors=True)


def clean_partial(root_dir, max_age=STALE_SECONDS * 10):
    """Remove temporary tile directories of jobs that died long ago."""
    partial = os.path.join(root_dir, ".partial")
    try:
        names = os.listdir(partial)
    except OSError:
        return
    now = time.time()
    for name in names:
        path = os.path.join(partial, name)
        try:
            if now - os.path.getmtime(path) > max_age:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def database_opened(event):
    """At startup: find unfinished jobs, clean up after dead ones, and
    start the workers (they look for jobs of other processes too)."""
    db = event.database
    pool.db = db
    try:
        clean_partial(config.tile_root())
        scan(db)
        pool._ensure_threads()
    except Exception:
        logger.exception("could not look for unfinished tiling jobs")
