"""The original image file of an image: what is accepted as a file, and
its bytes streamed into a new blob (content.py keeps the blob)."""

import collections
import mimetypes
import shutil

from ZODB.blob import Blob

from .pyramid import TilingError

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


def new_original(file):
    """An upload (or an open file, or bytes) streamed into a new blob,
    never held whole in memory: an Original. TilingError for an empty
    file."""
    if isinstance(file, str):
        raise ValueError(NOT_AN_UPLOAD)
    blob = Blob()
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
    if size == 0:
        raise TilingError(name or "upload", "the file is empty")
    headers = getattr(file, "headers", None)
    content_type = (headers.get("content-type") if headers else "") or \
        mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Original(blob, name, size, content_type)


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
