"""The original image file of an image: what is accepted as a file, and
its bytes streamed into a new blob (content.py keeps the blob)."""

import collections
import io
import logging
import mimetypes
import os
import secrets
import shutil

from ZODB.blob import Blob
from ZODB.blob import BlobStorageMixin

from .pyramid import TilingError

logger = logging.getLogger("ZoomifyImage")

CHUNK = 1 << 20  # copying uploads into blobs
NOT_AN_UPLOAD = ("The image file must be uploaded with the form (a file "
                 "field), not named as text.")

Original = collections.namedtuple(
    "Original", "blob filename size content_type")


def has_file(file):
    """True for an upload, an open file or bytes; False for none (an empty
    file input). Text is refused: from the web it would name a file on the
    server (zoomify-import passes an open file)."""
    if file is None or (isinstance(file, str) and not file):
        return False
    if isinstance(file, bytes):
        return bool(file)
    if not hasattr(file, "read"):
        # text, numbers, lists (file:int, file:list, ...) from a form
        raise ValueError(NOT_AN_UPLOAD)
    filename = getattr(file, "filename", None)
    if filename is not None and not filename:
        return False  # an empty file input of a form
    return True


class UploadOnDisc(io.FileIO):
    """A complete resumable upload's file (uploads.py), open for reading,
    with the name the user gave it: a new original takes it without a
    copy where it can (take_by_link). Only our code makes one: nothing from
    the web names a path on the server."""

    def __init__(self, path, filename):
        super().__init__(path, "rb")
        self.path = path
        self.filename = filename


class PendingUpload(UploadOnDisc):
    """A complete resumable upload that the request cannot make the blob
    without copying it (commits_by_rename): the new image's background job
    takes it (take_pending), and the request ends at once."""

    def __init__(self, path, filename, upload_id):
        super().__init__(path, filename)
        self.upload_id = upload_id


def pending_path(upload_id):
    """The file of the complete upload ``upload_id`` (a PendingUpload's)."""
    from . import config
    return os.path.join(config.settings().upload_dir, upload_id + ".part")


def commits_by_rename(jar, path):
    """Whether the file ``path`` can become a blob of the storage of
    ``jar`` with no copy in this transaction: a link into its temporary
    blob directory (the same filesystem), and a commit that moves the file
    by a rename (FileStorage, ZEO with a shared blob directory). A ZEO
    client with a blob cache, and RelStorage, send the file to the server
    at the commit: a copy, in the request that commits."""
    directory = blob_temporary_directory(jar)
    if directory is None:
        return False
    try:
        if os.stat(path).st_dev != os.stat(directory).st_dev:
            return False
    except OSError:
        return False
    storage = jar.db().storage
    storage = getattr(storage, "changes", storage)  # a DemoStorage's own
    return isinstance(storage, BlobStorageMixin) or bool(
        getattr(storage, "shared_blob_dir", False))


def new_original(file, jar=None):
    """An upload (or an open file, or bytes) streamed into a new blob,
    never held whole in memory: an Original. A complete resumable upload
    becomes the blob without a copy where the database's blob directory
    is on its filesystem (``jar``: the connection the blob will be
    stored by). TilingError for an empty file."""
    if isinstance(file, str):
        raise ValueError(NOT_AN_UPLOAD)
    blob = Blob()
    linked = False
    if isinstance(file, UploadOnDisc) and jar is not None:
        # its file made in the storage's temporary directory, from where
        # the commit moves it by a rename
        jar.add(blob)
        linked = take_by_link(blob, file.path, jar)
    if linked:
        name, size = file.filename, os.fstat(file.fileno()).st_size
    else:
        name, size = _copy_into(blob, file)
    if size == 0:
        raise TilingError(name or "upload", "the file is empty")
    headers = getattr(file, "headers", None)
    content_type = (headers.get("content-type") if headers else "") or \
        content_type_of(name)
    return Original(blob, name, size, content_type)


def content_type_of(name):
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def remove_taken(committed, path):
    """After the commit that stored (or dropped) a PendingUpload's image:
    its file goes."""
    if committed:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def _copy_into(blob, file):
    """(file name, size): the bytes copied into the new ``blob``."""
    name = ""
    with blob.open("w") as out:
        if isinstance(file, bytes):
            out.write(file)
        else:
            if hasattr(file, "seek"):
                file.seek(0)
            shutil.copyfileobj(file, out, CHUNK)
            # a form upload has .filename (maybe a Windows path); an
            # open file has .name
            name = getattr(file, "filename", None) or getattr(
                file, "name", "") or ""
            name = str(name).replace("\\", "/").rsplit("/", 1)[-1]
        size = out.tell()
    return name, size


def take_by_link(blob, path, jar):
    """Give the new ``blob`` (added to ``jar``) the file ``path`` under a
    second name (a hard link in the storage's temporary directory, which
    the blob takes by a rename: Blob.consumeFile): no byte is copied,
    whatever the size, and the commit moves it into the blob directory by
    another rename (FileStorage; ZEO with a shared blob directory; a ZEO
    client without one, and RelStorage, send the file to the server at
    the commit). ``path`` itself stays until the caller removes it after
    the commit, so an abort (a conflict, a refusal) loses nothing. False
    where no link can be made there (another filesystem:
    docs/uploads.txt), or the blob refused it: then the caller copies."""
    directory = blob_temporary_directory(jar)
    if directory is None:
        return False
    link = os.path.join(directory, "zoomify-upload-" + secrets.token_hex(8))
    try:
        os.link(path, link)
    except OSError as e:
        logger.info("upload %s: no link into %s (%s): copied", path,
                    directory, e.strerror)
        return False
    try:
        blob.consumeFile(link)
    except OSError as e:
        logger.warning("upload %s: the blob could not take it (%s): "
                       "copied", path, e)
        return False
    finally:
        if os.path.lexists(link):
            os.remove(link)
    return True


def blob_temporary_directory(jar):
    """Where the storage of ``jar`` keeps uncommitted blob files, or
    None."""
    try:
        return jar.db().storage.temporaryDirectory()
    except (AttributeError, NotImplementedError):
        return None


def open_path(blob):
    """The file of ``blob`` as this transaction sees it, or None."""
    if blob is None:
        return None
    with blob.open("r") as f:
        return f.name


def committed_path(blob):
    """The committed file of ``blob`` (the uncommitted one in the
    transaction that made it), or None: what the tiler and the download
    read."""
    if blob is None:
        return None
    try:
        return blob.committed()
    except Exception:  # not committed yet (same transaction)
        return open_path(blob)
