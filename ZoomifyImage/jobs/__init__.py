"""Background tiling: big images are tiled after the adding transaction
commits, by worker threads in the Zope process with their own ZODB
connections. Jobs reach an image only through its tiling API (ITileable
in interfaces.py), so anything that provides it is tiled the same way.

- records.py: what a job is in the database. Each image's current job is
  a small persistent TilingJob of its own, so progress writes never
  conflict with a manager editing the image. Jobs are listed in a
  registry in the ZODB root.
- recovery.py: a worker claims a job in a transaction of its own: with
  several Zope processes on one ZEO server only one of them wins the
  claim, so a job runs once. Whatever the loser would clean up, it cleans
  up only once it has won. A job whose heartbeat stopped for
  STALE_SECONDS (its process died) is found by the next scan, at startup
  and every job-scan-seconds after (maintenance.py), and run again; the
  dead claim's unfinished set is removed (by its store). After
  MAX_ATTEMPTS claims whose process died, it fails.
- worker.py: the threads that run jobs, and each running job's heartbeat
  thread, which commits the time into a Beat object of its own claim
  every BEAT_SECONDS, whatever the tiler is doing (a long decode reports
  no progress).
- Nothing half-built is ever served: the new tile set is swapped in by the
  job's last transaction, and only while the job is current (the image's
  job, for the original it started from, still this worker's claim, the
  image not deleted); otherwise the set is discarded. That transaction is
  tried again after a ConflictError (records.retry_on_conflict).
- At shutdown (SIGTERM, Ctrl-C) running jobs stop at their next tile and
  are left queued, for the next start or another process.
"""

import logging
import time

import transaction

from .. import config
from ..maintenance import scheduler
from . import records
from .records import ACTIVE
from .records import MAX_ATTEMPTS  # noqa: F401
from .records import STALE_SECONDS  # noqa: F401
from .records import Beat  # noqa: F401
from .records import TilingJob
from .records import TooManyJobs
from .records import is_current  # noqa: F401
from .records import job_of
from .records import registry
from .records import retry_on_conflict  # noqa: F401
from .worker import Heartbeat  # noqa: F401
from .worker import JobSink  # noqa: F401
from .worker import Stopped  # noqa: F401
from .worker import WorkerPool  # noqa: F401
from .worker import pool
from .worker import run_job  # noqa: F401
from .worker import stop_on_signals

logger = logging.getLogger(__name__)

SCAN_SECONDS = 60.0        # how often to look for waiting and stale jobs


def new_job(image):
    """Make a queued job for an image (in the current transaction) and
    have it run when the transaction commits (by this process's workers,
    or, with ``workers 0``, by another process's next scan)."""
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
    image.queue_tiling(job)
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
        job = job_of(jar, oid)
        if job is not None and job.status in ACTIVE and job.user == user:
            waiting += 1
    if waiting >= cap:
        raise TooManyJobs(
            getattr(image, "filename", "") or image.getId(),
            "you have %d images waiting to be tiled, as many as one user "
            "may (max-queued-jobs %d): add this one when they are done"
            % (waiting, cap))


def _after_commit(ok, db, key):
    if ok:
        pool.submit(db, key)


def copied(image):
    """A copy (pasted, or imported from a .zexp) carries a copy of the
    original's job, which no worker will ever update: the copy is tiled
    on its own (its added event queues a job of its own)."""
    job = image.tiling_job()
    if job is None or job.status not in ACTIVE:
        return
    jar = image._p_jar
    if jar is not None and registry(jar).get(job.key) == image._p_oid:
        return  # its own job
    image.forget_tiling_job()


def removed(image):
    """A deleted image: its job must not install a set. Marked on the
    image, so that an Undo of the deletion takes the mark back too."""
    job = image.tiling_job()
    if job is not None and job.status in ACTIVE:
        image.cancel_tiling()


def scan(db):
    """Queue the jobs that wait or whose worker died (at startup and every
    job-scan-seconds), and remove the unfinished sets no live job owns."""
    return pool.scan(db)


def scan_seconds():
    try:
        return max(0.2, config.settings().job_scan_seconds)
    except (TypeError, ValueError):
        return SCAN_SECONDS


def _scan_again():
    if pool.db is not None and pool.enabled and not pool.stopping:
        records.keep_lock()
        pool.scan(pool.db)


def database_opened(event):
    """At startup: find unfinished jobs, clean up after dead ones, start
    the workers (unless ``workers 0``), look for jobs of other processes
    every job-scan-seconds, and stop the workers cleanly on SIGTERM or
    Ctrl-C. Nothing of this in a process that runs no jobs at all
    (zoomify-import)."""
    if not pool.enabled:
        return
    db = event.database
    pool.db = db
    try:
        scan(db)
        if pool.runs_jobs():
            pool.start_threads()
    except Exception:
        logger.exception("could not look for unfinished tiling jobs")
    scheduler.every("tiling job scan", scan_seconds, _scan_again)
    stop_on_signals()
