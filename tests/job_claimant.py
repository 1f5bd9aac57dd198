"""A worker process of its own on a ZEO server, for tests/test_job_owners.py:
``python -m tests.job_claimant ADDRESS KEY MODE OFFSET``.

MODE ``hold``: claim job KEY in a worker thread, beat, print "claimed" and
live until killed. MODE ``try``: try to claim it once, print "taken" or
"left". OFFSET (seconds) is added to this process's clock (time.time), as
on a machine whose clock is off. The job's image is a stand-in
(ImageStandIn): the claim, its heartbeat and its database are real."""

import sys
import threading
import time

from persistent import Persistent

STALE_SECONDS = 3.0
BEAT_SECONDS = 0.2


class ImageStandIn(Persistent):
    """What a claim asks of an image (ITileable's job part)."""

    uid = "0123456789abcdef"
    original_id = "o1"
    _job = None

    def tiling_job(self):
        return self._job

    def tiling_cancelled(self):
        return False

    def tiling_failed(self, error):
        self.error = error


def add_job(db, key):
    """An image with a queued job ``key``, committed."""
    import transaction

    from ZoomifyImage.jobs import records
    connection = db.open()
    image = connection.root()["image"] = ImageStandIn()
    image._job = records.TilingJob(key, image.original_id)
    connection.add(image)
    transaction.commit()
    records.registry(connection)[key] = image._p_oid
    transaction.commit()
    connection.close()


def main(address, key, mode, offset):
    import ZODB
    from ZEO.ClientStorage import ClientStorage

    from ZoomifyImage import stores
    from ZoomifyImage.jobs import records
    from ZoomifyImage.jobs import recovery
    from ZoomifyImage.jobs import worker

    clock = time.time
    time.time = lambda: clock() + offset
    records.STALE_SECONDS = STALE_SECONDS
    worker.BEAT_SECONDS = BEAT_SECONDS
    # the tile root is not part of these tests (no unfinished sets)
    stores.remove_unfinished = lambda uid=None, keep=(), owner=None: None
    host, port = address.rsplit(":", 1)
    db = ZODB.DB(ClientStorage((host, int(port))))
    if mode == "try":
        connection = db.open()
        print("taken" if recovery.claim(connection, key) else "left",
              flush=True)
        return

    def hold():
        connection = db.open()
        image, job = recovery.claim(connection, key)
        worker.Heartbeat(db, image, job).start()
        print("claimed", flush=True)
        threading.Event().wait()  # "runs" its job until killed
    thread = threading.Thread(target=hold, name="zoomify-worker-0")
    thread.start()
    thread.join()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))
