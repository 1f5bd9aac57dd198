"""The one maintenance thread (maintenance.py): each chore runs at its own
interval, read before each wait; a chore that fails is logged and the
others go on; a chore named again replaces the first (a database opened
again)."""

import threading
import time

from ZoomifyImage.maintenance import Scheduler


def test_chores_run_at_their_intervals_and_survive_a_failure(caplog):
    scheduler = Scheduler()
    runs = {"fast": 0, "slow": 0, "broken": 0}
    enough = threading.Event()

    def chore(name):
        runs[name] += 1
        if name == "broken":
            raise OSError("a full disc")
        if runs["fast"] >= 8:
            enough.set()
    try:
        scheduler.every("fast", lambda: 0.05, chore, "fast")
        scheduler.every("slow", lambda: 0.3, chore, "slow")
        scheduler.every("broken", lambda: 0.05, chore, "broken")
        assert enough.wait(10)
    finally:
        scheduler.stop()
    assert runs["broken"] >= 3  # failed each time, and ran again
    assert 1 <= runs["slow"] < runs["fast"]
    assert "periodic broken failed" in caplog.text


def test_a_chore_named_again_replaces_the_first():
    scheduler = Scheduler()
    seen = []
    try:
        scheduler.every("scan", lambda: 0.05, seen.append, "old database")
        scheduler.every("scan", lambda: 0.05, seen.append, "new database")
        time.sleep(0.5)
    finally:
        scheduler.stop()
    assert seen and set(seen) == {"new database"}
    assert scheduler.thread is not None
    scheduler.thread.join(2)
    assert not scheduler.thread.is_alive()  # stop() ends the thread
