"""The workers: threads that take job keys from one queue, in order, and
run each job on an image through its tiling API (ITileable: start_tiling,
cut_tiles, install_tiles, tiling_failed), in connections of their own.
A running job has a Heartbeat thread of its own. ``workers 0`` makes a
process that queues jobs but runs none (a web-only client of a ZEO
cluster whose other processes tile). Like zope.sendmail's queue
processor, with start and stop."""

import logging
import queue
import signal
import threading
import time

import transaction
from ZODB.POSException import ConflictError
from ZODB.POSException import POSKeyError

from .. import blob_cache
from .. import config
from .. import stores
from ..pyramid import TilingError
from ..pyramid.sinks import TileSink
from . import recovery
from .records import forget
from .records import is_current
from .records import note
from .records import retry_on_conflict

logger = logging.getLogger(__name__)

PROGRESS_SECONDS = 2.0     # progress is committed at most this often
BEAT_SECONDS = 10.0        # a running job's heartbeat
STOP_SECONDS = 10.0        # at shutdown, how long jobs get to stop


class Stopped(Exception):
    """Stops a running job at its next tile: the process shuts down, or
    the job is no longer current."""


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

    def runs_jobs(self):
        """Whether this process runs jobs: not zoomify-import, not a
        process with ``workers 0``, not one shutting down."""
        return (self.enabled and not self.stopping
                and config.settings().workers > 0)

    def submit(self, db, key):
        if not self.runs_jobs():
            return  # the job stays queued in the database
        self.db = db
        self.idle.clear()
        self.queue.put(key)
        self.start_threads()

    def scan(self, db):
        """Queue the jobs that wait or whose worker died; their keys."""
        keys = recovery.waiting(db)
        queued = set(self.queue.queue)
        for key in keys:
            if key not in queued:
                logger.info("queueing tiling job %s again", key)
                self.submit(db, key)
        return keys

    def start_threads(self):
        """As many worker threads as the ``workers`` setting says."""
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
                # (now and then: to see ``stopping``)
                key = self.queue.get(timeout=1.0)
            except queue.Empty:
                continue
            self.go.wait()  # paused while we waited for the key
            with self.lock:
                if self.stopping:
                    break
                self.running += 1
            try:
                run_job(self.db, key)
            except Exception:
                logger.exception("background tiling: run_job failed")
            finally:
                with self.lock:
                    self.running -= 1
                    if self.queue.empty() and self.running == 0:
                        self.idle.set()

    def wait(self, timeout=None):
        """Until every queued job has run (tests)."""
        return self.idle.wait(timeout)


pool = WorkerPool()


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


def run_job(db, key):
    connection = db.open()
    try:
        claimed = recovery.claim(connection, key)
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
        _take_pending(image, key)
        # an original its client's blob cache cannot hold: said before
        # the copy into the cache begins (blob_cache.py)
        job.warning = blob_cache.warning(image._p_jar.db(),
                                         image.original_size)
        if job.warning:
            logger.warning("tiling job %s: %s", key, job.warning)
        writer = image.start_tiling()
        # its last transaction may be tried again: the store keeps the
        # set until the job says (sink.abort())
        writer.keep_on_abort = True
        job.temp_dir = stores.relative_to_root(writer.unfinished)
        sink = JobSink(writer, job, stop=stop, image=image)
        note(transaction.get(), image, "tiling starts")
        transaction.commit()
        logger.info("tiling job %s started by %s", key, job.owner)
        result = image.cut_tiles(sink, sink.progress)
        _finish(image, job, claim, writer, result)
    except BaseException as e:
        transaction.abort()
        if sink is not None:
            sink.abort()  # whatever failed, no half-built set is left
        if isinstance(e, Stopped):
            recovery.settle(image, job, claim, "queued" if pool.stopping
                            else "stopped", "the image was deleted or given "
                            "a new file while it was tiled")
        elif isinstance(e, ConflictError):
            recovery.settle(image, job, claim, "failed", "could not save "
                            "the new tiles (%s); retile to try again" % e)
        elif isinstance(e, (TilingError, config.ConfigError, ValueError,
                            OSError)):
            recovery.settle(image, job, claim, "failed", str(e))
        else:
            recovery.settle(image, job, claim, "failed", "an unexpected "
                            "error stopped the tiling (see the log)")
            raise
        return
    forget(image._p_jar, key)
    logger.info("tiled %s in the background", key)


def _take_pending(image, key):
    """An upload its request could not store without a copy becomes the
    image's original first, in a transaction of its own (tried again
    after a conflict with an edit of the image)."""
    def take(attempt):
        if not image.take_pending_original():
            return False
        note(transaction.get(), image, "the uploaded file stored")

    def give_up(error):
        raise TilingError(image.filename or image.getId(), "could not store "
                          "the uploaded file (%s); add it again" % error)

    if retry_on_conflict(take, give_up=give_up):
        logger.info("tiling job %s: the uploaded file stored", key)


def _finish(image, job, claim, writer, result):
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
            image.install_tiles(writer, result)
        except ConflictError:
            raise
        except Exception as e:
            if attempt:
                # the store could not keep its set through the conflict
                raise _AfterConflict(e) from e
            raise
        job.end("ready")
        note(transaction.get(), image, "new tiles in place")

    def give_up(error):
        raise error
    try:
        retry_on_conflict(swap_in, give_up=give_up)
    except _AfterConflict as e:
        raise ConflictError("after a conflict: %s" % e.__cause__) from e


class _AfterConflict(Exception):
    """The store lost its set when the transaction was tried again."""


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
