"""The seam between the jobs and what they tile (issue 24): the jobs know
an object only by its tiling API (ITileable), so a plain persistent
object that is not our Zope class is tiled by the real workers into a
real store; and a process with ``workers 0`` queues jobs but runs none,
for another process's workers."""

import io
import os
import time
import uuid

from persistent import Persistent
from PIL import Image
from zope.interface import implementer
from zope.interface.verify import verifyObject

from tests.images import save
from tests.images import smooth
from tests.zope_fixtures import add
from tests.zope_fixtures import tile_root
from tests.zope_fixtures import zope_root
from ZoomifyImage import jobs
from ZoomifyImage.interfaces import ITileable
from ZoomifyImage.pyramid import tile_image
from ZoomifyImage.stores import make_store


@implementer(ITileable)
class Sketch(Persistent):
    """A picture on disc and its tiles: no Zope item, no OFS, no
    ZoomifyImage, only the tiling API."""

    def __init__(self, path, storage):
        self.uid = uuid.uuid4().hex
        self.original_id = "first"
        self.path = path
        self.original_size = os.path.getsize(path)
        self.storage = storage
        self.store = self.next_store = None
        self.job = None
        self.cancelled = False
        self.size = None
        self.error = ""

    def tiling_job(self):
        return self.job

    def queue_tiling(self, job):
        self.job = job

    def forget_tiling_job(self):
        self.job = None

    def cancel_tiling(self):
        self.cancelled = True

    def tiling_cancelled(self):
        return self.cancelled

    def take_pending_original(self):
        return False  # its picture is on disc from the start

    def start_tiling(self):
        # in the database before the set is placed (its owner)
        self.next_store = make_store(self.storage, self.uid)
        return self.next_store.writer()

    def cut_tiles(self, sink, progress=None):
        return tile_image(self.path, sink, tile_size=128, progress=progress)

    def install_tiles(self, writer, result):
        writer.finish()
        self.store, self.next_store = writer.store, None
        self.size = (result.width, result.height)

    def tiling_failed(self, message):
        self.error = message


def test_a_plain_persistent_object_is_tiled_by_the_real_jobs(
        zodb, tmp_path, zope_settings):
    zope_settings(**{"tile-root": str(tmp_path / "tiles")})
    path = save(smooth(600, 400), tmp_path / "sketch.png")
    sketches = {}
    with zope_root() as app:
        for storage in ("filesystem", "zodb"):
            sketch = Sketch(path, storage)
            assert verifyObject(ITileable, sketch)
            app._p_jar.root()["sketch-" + storage] = sketch
            sketches[storage] = jobs.new_job(sketch).key
    assert jobs.pool.wait(60)
    with zope_root(commit=False) as app:
        for storage, key in sketches.items():
            sketch = app._p_jar.root()["sketch-" + storage]
            assert sketch.job.status == "ready", sketch.job.error
            assert sketch.size == (600, 400) and sketch.error == ""
            assert key not in jobs.registry(app._p_jar)
            names = sketch.store.names()
            assert "ImageProperties.xml" in names
            assert b'WIDTH="600" HEIGHT="400"' in sketch.store.get(
                "ImageProperties.xml")
            # the top tier: the whole picture in one 128-pixel tile
            top = Image.open(io.BytesIO(sketch.store.get(
                "TileGroup0/0-0-0.jpg")))
            assert top.format == "JPEG" and max(top.size) <= 128
    assert os.listdir(tmp_path / "tiles" / ".partial") == []


def test_a_web_only_process_queues_jobs_for_another(small_threshold, folder,
                                                    tmp_path, zope_settings):
    """``workers 0``: the job is queued in the database and nothing is
    tiled here; a process with workers finds it at its scan and runs
    it."""
    zope_settings(workers="0")
    path = save(smooth(1500, 1000), tmp_path / "big.png")
    add(folder, path, "big", storage="filesystem")
    time.sleep(1.5)  # a worker would have claimed it by now
    with zope_root(commit=False) as app:
        image = app[folder]["big"]
        job, uid = image.tiling_job(), image.uid
        assert job.status == "queued" and image.current_status() == "queued"
        assert job.key in jobs.registry(app._p_jar)
        db = app._p_jar.db()
    partial = os.path.join(tile_root(), ".partial")
    assert not [n for n in os.listdir(partial) if n.startswith(uid)] \
        if os.path.isdir(partial) else True
    # the other process: the same database, with a worker
    zope_settings(workers="1")
    assert jobs.scan(db) == [job.key]
    assert jobs.pool.wait(60)
    with zope_root(commit=False) as app:
        image = app[folder]["big"]
        assert image.current_status() == "ready" and image.width == 1500
