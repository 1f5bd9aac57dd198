"""The maintenance lease (lease.py), judged by the database's clock: a
holder on another machine (no lock file here to tell its death) keeps the
lease while it renews it, and loses it to another client once it has not
renewed it for maintenance-lease-seconds. The processes are played by
process ids in this process; the kill -9 of a real holder is in
test_cluster.py."""

import os
import time

import pytest
import ZODB
from ZODB.MappingStorage import MappingStorage

from ZoomifyImage import lease
from ZoomifyImage.jobs import records

SECONDS = 0.5
# processes of other machines (no lock files here)
ELSEWHERE = "e1sewhere" * 4
OTHER = "0ther" * 6


@pytest.fixture
def db(monkeypatch):
    monkeypatch.setattr(lease, "lease_seconds", lambda: SECONDS)
    db = ZODB.DB(MappingStorage())
    yield db
    db.close()


def as_process(monkeypatch, ident):
    monkeypatch.setattr(records, "process_id", lambda: ident)


def holder(db):
    connection = db.open()
    try:
        return connection.root()[lease.ROOT_KEY].holder
    finally:
        connection.close()


def test_the_first_client_takes_the_lease_and_keeps_it_by_renewing(
        db, monkeypatch):
    def holds(ident):
        with monkeypatch.context() as m:
            as_process(m, ident)
            return lease.holds(db)
    assert holds(ELSEWHERE)
    assert holder(db) == ELSEWHERE
    # renewed in time: not the other's, however often it asks
    for _ in range(3):
        assert not holds(OTHER)
        assert holds(ELSEWHERE)
        time.sleep(SECONDS / 3)
    assert holder(db) == ELSEWHERE
    # not renewed for longer than the lease: the other's
    time.sleep(SECONDS * 1.2)
    assert holds(OTHER)
    assert holder(db) == OTHER
    # and the old holder, back, finds it taken
    assert not holds(ELSEWHERE)
    assert holds(OTHER)


def test_a_dead_holder_of_this_machine_loses_it_at_once(db, monkeypatch):
    """A process of this machine that died leaves its lock file free (the
    kernel let go of its flock): known dead without waiting for the lease
    to run out."""
    import os
    dead = "dead" * 8
    records.process_id()  # ours first (it removes free lock files)
    os.makedirs(records._lock_dir(), exist_ok=True)
    open(os.path.join(records._lock_dir(), dead), "w").close()  # unlocked
    with monkeypatch.context() as m:
        as_process(m, dead)
        assert lease.holds(db)
    assert lease.holds(db)  # at once, not SECONDS later
    assert holder(db) == records.process_id()


def test_a_command_that_runs_no_jobs_never_takes_it(db, monkeypatch):
    """zoomify-import opens the database as a server does: it must not
    leave with the lease (the servers of other machines would wait for
    it to run out)."""
    from ZoomifyImage.jobs import pool
    monkeypatch.setattr(pool, "enabled", False)
    assert not lease.holds(db)
    connection = db.open()
    assert lease.ROOT_KEY not in connection.root()
    connection.close()


def test_a_dead_holder_is_known_dead_after_another_start_removed_its_file(
        db):
    """Each starting process removes the lock files of this machine's dead
    processes (they would pile up): the holder that died before two
    restarts (kill -9, then a server started and stopped) has no file any
    more, and is still known dead at once, not taken for a process of
    another machine that waits out the lease (test_faults' kill -9: the
    start-up sweep never ran)."""
    import subprocess
    import sys
    say_id = ("from ZoomifyImage.jobs import records; "
              "print(records.process_id())")

    def process():
        return subprocess.run([sys.executable, "-c", say_id], check=True,
                              capture_output=True, text=True).stdout.strip()
    dead = process()   # exits: its lock is free, its file stays
    process()          # another start removes the dead one's file
    assert not os.path.exists(os.path.join(records._lock_dir(), dead))
    connection = db.open()
    connection.root()[lease.ROOT_KEY] = lease.Lease()
    connection.root()[lease.ROOT_KEY].holder = dead
    import transaction
    transaction.commit()
    connection.close()
    assert lease.holds(db)
    assert holder(db) == records.process_id()


def test_a_live_process_keeps_its_lock_when_a_cleaner_took_the_files():
    """A cleaner of old temporary files removed the lock directory's id
    and our lock file: the job scan's keep_lock makes our lock file
    again (held: we are not taken for dead); the id is not made again."""
    import fcntl
    ours = records.process_id()
    directory = records._lock_dir()
    id_file = os.path.join(directory, records.DIRECTORY_ID)
    with open(id_file) as f:
        directory_id = f.read()
    os.remove(id_file)
    os.remove(os.path.join(directory, ours))
    try:
        records.keep_lock()
        assert not os.path.exists(id_file)
        with open(os.path.join(directory, ours)) as lock:
            with pytest.raises(OSError):  # held by us: alive to others
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        # the other test processes of this machine go on under this id
        with open(id_file, "w") as f:
            f.write(directory_id)
