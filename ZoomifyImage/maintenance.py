"""One thread for the product's periodic chores (the job scan, the sweep
of the tile root, the expiry of abandoned uploads): each module names its
chore and how often, and the chore runs in this thread, one at a time.
Intervals are read from the settings before each wait, so a changed
setting takes effect at the chore's next run."""

import logging
import threading
import time

logger = logging.getLogger(__name__)


class Scheduler:

    def __init__(self):
        self.chores = {}  # name -> [every, function, args, when due]
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopping = False
        self.thread = None

    def every(self, name, seconds, function, *args):
        """Run ``function(*args)`` every ``seconds()`` seconds from now on
        (a chore of the same name is replaced: a database opened again)."""
        with self.lock:
            self.chores[name] = [seconds, function, args,
                                 time.monotonic() + seconds()]
            self.stopping = False
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self._run, daemon=True,
                    name="zoomifyimage-maintenance")
                self.thread.start()
        self.wake.set()

    def stop(self):
        self.stopping = True
        self.wake.set()

    def _run(self):
        while not self.stopping:
            with self.lock:
                now = time.monotonic()
                due = [(name, chore) for name, chore in self.chores.items()
                       if chore[3] <= now]
            for name, (seconds, function, args, _) in due:
                try:
                    function(*args)
                except Exception:
                    logger.exception("periodic %s failed", name)
                with self.lock:
                    if self.chores.get(name, [None])[1] is function:
                        self.chores[name][3] = time.monotonic() + seconds()
            with self.lock:
                first = min((chore[3] for chore in self.chores.values()),
                            default=time.monotonic() + 60)
            self.wake.wait(max(0.0, first - time.monotonic()))
            self.wake.clear()


scheduler = Scheduler()
