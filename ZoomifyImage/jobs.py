"""Background tiling: big images are tiled after the adding transaction
commits, by worker threads in the Zope process with their own ZODB
connections.

- Each image's current job is a small persistent TilingJob of its own, so
  progress writes never conflict with a manager editing the image.
- Jobs are listed in a registry in the ZODB root. A worker claims a job in
  a transaction of its own: with several Zope processes on one ZEO server
  only one of them wins the claim, so a job runs once. Whatever the loser
  would clean up, it cleans up only once it has won.
- A running job has a heartbeat thread that commits the time into a Beat
  object of its own claim every BEAT_SECONDS, whatever the tiler is doing
  (a long decode reports no progress). A job whose heartbeat stopped for
  STALE_SECONDS (its process died) is found by the next scan, at startup
  and every minute after, and run again; the dead claim's temporary tiles
  are removed. After MAX_ATTEMPTS claims whose process died, it fails.
- Nothing half-built is ever served: the new tile set is swapped in by the
  job's last transaction, and only while the job is current (the image's
  job, for the original it started from, still this worker's claim, the
  image not deleted); otherwise the set is discarded. That transaction is
  tried again after a ConflictError.
- At shutdown (SIGTERM, Ctrl-C) running jobs stop at their next tile and
  are left queued, for the next start or another process.
"""

import functools
import logging
import os
import queue
import shutil
import signal
import socket
import threading
import time
import uuid

import transaction
from BTrees.OOBTree import OOBTree
from persistent import Persistent
from ZODB.POSException import ConflictError
from ZODB.POSException import POSKeyError

from . import config
from .pyramid import TilingError
from .pyramid.sinks import TileSink
from .stores.filesystem import writer_state

logger = logging.getLogger("ZoomifyImage.jobs")

REGISTRY = "zoomifyimage.jobs"
PROGRESS_SECONDS = 2.0     # progress is committed at most this often
BEAT_SECONDS = 10.0        # a running job's heartbeat
STALE_SECONDS = 60.0       # no heartbeat for this long: the worker died
SCAN_SECONDS = 60.0        # how often idle workers look for stale jobs
MAX_ATTEMPTS = 3           # claims whose process died, then it fails
STOP_SECONDS = 10.0        # at shutdown, how long jobs get to stop
COMMIT_ATTEMPTS = 3        # a job's last transactions, on ConflictErrors

ACTIVE = ("queued", "tiling")
DIED = ("tiling was attempted %d times and the Zope process died each "
        "time (a decoder crash, or out of memory?); retile to try again")


class TooManyJobs(TilingError):
    """A user has as many images waiting for the worker as one may."""


class Stopped(Exception):
    """Stops a running job at its next tile: the process shuts down, or
    the job is no longer current."""


