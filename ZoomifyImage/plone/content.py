"""The Dexterity type "Zoomify Image" for Plone 6.2: a second provider of
the deep-zoom face (interfaces.IDeepZoomImage and ITileable), so that the
same tiling, jobs, stores, serving and IIIF work for it. Its original is
the primary field `image` (a NamedBlobImage); its tiles are in a tile
store of its own, kept in step by its lifecycle events (events.py here).

This is the only module of the Plone package that reads the item's
underscore names (tools/check_image_privates.py)."""

import time
import uuid

from AccessControl import ClassSecurityInfo
from AccessControl.class_init import InitializeClass
from plone.dexterity.content import Item
from zope.interface import implementer

from .. import activity
from .. import config
from .. import jobs
from .. import originals
from .. import resolution
from .. import serving
from .. import tiling
from .. import viewer as pages
from ..downloads import DOWNLOAD_ROLES
from ..downloads import DownloadOriginals
from ..jobs import records as job_state
from ..serving import anonymous_may_view
from ..serving import tile_set_of
from ..stores import make_store
from ..traversal import traverse
from . import pas
from .controlpanel import current_site_path
from .controlpanel import site_of
from .interfaces import IZoomifyImageItem


@implementer(IZoomifyImageItem)
class ZoomifyImageItem(Item):
    """A Plone item whose primary image is served as a tile pyramid."""

    security = ClassSecurityInfo()
    # as the Zope class's (registered with Zope by InitializeClass); the
    # profile's rolemap.xml gives them in the site
    security.setPermissionDefault(resolution.FULL_RESOLUTION,
                                  resolution.FULL_RESOLUTION_ROLES)
    security.setPermissionDefault(DownloadOriginals, DOWNLOAD_ROLES)

    # facts of the pyramid (the same names as the Zope class's)
    width = height = 0
    tiers = num_tiles = 0
    tile_size = 256
    tiles_bytes = 0
    status = "empty"       # empty, ready, failed
    error = ""
    tiled_at = 0.0
    tiles_version = 0
    tiling_seconds = 0.0
    engine_used = ""
    original_id = ""
    viewer = "openseadragon"
    # the schema's fields (schema.py); None: the site's settings
    image = None
    storage = None
    quality = None

    _store = None
    _next_store = None
    _job = None
    _tiled_from = None     # the NamedBlobImage the tiles were cut from
    _tiled_quality = None
    _tiled_storage = None
    _site_path = None      # for the site's settings in a worker

    def __init__(self, id=None, **kwargs):
        super().__init__(id, **kwargs)
        self.uid = uuid.uuid4().hex

    # ------------------------------------------------ the original image

    @property
    def filename(self):
        return getattr(self.image, "filename", None) or ""

    @property
    def original_size(self):
        # (ITileable's: the worker's blob-cache warning)
        return getattr(self.image, "size", 0) or 0

    @security.private
    def original_content_type(self):
        # (Dexterity's content_type() is the item's own MIME type)
        return getattr(self.image, "contentType", None) or \
            "application/octet-stream"

    @security.private
    def original_file(self):
        blob = getattr(self.image, "_blob", None)
        return originals.committed_path(blob)

    def _original_path(self):
        return originals.open_path(getattr(self.image, "_blob", None))

    @security.private
    def has_original(self):
        return self.image is not None

    # ------------------------------------- IDeepZoomImage (serving, IIIF)

    @security.private
    def tile_set(self):
        ready = self.status == "ready" and self.width
        return tile_set_of(
            serving.image_key(self.uid), self.tiles_set(), self._store,
            self.tiled_at, anonymous_may_view(self),
            (self.width, self.height, self.tile_size) if ready else None,
            resolution.limit_of(self))

    @security.private
    def tiles_set(self):
        set_id = getattr(self._store, "set_id", None)
        return set_id or "v%d" % self.tiles_version

    @security.private
    def current_status(self):
        return job_state.seen_status(self)

    @security.private
    def progress(self):
        return job_state.job_progress(self)

    @security.private
    def effective_quality(self):
        return self.quality or config.settings().quality

    @security.private
    def effective_storage(self):
        return self.storage or config.settings().storage

    @security.private
    def check_visible(self):
        pages.check_visible(self)

    @security.private
    def tiling_error(self):
        return job_state.last_error(self)

    def __bobo_traverse__(self, REQUEST, name):
        # the tiles, IIIF and manifest.json (traversal.py); everything
        # else as Dexterity traverses it (fields, views, @@images...).
        # A refusal of the pyramid or the original is a 401 that no
        # cache shares (pas.py), not a redirect to the login form
        if name == "download":
            pas.mark(REQUEST)
            REQUEST.RESPONSE.setHeader("Cache-Control", "private, no-cache")
        found = traverse(self, REQUEST, name)
        pas.mark(REQUEST)
        REQUEST.RESPONSE.setHeader("Cache-Control", "private, no-cache")
        return found

    # ------------------------------------------- ITileable (the jobs)

    @security.private
    def tiling_job(self):
        return self._job

    @security.private
    def queue_tiling(self, job):
        self._job = job

    @security.private
    def forget_tiling_job(self):
        self._job = None
        self._tiled_from = None  # tiled on its own

    @security.private
    def cancel_tiling(self):
        self._job_deleted = True  # in the record: an Undo takes it back

    @security.private
    def tiling_cancelled(self):
        return getattr(self, "_job_deleted", False)

    @security.private
    def take_pending_original(self):
        # the image field always holds its file (no pending uploads here)
        return False

    @security.private
    def start_tiling(self):
        # (a background worker has no current site: the site's settings
        # need it, controlpanel.py)
        with site_of(self, self._site_path):
            return self._target_store().writer()

    @security.private
    def cut_tiles(self, sink, progress=None):
        with site_of(self, self._site_path):
            return tiling.cut_original(self, sink, progress)

    @security.private
    def install_tiles(self, writer, result):
        writer.finish()
        self._install(writer.store, result)

    @security.private
    def tiling_failed(self, message):
        if self.status != "ready":  # no previous set to keep serving
            self.status = "failed"
        self.error = message

    # ----------------------------------------------- lifecycle (events.py)

    @security.private
    def needs_tiles(self):
        """A new original, quality or storage since the tiles were cut."""
        if self.image is None:
            return False
        return (self._tiled_from is not self.image
                or self._tiled_quality != self.quality
                or self._tiled_storage != self.effective_storage())

    @security.private
    def tile_if_needed(self, background=None):
        """Tile now, in this transaction, or queue a background job (over
        background-megapixels, as the Zope class): only if needed."""
        if not self.needs_tiles():
            return
        if self._tiled_from is not self.image:
            self.original_id = uuid.uuid4().hex[:16]
        self._tiled_from = self.image
        self._tiled_quality = self.quality
        self._tiled_storage = self.effective_storage()
        if background is None:
            background = tiling.is_big(tiling.plan(
                self._original_path(), self.filename or self.getId(),
                self.tile_size))
        if background:
            self._site_path = current_site_path()
            jobs.new_job(self)
            return
        store = self._target_store()
        writer = store.writer()
        try:
            result = self.cut_tiles(writer)
        except BaseException:
            writer.abort()
            raise
        self._install(store, result)

    @security.private
    def copied(self):
        """A fresh copy: its own uid and its own tile set."""
        self._v_own_uid = True
        old = self._store
        self.uid = uuid.uuid4().hex
        if old is None:
            return
        new = old.for_copy(self.uid)
        if new is None:  # the set stayed behind: tile the copy anew
            self._store = None
            self.status = "empty"
            self._tiled_from = None
            return
        self._store = new
        self._tiles_changed()

    @security.private
    def removed(self):
        if self._store is not None:
            self._store.release()

    def _target_store(self):
        store = self._store
        storage = self.effective_storage()
        if store is None or store.kind != storage:
            store = make_store(storage, self.uid)
            self._next_store = store  # savepoints write it out
        return store

    def _install(self, store, result):
        tiling.note_result(self, result)
        old = self._store
        if old is not None and old is not store:
            old.clear()
        self._store, self._next_store = store, None
        self._tiles_changed()

    def _tiles_changed(self):
        self.status = "ready"
        self.error = ""
        self.tiled_at = time.time()
        self.tiles_version += 1
        activity.note(self)  # IIIF Change Discovery (a job's too)


InitializeClass(ZoomifyImageItem)
