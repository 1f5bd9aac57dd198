"""Recovery: a worker claims a job in a transaction of its own (with
several Zope processes on one ZEO server only one wins), takes over the
job of a worker that died, settles how a claim ended, and finds the jobs
that wait or whose worker died (at start-up and every job-scan-seconds).
What a dead claim left behind is the stores' to remove
(stores.remove_unfinished), once our claim has won."""

import logging
import time
import uuid

import transaction
from ZODB.POSException import ConflictError

from .. import stores
from .records import ACTIVE
from .records import DIED
from .records import MAX_ATTEMPTS
from .records import Beat
from .records import db_now
from .records import forget
from .records import is_current
from .records import job_of
from .records import note
from .records import owner_is_dead
from .records import registry
from .records import retry_on_conflict
from .records import worker_name

logger = logging.getLogger(__name__)


def claim(connection, key):
    """Claim the job for this worker: (image, job), or None if it is not
    ours to run. A dead claim's unfinished sets are removed only once our
    claim has committed: a claimant that loses removes nothing."""
    now = None
    while True:
        transaction.begin()
        oid = registry(connection).get(key)
        if oid is None:
            return None
        job = job_of(connection, oid)
        if job is None or job.key != key or job.status not in ACTIVE:
            forget(connection, key)  # gone, done, or replaced by a newer job
            return None
        if (job.status != "tiling" or now is not None
                or owner_is_dead(job.owner)):
            break
        # the database's time, then a transaction that starts after it
        transaction.abort()
        now = db_now(connection)
        if now is None:
            return None  # the scan tries again
    image = connection.get(oid)
    if job.status == "tiling" and not job.stale(now):
        transaction.abort()  # its worker is alive
        return None
    took_over = job.status == "tiling"  # from a worker that died
    dead_owner = job.owner
    if not is_current(image, key):
        job.end("stopped", "the image was deleted or given a new file "
                "before the job ran")
    elif job.status == "tiling" and job.attempts >= MAX_ATTEMPTS:
        job.end("failed", DIED % job.attempts)
        image.tiling_failed(job.error)
    else:
        job.status = "tiling"
        job.owner = worker_name()
        job.claim = uuid.uuid4().hex
        job.beat = Beat()
        job.started = job.heartbeat = time.time()  # shown, not judged
        job.attempts += 1
        job.done = 0
        job.temp_dir = None
    note(transaction.get(), image, "job taken (%s)" % job.status)
    try:
        transaction.commit()
    except ConflictError:
        transaction.abort()  # another worker (process) claimed it
        return None
    if took_over:
        # ours now, taken from a dead worker: an unfinished set of the
        # image whose writer is dead is the dead attempt's, recorded or
        # not (a live writer's, such as a retile in a request, stays)
        stores.remove_unfinished(uid=image.uid, owner=dead_owner)
    if job.status != "tiling":
        logger.warning("tiling job %s %s: %s", key, job.status, job.error)
        forget(connection, key)
        return None
    return image, job


def settle(image, job, claim, status, message=""):
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
            job.end("stopped" if status == "queued" else status, message)
            if status == "failed" and current:
                image.tiling_failed(job.error)
        note(transaction.get(), image, "tiling " + job.status)
    if not retry_on_conflict(record) and job.claim != claim:
        return
    if job.status == "queued":
        logger.info("tiling job %s left queued: shutting down", job.key)
        return
    (logger.warning if job.status == "failed" else logger.info)(
        "tiling %s %s: %s", job.key, job.status, job.error)
    forget(image._p_jar, job.key)


def waiting(db):
    """The keys of the jobs that wait or whose worker died (the registry
    survives restarts and is shared over ZEO); then the unfinished sets
    that no live job owns are removed."""
    connection = db.open()
    live = set()
    keys = []
    try:
        # the database's time, judged against beats read after it
        now = db_now(connection) if len(registry(connection)) else None
        transaction.begin()
        for key, oid in list(registry(connection).items()):
            job = job_of(connection, oid)
            if job is None:
                continue
            if job.status == "queued" or job.stale(now):
                keys.append(key)
            elif job.status == "tiling" and job.temp_dir:
                live.add(stores.under_root(job.temp_dir))
        transaction.abort()
    finally:
        connection.close()
    stores.remove_unfinished(keep=live)
    return keys