class TilingJob(Persistent):
    """State of one tiling run of one image."""

    original_id = None   # the original it tiles (unknown for older jobs)
    user = None          # who asked for it (max-queued-jobs counts them)
    claim = None         # the current claim's token
    beat = None          # the current claim's Beat

    def __init__(self, key, original_id=None):
        self.key = key
        self.original_id = original_id
        self.status = "queued"   # queued, tiling, ready, failed, stopped
        self.done = 0
        self.total = 0
        self.error = ""
        self.created = time.time()
        self.started = self.finished = self.heartbeat = None
        self.owner = None
        self.attempts = 0
        self.temp_dir = None

    def last_beat(self):
        if self.beat is not None:
            return self.beat.time
        return self.heartbeat or 0  # a job claimed before beats

    def stale(self, now=None):
        """True if the worker of a tiling job is gone."""
        if self.status != "tiling":
            return False
        if owner_is_dead(self.owner):
            return True
        return ((now or time.time()) - self.last_beat()) > STALE_SECONDS

    def progress_text(self):
        if self.total:
            return "%d of %d tiles (%d%%)" % (
                self.done, self.total, 100 * self.done // self.total)
        return ""


class Beat(Persistent):
    """The heartbeat of one claim: an object of its own, so that its
    commits never conflict with the job's progress commits."""

    def __init__(self):
        self.time = time.time()


def scan_seconds():
    try:
        return max(0.2, config.settings().job_scan_seconds)
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
    jar = image._p_jar
    if jar is None:  # the image is new: give it an oid now
        transaction.savepoint(optimistic=True)
        jar = image._p_jar
    if jar is None:
        raise RuntimeError("a background job needs an image in the ZODB")
    user = _user_name()
    _check_quota(jar, image, user)
    job = TilingJob(key, image.original_id)
    job.user = user
    image._job = job
    registry(jar)[key] = image._p_oid
    db = jar.db()
    transaction.get().addAfterCommitHook(_after_commit, args=(db, key))
    return job


def _user_name():
    from AccessControl import getSecurityManager
    return getSecurityManager().getUser().getUserName()


def _is_manager(image):
    from AccessControl import getSecurityManager
    return getSecurityManager().getUser().has_role(["Manager"], image)


def _check_quota(jar, image, user):
    """Raise TooManyJobs when ``user`` has max-queued-jobs images waiting
    or tiling (one worker runs them in turn: a user's hundred big
    uploads would hold up everyone else's for hours). The image's own
    job does not count: a new one replaces it. Managers, who may change
    the setting anyway, are not counted (zoomify-import runs as one)."""
    cap = config.settings().max_queued_jobs
    if not cap or _is_manager(image):
        return
    waiting = 0
    for oid in registry(jar).values():
        if oid == image._p_oid:
            continue
        try:
            job = jar.get(oid)._job
        except (POSKeyError, KeyError, AttributeError):
            continue
        if job is not None and job.status in ACTIVE and job.user == user:
            waiting += 1
    if waiting >= cap:
        raise TooManyJobs(
            image.filename or image.getId(),
            "you have %d images waiting to be tiled, as many as one user "
            "may (max-queued-jobs %d): add this one when they are done"
            % (waiting, cap))


def _after_commit(ok, db, key):
    if ok:
        pool.submit(db, key)


def is_current(image, key, claim=None):
    """Whether job ``key`` may still install its result: it is the image's
    job, for the original it started from, the image is not deleted, and
    (given a claim) the job is still that claim's."""
    job = getattr(image, "_job", None)
    return (job is not None and job.key == key
            and job.original_id in (None, image.original_id)
            and not getattr(image, "_job_deleted", False)
            and (claim is None or job.claim == claim))


def copied(image):
    """A copy (pasted, or imported from a .zexp) carries a copy of the
    original's job, which no worker will ever update: the copy is tiled
    on its own (its added event queues a job of its own)."""
    job = image._job
    if job is None or job.status not in ACTIVE:
        return
    jar = image._p_jar
    if jar is not None and registry(jar).get(job.key) == image._p_oid:
        return  # its own job
    image._job = None
    image._tiling_needed = image._original is not None


def removed(image):
    """A deleted image: its job must not install a set. Marked on the
    image, so that an Undo of the deletion takes the mark back too."""
    job = image._job
    if job is not None and job.status in ACTIVE:
        image._job_deleted = True


class WorkerPool:
    """Threads that take job keys from one queue, in order."""

    def __init__(self):
        self.queue = queue.Queue()
        self.threads = []
        self.lock = threading.Lock()
        self.db = None
        self.enabled = True    # False: this process runs no jobs
        self.stopping = False  # shutting down: take no new job
        self.idle = threading.Event()  # set while nothing is queued/running
        self.idle.set()
        self.go = threading.Event()    # cleared: workers take no new jobs
        self.go.set()
        self.running = 0

    def submit(self, db, key):
        if not self.enabled or self.stopping:
            return  # the job stays queued in the database
        self.db = db
        self.idle.clear()
        self.queue.put(key)
        self._ensure_threads()

    def _ensure_threads(self):
        with self.lock:
            self.threads = [t for t in self.threads if t.is_alive()]
            wanted = config.settings().workers
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

    def stop(self, timeout=None):
        """At shutdown: take no new job, and stop the running ones at
        their next tile (they are left queued). True if they all stopped
        within ``timeout`` seconds."""
        self.stopping = True
        self.go.set()  # paused workers wake up to see it
        deadline = time.monotonic() + (
            STOP_SECONDS if timeout is None else timeout)
        while self.running and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self.running

    def _run(self):
        while not self.stopping:
            self.go.wait()
            try:
                key = self.queue.get(timeout=scan_seconds())
            except queue.Empty:
                if self.db is not None and not self.stopping:
                    self._safe(scan, self.db)
                continue
            self.go.wait()  # paused while we waited for the key
            with self.lock:
                if self.stopping:
                    break
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
        """Until every queued job has run (tests)."""
        return self.idle.wait(timeout)


pool = WorkerPool()


def note(txn, image, what):
    """Say in the Undo list what a job's transaction did: without it the
    ZMI's Undo tab filled with blank entries, five or more per background
    tiling (issue 23, newcomer 6)."""
    try:
        name = image.getId()
    except Exception:  # deleted meanwhile, or not loadable
        name = "?"
    txn.note("Zoomify Image %s: %s (background job)" % (name, what))


def worker_name():
    return "%s:%d:%s" % (socket.gethostname(), os.getpid(),
                         threading.current_thread().name)


class JobSink(TileSink):
    """Passes tiles to a store's writer and commits the progress (and, for
    the ZODB store, the tiles written so far) every few seconds. Stops the
    tiler when ``stop`` is set or the process shuts down. The writer is
    finished by the job's last transaction, not by the tiler."""

    def __init__(self, writer, job, stop=None, image=None):
        self.writer = writer
        self.job = job
        self.image = image
        self.stop = stop or threading.Event()
        self.last = time.monotonic()

    def put(self, name, data):
        self.writer.put(name, data)

    def file_for(self, name):
        return self.writer.file_for(name)

    def progress(self, done, total):
        if self.stop.is_set() or pool.stopping:
            raise Stopped()
        now = time.monotonic()
        if now - self.last >= PROGRESS_SECONDS or done == total:
            self.job.done, self.job.total = done, total
            note(transaction.get(), self.image,
                 "tiling, %d of %d tiles" % (done, total))
            transaction.commit()
            self.last = now

    def finish(self):
        pass

    def abort(self):
        self.writer.abort()


class Heartbeat(threading.Thread):
    """Commits a running job's heartbeat every BEAT_SECONDS in a connection
    of its own, and sets ``stop`` once the job is no longer current (a
    newer job or original, the image deleted, another claim)."""

    def __init__(self, db, image, job):
        super().__init__(name="zoomify-beat-" + job.key, daemon=True)
        self.db = db
        self.image_oid, self.beat_oid = image._p_oid, job.beat._p_oid
        self.key, self.claim = job.key, job.claim
        self.done = threading.Event()
        self.stop = threading.Event()

    def run(self):
        manager = transaction.TransactionManager()
        connection = self.db.open(manager)
        try:
            while not self.done.wait(BEAT_SECONDS):
                try:
                    manager.begin()
                    image = connection.get(self.image_oid)
                    if not is_current(image, self.key, self.claim):
                        self.stop.set()
                    connection.get(self.beat_oid).time = time.time()
                    note(manager.get(), image, "tiling, alive")
                    manager.commit()
                except ConflictError:
                    manager.abort()
                except POSKeyError:  # the image is gone (packed away)
                    manager.abort()
                    self.stop.set()
                except Exception:
                    manager.abort()
                    logger.exception("heartbeat of tiling job %s", self.key)
        finally:
            manager.abort()
            connection.close()


def _end(job, status, message=""):
    job.status = status
    job.error = message
    job.finished = time.time()
    job.temp_dir = None


def _forget(connection, key):
    """Drop a finished job from the registry, in a transaction of its own
    (the registry is one BTree that every job writes to: a conflict there
    must not cost a job its result). A key left behind is dropped by the
    next claim of it."""
    def drop(attempt):
        keys = registry(connection)
        if key not in keys:
            return False
        del keys[key]
        transaction.get().note("Zoomify Image job %s done (background job)"
                               % key)
    retry_on_conflict(drop)


def retry_on_conflict(change, attempts=COMMIT_ATTEMPTS, give_up=None):
    """Run ``change(attempt)`` in a new transaction and commit it; after a
    ConflictError abort and run it again (it sees what changed meanwhile),
    up to ``attempts`` times. ``change`` returns False to abort without
    committing. After the last conflict ``give_up(error)`` is called (it
    may raise); True if a change was committed."""
    for attempt in range(attempts):
        transaction.begin()
        try:
            if change(attempt) is False:
                transaction.abort()
                return False
            transaction.commit()
            return True
        except ConflictError as e:
            transaction.abort()
            if attempt + 1 == attempts and give_up is not None:
                give_up(e)
    return False


def _claim(connection, key):
    """Claim the job for this worker: (image, job), or None if it is not
    ours to run. A dead claim's temporary files are removed only once our
    claim has committed: a claimant that loses removes nothing."""
    transaction.begin()
    oid = registry(connection).get(key)
    if oid is None:
        return None
    try:
        image = connection.get(oid)
        job = image._job
    except (POSKeyError, KeyError, AttributeError):
        _forget(connection, key)
        return None
    if job is None or job.key != key or job.status not in ACTIVE:
        _forget(connection, key)  # done, or replaced by a newer job
        return None
    if job.status == "tiling" and not job.stale():
        transaction.abort()  # its worker is alive
        return None
    dead_dir = job.temp_dir  # of the dead claim; no live worker's
    took_over = job.status == "tiling"  # from a worker that died
    if not is_current(image, key):
        _end(job, "stopped", "the image was deleted or given a new file "
             "before the job ran")
    elif job.status == "tiling" and job.attempts >= MAX_ATTEMPTS:
        _end(job, "failed", DIED % job.attempts)
        image._job_failed(job)
    else:
        job.status = "tiling"
        job.owner = worker_name()
        job.claim = uuid.uuid4().hex
        job.beat = Beat()
        job.started = job.heartbeat = time.time()
        job.attempts += 1
        job.done = 0
        job.temp_dir = None
    note(transaction.get(), image, "job taken (%s)" % job.status)
    try:
        transaction.commit()
    except ConflictError:
        transaction.abort()  # another worker (process) claimed it
        return None
    if dead_dir and writer_state(dead_dir) != "alive":
        # (a worker taken for dead that still writes keeps its directory:
        # its heartbeat stops it, and it removes its own)
        shutil.rmtree(dead_dir, ignore_errors=True)
    if took_over and job.status == "tiling":
        # ours now, taken from a dead worker, and the image's current job:
        # a temporary directory of the image whose writer is dead is the
        # dead attempt's, which may have died before it could record it
        # (a live writer's, such as a retile in a request, is left alone)
        clean_partial(config.settings().tile_root, max_age=-1,
                      prefix=image.uid + "-")
    if job.status != "tiling":
        logger.warning("tiling job %s %s: %s", key, job.status, job.error)
        _forget(connection, key)
        return None
    return image, job


def run_job(db, key):
    connection = db.open()
    try:
        claimed = _claim(connection, key)
        if claimed is None:
            return
        image, job = claimed
        heart = Heartbeat(db, image, job)
        heart.start()
        try:
            _run(image, job, heart.stop)
        finally:
            heart.done.set()
            heart.join()
    finally:
        transaction.abort()
        connection.close()


def _run(image, job, stop):
    key, claim = job.key, job.claim
    sink = None
    try:
        sink, install = image._run_job(
            job, functools.partial(JobSink, stop=stop, image=image))
        _finish(image, job, claim, install)
    except BaseException as e:
        transaction.abort()
        if sink is not None:
            sink.abort()  # whatever failed, no half-built set is left
        if isinstance(e, Stopped):
            _settle(image, job, claim, "queued" if pool.stopping else
                    "stopped", "the image was deleted or given a new "
                    "file while it was tiled")
        elif isinstance(e, ConflictError):
            _settle(image, job, claim, "failed", "could not save the new "
                    "tiles (%s); retile to try again" % e)
        elif isinstance(e, (TilingError, config.ConfigError, ValueError,
                            OSError)):
            _settle(image, job, claim, "failed", str(e))
        else:
            _settle(image, job, claim, "failed", "an unexpected error "
                    "stopped the tiling (see the log)")
            raise
        return
    _forget(image._p_jar, key)
    logger.info("tiled %s in the background", key)


def _finish(image, job, claim, install):
    """The job's last transaction: swap the new set in if the job is still
    current, else stop (the caller discards the set). Tried again after a
    ConflictError (a concurrent change that the image's conflict
    resolution cannot merge)."""
    note(transaction.get(), image, "tiling, the last tiles")
    transaction.commit()  # the tiles written since the last progress

    def swap_in(attempt):
        if attempt:
            logger.info("tiling job %s: a conflict at its last commit, "
                        "trying again", job.key)
        if not is_current(image, job.key, claim):
            raise Stopped()
        try:
            install()
        except ConflictError:
            raise
        except Exception as e:
            if attempt:
                # the store could not keep its set through the conflict
                raise _AfterConflict(e) from e
            raise
        _end(job, "ready")
        note(transaction.get(), image, "new tiles in place")

    def give_up(error):
        raise error
    try:
        retry_on_conflict(swap_in, give_up=give_up)
    except _AfterConflict as e:
        raise ConflictError("after a conflict: %s" % e.__cause__) from e


class _AfterConflict(Exception):
    """The store lost its set when the transaction was tried again."""


def _settle(image, job, claim, status, message=""):
    """Record how this claim of the job ended, if the job is still this
    claim's (one that took over owns it now): failed, stopped, or queued
    again (shutdown). A job that is not queued leaves the registry."""
    def record(attempt):
        if job.claim != claim:
            return False
        current = is_current(image, job.key, claim)
        if status == "queued" and current:
            job.status = "queued"
            job.owner = job.claim = job.beat = job.temp_dir = None
            job.attempts -= 1  # a clean stop, not a death
        else:
            _end(job, "stopped" if status == "queued" else status, message)
            if status == "failed" and current:
                image._job_failed(job)
        note(transaction.get(), image, "tiling " + job.status)
    if not retry_on_conflict(record) and job.claim != claim:
        return
    if job.status == "queued":
        logger.info("tiling job %s left queued: shutting down", job.key)
        return
    (logger.warning if job.status == "failed" else logger.info)(
        "tiling %s %s: %s", job.key, job.status, job.error)
    _forget(image._p_jar, job.key)


def scan(db):
    """Queue the jobs that wait or whose worker died (at startup and every
    minute): the registry survives restarts and is shared over ZEO. Then
    remove temporary directories that no live job owns."""
    connection = db.open()
    live = set()
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
            elif job.status == "tiling" and job.temp_dir:
                live.add(job.temp_dir)
        transaction.abort()
    finally:
        connection.close()
    clean_partial(config.settings().tile_root, keep=live)
    queued = set(pool.queue.queue)
    for key in waiting:
        if key not in queued:
            logger.info("queueing tiling job %s again", key)
            pool.submit(db, key)
    return waiting


def clean_partial(root_dir, max_age=None, keep=(), prefix=""):
    """Remove the temporary tile directories whose writers are dead: each
    writer holds a lock in its directory for its whole life, in whatever
    process (a job, a request, zoomify-import over ZEO), and the kernel
    lets go of it when that process dies; a held lock is never removed,
    however old. A directory without a lock (written before locks) goes
    when it is older than ``max_age`` seconds (-1: whatever its age).
    None in ``keep``; ``prefix``: only those whose names begin with it
    (an image's uid and a dash)."""
    if max_age is None:
        max_age = STALE_SECONDS * 10
    partial = os.path.join(root_dir, ".partial")
    try:
        names = os.listdir(partial)
    except OSError:
        return
    now = time.time()
    for name in names:
        path = os.path.join(partial, name)
        if path in keep or not name.startswith(prefix):
            continue
        state = writer_state(path)
        if state == "alive":
            continue
        try:
            if (state == "dead" or max_age < 0 or
                    now - os.path.getmtime(path) > max_age):
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def database_opened(event):
    """At startup: find unfinished jobs, clean up after dead ones, start
    the workers (they look for jobs of other processes too), and stop them
    cleanly on SIGTERM or Ctrl-C. Nothing of this in a process that runs
    no jobs (zoomify-import)."""
    if not pool.enabled:
        return
    db = event.database
    pool.db = db
    try:
        scan(db)
        pool._ensure_threads()
    except Exception:
        logger.exception("could not look for unfinished tiling jobs")
    stop_on_signals()


def stop_on_signals():
    """SIGTERM and SIGINT (Ctrl-C) stop the workers, their jobs left
    queued, before the server closes the database. Only where the signal
    still has Python's default handling, in the main thread (runwsgi)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, default in ((signal.SIGTERM, signal.SIG_DFL),
                            (signal.SIGINT, signal.default_int_handler)):
        if signal.getsignal(signum) is default:
            signal.signal(signum, _stop_and_exit)


def _stop_and_exit(signum, frame):
    logger.info("%s: stopping the tiling workers",
                signal.Signals(signum).name)
    if not pool.stop():
        logger.warning("a tiling job did not stop within %d s; it runs "
                       "again at the next start", STOP_SECONDS)
    # waitress stops serving on either, and runwsgi closes the database
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(0)
