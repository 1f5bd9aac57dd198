"""What a background job is in the database: its TilingJob, its claim's
Beat, and the registry of jobs in the ZODB root (the storage of the job
queue, as a maildir is zope.sendmail's), with the one way to commit
them: a transaction tried again after a ConflictError."""

import fcntl
import logging
import os
import tempfile
import threading
import time
import uuid

import transaction
from BTrees.OOBTree import OOBTree
from persistent import Persistent
from persistent.TimeStamp import TimeStamp
from ZODB.POSException import ConflictError
from ZODB.POSException import ReadOnlyError
from ZODB.utils import z64

from ..pyramid import TilingError

logger = logging.getLogger(__name__)

REGISTRY = "zoomifyimage.jobs"
CLOCK = "zoomifyimage.clock"
STALE_SECONDS = 60.0       # no heartbeat for this long: the worker died
MAX_ATTEMPTS = 3           # claims whose process died, then it fails
COMMIT_ATTEMPTS = 3        # a job's last transactions, on ConflictErrors

ACTIVE = ("queued", "tiling")
DIED = ("tiling was attempted %d times and the Zope process died each "
        "time (a decoder crash, or out of memory?); retile to try again")


class TooManyJobs(TilingError):
    """A user has as many images waiting for the worker as one may."""


class TilingJob(Persistent):
    """State of one tiling run of one image."""

    original_id = None   # the original it tiles (unknown for older jobs)
    user = None          # who asked for it (max-queued-jobs counts them)
    claim = None         # the current claim's token
    beat = None          # the current claim's Beat
    warning = ""         # said to the manager: the blob cache too small

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
        # where the claim's unfinished set is (its writer's ``unfinished``)
        self.temp_dir = None

    def last_beat(self):
        """The database's time of the claim's last heartbeat (of the job's
        last change for a job claimed before beats)."""
        return commit_time(self.beat if self.beat is not None else self)

    def stale(self, now=None):
        """True if the worker of a tiling job is gone: its process is
        known dead, or (given ``now``, the database's time from db_now)
        its last heartbeat is older than STALE_SECONDS. Local clocks are
        never compared: machines' clocks differ."""
        if self.status != "tiling":
            return False
        if owner_is_dead(self.owner):
            return True
        if now is None:
            return False  # no time of the database to judge by
        return (now - self.last_beat()) > STALE_SECONDS

    def progress_text(self):
        if self.total:
            return "%d of %d tiles (%d%%)" % (
                self.done, self.total, 100 * self.done // self.total)
        return ""

    def end(self, status, message=""):
        self.status = status
        self.error = message
        self.finished = time.time()
        self.temp_dir = None


class Beat(Persistent):
    """The heartbeat of one claim: an object of its own, so that its
    commits never conflict with the job's progress commits."""

    def __init__(self):
        self.time = time.time()


# -- who owns a claim: a random id made once per process, never a host
# name or a pid (two machines may share both)

_process = {}


def process_id():
    """This process's id, made at its first claim. It holds a lock on a
    file of that name in this machine's temporary directory for its whole
    life: another process of this machine that can take the lock knows
    the owner died (kill -9), without waiting for the heartbeat. The id
    begins with the directory's own id (_directory_id), so that a
    process sharing the directory whose file is gone (removed by a later
    start, below) is still known dead, not taken for another machine's."""
    if "id" not in _process:
        try:
            os.makedirs(_lock_dir(), exist_ok=True)
            ident = _directory_id() + uuid.uuid4().hex
            lock = open(os.path.join(_lock_dir(), ident), "a")
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _process["lock"] = lock
        except OSError:
            logger.warning("no process lock in %s: a dead process's jobs "
                           "wait for the heartbeat", _lock_dir())
            ident = uuid.uuid4().hex  # no lock: judged by heartbeat only
        _process["id"] = ident
        _remove_dead_locks()
    return _process["id"]


DIRECTORY_ID = ".directory"


def _directory_id():
    """The id of the lock directory, made once by the first process that
    uses it (8 letters and digits)."""
    path = os.path.join(_lock_dir(), DIRECTORY_ID)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path) as f:
            ident = f.read().strip()
        if len(ident) != 8 or not ident.isalnum():
            # being written by another process, or damaged
            raise OSError("no directory id in %s" % path)
        return ident
    ident = uuid.uuid4().hex[:8]
    with os.fdopen(fd, "w") as f:
        f.write(ident)
    return ident


def _shares_this_directory(ident):
    """True if ``ident`` is the id of a process whose lock file is (or
    was) in this machine's lock directory."""
    ours = process_id()
    return "lock" in _process and len(ident) == 40 and ident[:8] == ours[:8]


def keep_lock():
    """Our lock file and the directory's id, touched (a cleaner of old
    temporary files must not take them from a process that runs for
    weeks); our lock file made again if one took it anyway (the
    directory too). From the job scan."""
    if "lock" not in _process:
        return
    path = os.path.join(_lock_dir(), _process["id"])
    try:
        # a directory id made again is another one: the processes that
        # went on under the old one are then judged as other machines'
        # (by heartbeat), which is safe; so it is only touched
        os.utime(os.path.join(_lock_dir(), DIRECTORY_ID))
    except OSError:
        pass
    try:
        if os.path.exists(path):
            os.utime(path)
            return
        os.makedirs(_lock_dir(), exist_ok=True)
        lock = open(path, "a")
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _process["lock"].close()
        _process["lock"] = lock
    except OSError:
        logger.warning("the process lock %s could not be kept", path)


