from zope.interface import Attribute
from zope.interface import Interface


class ITileable(Interface):
    """What the background jobs (jobs/) need of an object to tile it: any
    persistent object that provides this is tiled by the real workers
    into a real store. Not published (security.private on the image)."""

    uid = Attribute("a stable id of the object (its tile directory, the "
                    "names of its unfinished sets)")
    original_id = Attribute("the id of the original the tiles are cut "
                            "from: a new original changes it, and a job "
                            "that started from another is no longer "
                            "current")
    original_size = Attribute("bytes of the original file (a worker "
                              "warns of one its blob cache cannot hold)")

    def tiling_job():
        """The current or last background TilingJob, or None."""

    def queue_tiling(job):
        """``job`` is the object's job from now on (the one before it is
        no longer current)."""

    def forget_tiling_job():
        """The job came along with a copy: forget it; the copy is tiled
        on its own."""

    def cancel_tiling():
        """The object is deleted: no job may install a set (marked on the
        object, so that an Undo of the deletion takes it back)."""

    def tiling_cancelled():
        """Whether cancel_tiling() was called."""

    def take_pending_original():
        """The job's first step: an original still in the upload directory
        (an upload its request could not store without a copy:
        originals.PendingUpload) becomes the object's own, in the job's
        transaction; True if there was one. Raises TilingError when it is
        gone."""

    def start_tiling():
        """An ITileWriter for a new set. The job commits the tiles as
        they come and keeps the writer's set across a retried commit
        (keep_on_abort); it calls install_tiles() or writer.abort()."""

    def cut_tiles(sink, progress=None):
        """Tile the committed original into ``sink`` (an ITileSink),
        calling ``progress(done, total)``; the TilingResult. Raises
        TilingError."""

    def install_tiles(writer, result):
        """Swap the set ``writer`` wrote in, with the facts of ``result``,
        in the current transaction (which may be tried again after a
        ConflictError: the writer keeps its set)."""

    def tiling_failed(message):
        """A background job failed with ``message``: say so (a previous
        set, if any, is still served)."""


class IDeepZoomImage(Interface):
    """An image with a pyramid: the face that serving.py (tiles,
    ImageProperties.xml, 304) and iiif.py (info.json, manifest, composed
    images) know it by, whatever its class. Its tiles are published by
    traversal.traverse from its __bobo_traverse__; the View permission
    of the object guards them. A provider declares these methods
    security.private where they are not published."""

    def tile_set():
        """The tile set served now, a tileset.TileSet (immutable: taken
        once per request). Its layout is None while there is no set to
        serve; serving.tile_set_of makes one."""

    def current_status():
        """'empty', 'queued', 'tiling', 'ready' or 'failed', as a visitor
        sees it (IIIF answers 503 while queued or tiling)."""

    def effective_quality():
        """The JPEG quality (1-100) of the pixels IIIF makes."""

    def title_or_id():
        """The label of the image: plain text, never markup."""

    def absolute_url():
        """The URL of the image (IIIF ids are made of it)."""


class IDescriptiveMetadata(Interface):
    """What a catalogue record says of an image (description.py): plain
    texts stored on the image, '' where not given, checked when set.
    iiif.py writes them into the manifest, viewer.py onto the viewer
    page (text and schema.org JSON-LD), zmi.py edits them and
    importer.py sets them."""

    summary = Attribute("a description of the image")
    creator = Attribute("who made the work")
    date = Attribute("when: an ISO 8601 year, month, day or day and "
                     "time with its zone (the manifest's navDate)")
    source = Attribute("where the work or the file comes from")
    identifier = Attribute("the work's id in a catalogue")
    attribution_label = Attribute("the label of the required statement "
                                  "('' : Attribution)")
    attribution = Attribute("the required statement ('' : the site's)")
    rights = Attribute("a rights URI IIIF takes ('' : the site's)")
    language = Attribute("the language tag of these texts ('': none)")
    metadata = Attribute("labelled pairs: a tuple of description.Pair")

    def descriptive_metadata():
        """The description.Description of the image, the site's rights
        and attribution where the image sets none. (Not `description`:
        Plone's and CMF's content have a text of that name.)"""

    def describe(**values):
        """Set the fields given (description.FIELDS) after checking all
        of them (ValueError names the first bad one, and nothing is
        changed): True if anything changed."""