def _remove_dead_locks():
    """The files of this machine's processes that died (their lock is
    free), so that they do not pile up over restarts."""
    try:
        names = os.listdir(_lock_dir())
    except OSError:
        return
    for name in names:
        if name != _process["id"] and name.isalnum():
            owner_is_dead(name + ":")


def _lock_dir():
    return os.path.join(tempfile.gettempdir(),
                        "zoomifyimage-processes-%d" % os.getuid())


def _forget_process():
    # a forked child is a process of its own (its parent keeps the lock)
    _process.clear()


os.register_at_fork(after_in_child=_forget_process)


def worker_name():
    return "%s:%s" % (process_id(), threading.current_thread().name)


def owner_is_dead(owner):
    """A worker known to be gone: a thread of this process that ended, or
    a process of this machine whose lock is free (after a kill -9 or a
    crash). Of any other owner only the heartbeat tells."""
    try:
        ident, thread = owner.split(":", 1)
    except (AttributeError, ValueError):
        return False
    if not ident.isalnum():
        return False  # not a process id (an owner of older releases)
    if ident == _process.get("id"):
        return thread not in {t.name for t in threading.enumerate()}
    path = os.path.join(_lock_dir(), ident)
    try:
        lock = open(path, "r")
    except FileNotFoundError:
        # a process of this directory holds its file while it lives: gone,
        # it died and a later start removed the file; else it is another
        # machine's (or an older release's) process
        return _shares_this_directory(ident)
    except OSError:
        return False
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # held: the process lives
        try:
            os.remove(path)
        except OSError:
            pass
        return True


# -- time as the database sees it: a commit's transaction id holds the
# time of the storage that gave it (the ZEO server, PostgreSQL), the one
# clock all clients share


def commit_time(ob):
    """The database's time of the last commit of ``ob``, as this
    connection sees it (0 if never committed)."""
    ob._p_activate()
    serial = ob._p_serial
    return 0.0 if serial in (None, z64) else TimeStamp(serial).timeTime()


class Clock(Persistent):
    """Written to learn the database's time: the time of our own commit."""
    ticks = 0


def db_now(connection):
    """The database's time now: that of a transaction committed by this
    connection (its own transaction; the caller begins a new one), or None
    if it could not be committed for conflicts."""
    def tick(attempt):
        root = connection.root()
        if CLOCK not in root:
            root[CLOCK] = Clock()
        root[CLOCK].ticks += 1
        transaction.get().note("Zoomify Image jobs: the database's time "
                               "(background job)")
    try:
        if not retry_on_conflict(tick):
            return None
    except ReadOnlyError:
        transaction.abort()
        return None  # a read-only client judges by known deaths only
    return commit_time(connection.root()[CLOCK])


def registry(connection):
    """The job registry (key -> image oid) in the ZODB root."""
    root = connection.root()
    if REGISTRY not in root:
        root[REGISTRY] = OOBTree()
    return root[REGISTRY]


def job_of(connection, oid):
    """The current job of the image ``oid``, or None (gone, or not one)."""
    try:
        return connection.get(oid).tiling_job()
    except (KeyError, AttributeError):  # POSKeyError is a KeyError
        return None


def is_current(image, key, claim=None):
    """Whether job ``key`` may still install its result: it is the image's
    job, for the original it started from, the image is not deleted, and
    (given a claim) the job is still that claim's."""
    job = image.tiling_job()
    return (job is not None and job.key == key
            and job.original_id in (None, image.original_id)
            and not image.tiling_cancelled()
            and (claim is None or job.claim == claim))


def note(txn, image, what):
    """Say in the Undo list what a job's transaction did: without it the
    ZMI's Undo tab filled with blank entries, five or more per background
    tiling (issue 23, newcomer 6)."""
    try:
        name = image.getId()
    except Exception:  # deleted meanwhile, not loadable, not an OFS item
        name = "?"
    txn.note("Zoomify Image %s: %s (background job)" % (name, what))


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


def forget(connection, key):
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


# -- an image's job as its pages see it (IZoomifyImage: current_status,
# progress, tiling_error), read through its tiling API only

def active_job(image):
    """The image's job that waits or tiles, or None."""
    job = image.tiling_job()
    return job if job is not None and job.status in ACTIVE else None


def seen_status(image):
    """empty, queued, tiling, ready or failed, as a visitor sees it:
    while a retile runs the previous set is served and it is ready."""
    job = image.tiling_job()
    if job is not None and image.status != "ready" and (
            job.status in ("queued", "tiling", "failed")):
        return job.status
    return image.status


def job_progress(image):
    """(done, total) of the image's running job, or None."""
    job = active_job(image)
    return None if job is None else (job.done, job.total)


def last_error(image):
    """The image's last tiling error, whole (pages take the server's
    paths out), or ''."""
    job = image.tiling_job()
    return image.error or (job.error if job is not None
                           and job.status == "failed" else "")