class IZoomifyImage(IDeepZoomImage, ITileable, IDescriptiveMetadata):
    """A high-resolution image served as Zoomify tiles: the face of the
    OFS content class for events.py, the viewer pages (viewer.py) and
    uploads.py."""

    width = Attribute("width of the full image in pixels")
    height = Attribute("height of the full image in pixels")
    tile_size = Attribute("side of a tile in pixels")
    storage = Attribute("'zodb', 'filesystem' or 's3'")
    status = Attribute("'empty', 'ready' or 'failed'")
    viewer = Attribute("'openseadragon', 'iiif' or 'flash'")
    preview_size = Attribute("the longer side those without View Zoomify "
                             "full resolution see (0: none; None: the "
                             "site's preview-size)")
    tiles_version = Attribute("counts the sets made (status_json)")
    # the facts of the Edit tab (zmi.py)
    tiers = Attribute("tiers of the pyramid")
    num_tiles = Attribute("tiles of the set")
    tiles_bytes = Attribute("bytes of the set")
    tiling_seconds = Attribute("how long the last tiling took")
    engine_used = Attribute("the engine that decoded the original")
    error = Attribute("why the last tiling failed, or ''")
    filename = Attribute("the original file's name")
    content_type = Attribute("the original file's media type")
    tiled_at = Attribute("when the set served was made (Last-Modified)")

    # the lifecycle events (events.py)
    def added():
        """Added to a container: tile it (an import gets its own set)."""

    def copied():
        """This object is a fresh copy: its own id and its own tile set."""

    def removed():
        """Removed: its filesystem tiles go when the transaction commits."""

    def tile_if_needed(background=None, progress=None):
        """Tile now, or queue a background job, if a new original (or a
        new quality) asks for new tiles; else nothing."""

    # what the viewer pages show
    def check_visible():
        """Raise NotFound to a visitor who may not see the image (its
        first tiling failed)."""

    def progress_text():
        """The running job's progress for a page, or ''."""

    def tiling_error():
        """The last tiling error (the whole text, for the log-minded
        manager: pages take the server's paths out), or ''."""

    def has_original():
        """True if the original file is there (the download link)."""

    def original_file():
        """The path of the original's committed file (of its uncommitted
        one in the transaction that set it), or None: for the download
        (serving.download) and the tiler."""

    def download(REQUEST=None, RESPONSE=None):
        """The original file, with Range (serving.download)."""

    def tiles_url(path_only=False):
        """The URL of the tile set's folder, ending with a slash."""

    def tiles_set():
        """The id of the set served (the viewer's ?v=)."""

    def progress():
        """(done, total) of the running job, or None."""

    # the Edit tab (zmi.py)
    def edit(title=None, storage=None, quality=None, viewer=None,
             file=None, preview_size=False):
        """Change title and settings (a new file is tiled anew): True if
        anything changed; ValueError or TilingError for a bad value."""

    def retile():
        """Cut the tiles again from the original, now or in a job (the
        Edit tab's Retile, zmi.py); TilingError for a bad original."""

    # uploads.py ends a resumable upload of a new file here
    def manage_upload(file=None, REQUEST=None):
        """Replace the image with a new file and tile it."""


class ITileSink(Interface):
    """Where the tiler puts what it makes (pyramid/tiler.py): every tile
    and ImageProperties.xml by name ("TileGroup0/0-0-0.jpg"), then
    finish() on success or abort() on failure. Nothing written may be
    visible as a tile set before finish(); after abort() the destination
    is as it was."""

    def put(name, data):
        """Store the bytes of one tile (or of ImageProperties.xml)."""

    def file_for(name):
        """A path the encoder threads may write the tile to themselves, or
        None: then put() is called with the bytes."""

    def finish():
        """The set is complete: make it the one served (a Zope store: when
        the transaction commits)."""

    def abort():
        """Forget the set being written."""


class ITileWriter(ITileSink):
    """A store's writer of a new set (ITileStore.writer())."""

    store = Attribute("the ITileStore whose set this writes")
    unfinished = Attribute(
        "where the unfinished set is while it is written (a recovery "
        "keeps it while its job lives), or None")
    keep_on_abort = Attribute(
        "True: an aborted transaction keeps the set for the next attempt "
        "of the same commit (a background job's last transaction); only "
        "abort() forgets it. False by default")

    def put_file(name, path):
        """Store a tile from a file (a copy between stores)."""


class ITileStore(Interface):
    """Where the tiles of one image live.

    A new tile set is written through ``writer()`` (an ITileSink); it
    replaces the current set only when the transaction commits, so
    readers never see a half built set and an aborted transaction leaves
    the old one in place.
    """

    kind = Attribute("'zodb', 'filesystem' or 's3'")
    set_id = Attribute("the id of the set served (ETag, ?v=), or None")

    def writer():
        """An ITileSink for a new set."""

    def get(name):
        """The tile's bytes, or None when missing."""

    def size(name):
        """Bytes of a tile, or None when missing."""

    def names():
        """Names of all tiles (and ImageProperties.xml) of the set."""

    def copy_from(other):
        """Replace this store's set with a copy of another store's set."""

    def clear():
        """Let go of the set (when the transaction commits)."""

    def release():
        """The image is deleted: let go of what outlives its database
        record (a filesystem set waits for the sweep, for an Undo); the
        ZODB's tiles go with the record."""

    def for_copy(uid):
        """The store a copy of the image (with the new ``uid``) should
        use: a copy of this one, this one itself if the copy carries it
        along (the ZODB), or None when the tiles did not come along (the
        copy is tiled anew from its original)."""

    def older_set(set_name):
        """``set_name`` if it names the set this store served until a few
        minutes ago and still has (a page built before a retile asks for
        it), else None."""

    def file_path(name, set_name=None):
        """The file of a tile a front-end or a copy may read, or None (no
        such tile, or a store without files)."""

    def front_end_path(set_name=None):
        """The set's directory relative to the tile root, for a front-end
        that serves it (tile-url, X-Accel-Redirect), or None when a
        front-end cannot serve this store."""


# the tiler's own sinks: declared here, as the tiler imports nothing of
# Zope's (zope.interface included)
def _declare_pyramid_sinks():
    from zope.interface import classImplements

    from .pyramid.sinks import DirectorySink
    from .pyramid.sinks import MemorySink
    classImplements(DirectorySink, ITileSink)
    classImplements(MemorySink, ITileSink)


_declare_pyramid_sinks()
