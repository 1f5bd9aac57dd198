"""Resumable uploads (tus 1.0.0: core, creation, termination).

FOLDER/@@zoomify-upload creates an upload that becomes a new Zoomify
Image in FOLDER; IMAGE/@@zoomify-upload one that becomes the image's new
file. The client POSTs the size (Upload-Length) and Upload-Metadata
(filename; id and title, storage and quality, and summary, creator, date
and rights for a new image), gets
``Location: .../@@zoomify-upload/UPLOAD-ID``, and PATCHes the bytes there
in chunks, each well under the request body limit (waitress's
max_request_body_size). After a failure it asks HEAD for Upload-Offset
and goes on from there. When the last byte arrives the image is added
exactly as the add form adds it (manage_addZoomifyImage), or the image
gets the file as from its Edit tab (manage_upload): every request reaches
that method as the user reaches it (access.py), and the last one calls
what it reached.

The bytes go straight from the request to UPLOAD-DIR/ID.part (nothing is
kept in memory, nothing goes into the ZODB until the upload is complete);
ID.json says whose upload it is and what it is for. Its size on disc is
the offset, so an upload survives a restart of Zope. An flock on the
.part file keeps a second client (or a second try of the same one) from
writing at the same time: it gets 423 Locked and tries again later.
Uploads untouched for upload-expiry-hours, and those without a byte
upload-empty-expiry-minutes after their creation, are removed at start-up
and whenever a new upload is created.

What one creation may promise is bounded (``_new_upload``): a user's
unfinished uploads by number and by bytes (upload-user-quota), all of them
by the disc less upload-free-reserve; a new image's id is reserved from
the creation on, against other uploads and other ways in (``id_reserved``).
A full disc during a PATCH is 507, the bytes written kept.
"""

import base64
import binascii
import errno
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time

import transaction
from AccessControl import Unauthorized
from AccessControl import getSecurityManager
from Acquisition import aq_inner
from Acquisition import aq_parent
from OFS.ObjectManager import checkValidId
from Products.Five.browser import BrowserView
from zope.interface import implementer
from zope.publisher.interfaces.browser import IBrowserPublisher

from . import access
from . import config
from . import lease
from . import reserved_ids
from .content import ADD_DESCRIPTION
from .content import added_description
from .content import check_quality
from .content import check_storage
from .content import check_title
from .content import default_id
from .csrf import check_same_origin
from .interfaces import IZoomifyImage
from .maintenance import scheduler
from .originals import PendingUpload
from .originals import UploadOnDisc
from .originals import blob_temporary_directory
from .originals import commits_by_rename
from .web_errors import AnyBadRequest
from .web_errors import BadRequest
from .web_errors import NotFound
from .web_errors import plain_text
from .zmi import size_text

logger = logging.getLogger("ZoomifyImage")

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination"
OCTETS = "application/offset+octet-stream"
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
COPY = 1 << 20  # bytes copied at a time: memory stays flat
METADATA_KEYS = ("filename", "id", "title", "storage", "quality") + \
    ADD_DESCRIPTION
# control characters (C0, DEL, C1) and the Unicode line and paragraph
# separators: never in a name or a title, and they would forge log lines
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_OPEN_UPLOADS = 10  # unfinished uploads one user may have at a time
DISC_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
PENDING_DAYS = 30  # a complete upload waiting for its image's job


def upload_dir():
    path = config.settings().upload_dir
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def max_size():
    return config.settings().upload_max_size


def expiry_seconds():
    return config.settings().upload_expiry_hours * 3600


def user_quota():
    """The bytes one user's unfinished uploads may promise together, when
    upload-user-quota is set; else 0 (then: a share of the disc, below)."""
    return config.settings().upload_user_quota


def current_owner():
    """Who asks: uploads belong to the user who created them (his user
    folder's path and his id)."""
    user = getSecurityManager().getUser()
    if user is None or user.getId() is None:
        raise Unauthorized("Log in to upload.")  # 401, nothing written
    folder = aq_parent(aq_inner(user))
    where = "/".join(folder.getPhysicalPath()) if hasattr(
        folder, "getPhysicalPath") else ""
    return "%s %s" % (where, user.getId())


def new_image_id(info):
    """The id the image of a folder's upload will get (as cookId makes it
    from the file name when no id is given); "" for an image's upload."""
    if info.get("kind") != "folder":
        return ""
    if info.get("id"):
        return info["id"]
    return default_id(info.get("filename", ""))


class Upload:
    """One upload on disc: ID.part (the bytes so far) and ID.json."""

    def __init__(self, directory, upload_id):
        self.id = upload_id
        self.part = os.path.join(directory, upload_id + ".part")
        self.info_path = os.path.join(directory, upload_id + ".json")
        self._file = None

    def read_info(self):
        try:
            with open(self.info_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def write_info(self, info):
        # atomic: a reader sees the old or the new facts, never half
        temp = self.info_path + ".new"
        with open(temp, "w") as f:
            json.dump(info, f)
        os.replace(temp, self.info_path)

    def size(self):
        try:
            return os.path.getsize(self.part)
        except OSError:
            return 0

    def lock(self):
        """Open the .part file for appending, locked for this request;
        BlockingIOError if another request holds it."""
        # unbuffered: what a write returns is on disc, and closing the file
        # after a full disc has nothing left to write
        f = open(self.part, "ab", buffering=0)
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            f.close()
            raise
        self._file = f
        return f

    def release(self, *ignored):
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None

    def last_activity(self):
        times = [os.path.getmtime(p) for p in (self.part, self.info_path)
                 if os.path.exists(p)]
        return max(times) if times else 0

    def empty_since(self, limit):
        """Created before ``limit`` and not one byte received since."""
        info = self.read_info()
        return (info is not None and not info.get("done")
                and info.get("created", 0) < limit and self.size() == 0)

    def waits_for_its_job(self, now):
        """Complete, its file not yet taken by its image's background job
        (a queue of thousands may take days): kept PENDING_DAYS."""
        info = self.read_info() or {}
        return bool(info.get("pending")) and os.path.exists(self.part) and \
            self.last_activity() > now - PENDING_DAYS * 86400

    def remove(self):
        for path in (self.part, self.info_path):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass


def remove_expired(directory=None, now=None):
    """Remove uploads untouched for upload-expiry-hours, and those that
    received no byte within upload-empty-expiry-minutes of their creation
    (a reservation without bytes goes soon), unless a request is writing
    them right now; their number."""
    directory = directory or upload_dir()
    now = now or time.time()
    limit = now - expiry_seconds()
    empty_limit = now - config.settings().upload_empty_expiry_minutes * 60
    ids = {name.split(".", 1)[0] for name in os.listdir(directory)
           if UPLOAD_ID.match(name.split(".", 1)[0])}
    removed = 0
    for upload_id in sorted(ids):
        upload = Upload(directory, upload_id)
        if upload.last_activity() > limit and not upload.empty_since(
                empty_limit):
            continue
        if upload.waits_for_its_job(now):
            continue
        try:
            upload.lock()
        except BlockingIOError:
            continue  # being written: not abandoned
        try:
            upload.remove()
            removed += 1
        finally:
            upload.release()
    if removed:
        logger.info("removed %d abandoned upload(s) from %s", removed,
                    directory)
    return removed


def open_uploads(directory):
    """(upload, info) of every upload not complete yet."""
    ids = sorted({name[:-5] for name in os.listdir(directory)
                  if name.endswith(".json") and UPLOAD_ID.match(name[:-5])})
    for upload_id in ids:
        upload = Upload(directory, upload_id)
        info = upload.read_info()
        if info is not None and not info.get("done"):
            yield upload, info


def header_number(value):
    """The number in a header of ASCII digits (not "²", which isdigit
    accepts), or None."""
    value = (value or "").strip()
    return int(value) if re.fullmatch(r"[0-9]{1,20}", value) else None


def database_opened(event):
    """At start-up: remove the uploads abandoned while Zope was down; then
    every sweep-minutes (maintenance.py), for idle sites (a new upload
    removes them too); only in the client that holds the maintenance
    lease (lease.py)."""
    try:
        if lease.holds(event.database):  # one client of the database
            remove_expired()
    except Exception:
        logger.exception("could not clean the upload directory")
    check_same_filesystem(event.database)
    scheduler.every("expiry of abandoned uploads", expiry_check_seconds,
                    lease.leased(remove_expired))


def check_same_filesystem(db):
    """Say at start-up when a finished upload will be copied into the
    database instead of linked (originals.take_by_link): upload-dir and
    the blob directory on two filesystems."""
    connection = db.open()
    try:
        blobs = blob_temporary_directory(connection)
    finally:
        connection.close()
    if blobs is None:
        return None
    try:
        same = os.stat(upload_dir()).st_dev == os.stat(blobs).st_dev
    except OSError:
        return None
    if not same:
        logger.warning(
            "upload-dir %s is not on the filesystem of the blob directory "
            "(%s): every upload's file is copied into the database, by "
            "the image's background job; give upload-dir a directory on "
            "that filesystem (docs/uploads.txt)", upload_dir(), blobs)
    return same


def expiry_check_seconds():
    return config.settings().sweep_minutes * 60


# the upload whose image this thread is adding (its own reservation does
# not stand in its way)
_finishing = threading.local()


def id_reserved(image, event):
    """An image about to be added, pasted or renamed into a folder: refused
    when an unfinished upload into that folder is to get the id (the add
    form, a paste, a rename, a script; uploads check at their creation)."""
    parent, name = event.newParent, event.newName
    directory = config.settings().upload_dir
    if parent is None or not name or not os.path.isdir(directory):
        return
    target = "/".join(parent.getPhysicalPath()) or "/"
    mine = getattr(_finishing, "upload_id", None)
    for upload, info in open_uploads(directory):
        if upload.id != mine and info.get("target") == target and \
                new_image_id(info) == name:
            raise BadRequest("The id \"%s\" is invalid - it is reserved "
                             "by an unfinished upload." % name)


def not_webdav(event):
    """IPubStart: a request for @@zoomify-upload is no WebDAV request. For
    methods other than GET and POST Zope's traversal looks the last name
    up as an attribute of the folder, for WebDAV (a PUT must not find an
    acquired object): a view is none, and OPTIONS FOLDER/@@zoomify-upload
    ended in an AttributeError (500)."""
    path = event.request.get("PATH_INFO", "")
    if "@@zoomify-upload" in path.split("/"):
        event.request.maybe_webdav_client = 0


def parse_metadata(header):
    """Upload-Metadata: "key base64,key base64" -> {key: text}, without
    control characters."""
    result = {}
    for item in (header or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, _, value = item.partition(" ")
        try:
            text = base64.b64decode(value.strip(),
                                    validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError("Upload-Metadata: %r is not base64 of UTF-8"
                             % key)
        result[key] = CONTROL.sub("", text)
    return result


class Refused(Exception):
    """An answer other than success: status, text and headers."""

    def __init__(self, status, text, **headers):
        super().__init__(text)
        self.status = status
        self.headers = headers


@implementer(IBrowserPublisher)
class UploadView(BrowserView):
    """The tus endpoint of a folder (new images) or of an image (its new
    file); UPLOAD-ID below it is one upload."""

    upload_id = None

    def publishTraverse(self, request, name):
        if self.upload_id is None and UPLOAD_ID.match(name):
            self.upload_id = name
            return self
        raise NotFound("No such upload.")

    def browserDefault(self, request):
        return self, ()

    def __call__(self):
        response = self.request.response
        response.setHeader("Tus-Resumable", TUS_VERSION)
        response.setHeader("Cache-Control", "no-store")
        try:
            text = self._answer(self.request.get("REQUEST_METHOD",
                                                 "GET").upper())
        except Refused as e:
            response.setStatus(e.status)
            for name, value in e.headers.items():
                response.setHeader(name.replace("_", "-"), str(value))
            response.setHeader("Content-Type", "text/plain; charset=utf-8")
            return str(e)
        return text

    # ------------------------------------------------------------ checks

    def _owner(self):
        return current_owner()

    def _kind(self):
        return "image" if IZoomifyImage.providedBy(self.context) \
            else "folder"

    def _change_method(self):
        """The method the upload ends in (manage_upload of the image, the
        add function of the folder), reached as the user reaches it through
        the Edit tab or the add form: asked at every request, and the
        upload ends by calling what it returns (access.py)."""
        try:
            if self._kind() == "image":
                return access.image_method(self.context, "manage_upload")
            return access.add_method(self.context)
        except Unauthorized:
            raise Unauthorized("You may not add or change images here.")

    def _answer(self, method):
        owner = self._owner()
        self._change_method()
        if method == "OPTIONS":
            self.request.response.setHeader("Tus-Version", TUS_VERSION)
            self.request.response.setHeader("Tus-Extension",
                                            TUS_EXTENSIONS)
            self.request.response.setHeader("Tus-Max-Size", max_size())
            self.request.response.setStatus(204)
            return ""
        if self.request.get_header("Tus-Resumable") != TUS_VERSION:
            raise Refused(412, "Tus-Resumable: 1.0.0 expected.",
                          Tus_Version=TUS_VERSION)
        if method in ("POST", "PATCH", "DELETE"):
            check_same_origin(self.request)  # 403 from another site's page
        if self.upload_id is None:
            if method == "POST":
                return self._create(owner)
            raise Refused(405, "POST here creates an upload.",
                          Allow="OPTIONS, POST")
        upload = Upload(upload_dir(), self.upload_id)
        info = upload.read_info()
        # another user's upload, or one for another place, does not exist
        if (info is None or info["owner"] != owner
                or info["target"] != self._target()):
            raise Refused(404, "No such upload.")
        if method == "HEAD":
            self._offset_headers(upload, info)
            self.request.response.setHeader("Upload-Length", info["length"])
            if info.get("metadata"):
                self.request.response.setHeader("Upload-Metadata",
                                                info["metadata"])
            if info.get("done") and info.get("location"):
                # where it went: a client that lost the last answer, and
                # resumes a complete upload, can tell the user
                self.request.response.setHeader("X-Zoomify-Location",
                                                info["location"])
            return ""
        if method == "PATCH":
            return self._patch(upload, info)
        if method == "DELETE":
            return self._delete(upload)
        raise Refused(405, "HEAD, PATCH or DELETE an upload.",
                      Allow="OPTIONS, HEAD, PATCH, DELETE")

    def _target(self):
        return "/".join(self.context.getPhysicalPath()) or "/"

    def _offset_headers(self, upload, info):
        self.request.response.setHeader("Upload-Offset",
                                        self._offset(upload, info))

    @staticmethod
    def _offset(upload, info):
        """The offset clients see. All bytes on disc but the image not yet
        added (that failed, or is under way): one byte short, so that a
        client sends the end again and the add is tried again."""
        if info.get("done"):
            return info["length"]
        return min(upload.size(), info["length"] - 1)

    # ----------------------------------------------------------- methods

    def _create(self, owner):
        request = self.request
        if request.get_header("Upload-Defer-Length"):
            raise Refused(400, "Upload-Length is required.")
        length = header_number(request.get_header("Upload-Length"))
        if length is None:
            raise Refused(400, "Upload-Length is required (a number).")
        if length == 0:
            raise Refused(400, "The file is empty.")
        if length > max_size():
            raise Refused(413, "The file is bigger than the %d bytes an "
                          "upload may have." % max_size(),
                          Tus_Max_Size=max_size())
        raw = request.get_header("Upload-Metadata") or ""
        try:
            metadata = parse_metadata(raw)
        except ValueError as e:
            raise Refused(400, str(e))
        filename = metadata.get("filename", "").replace("\\", "/")
        filename = filename.rsplit("/", 1)[-1]
        if not filename:
            raise Refused(400, "Upload-Metadata must name the filename.")
        info = {"owner": owner, "target": self._target(),
                "kind": self._kind(), "length": length, "metadata": raw,
                "filename": filename, "created": time.time()}
        for key in METADATA_KEYS[1:]:
            info[key] = metadata.get(key, "")
        self._check_new_image(info)
        directory = upload_dir()
        remove_expired(directory)
        # one creation at a time (in all processes sharing the directory),
        # so that two cannot both count the same free space
        with open(os.path.join(directory, "create.lock"), "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            upload = self._new_upload(directory, info)
            upload.write_info(info)
            open(upload.part, "xb").close()
        logger.info("upload %s: %r (%d bytes) into %r, by %r", upload.id,
                    filename, length, info["target"], owner)
        response = request.response
        response.setStatus(201)
        response.setHeader("Location", "%s/@@zoomify-upload/%s"
                           % (self.context.absolute_url(), upload.id))
        response.setHeader("Upload-Offset", 0)
        return ""

    @staticmethod
    def _new_upload(directory, info):
        """An Upload for ``info`` (under create.lock): refused when its new
        id is taken by another open upload, when the user has
        MAX_OPEN_UPLOADS unfinished ones or they would promise more than
        upload-user-quota bytes, and when the disc would keep less than
        upload-free-reserve besides the bytes the open uploads are still
        owed."""
        owner, length = info["owner"], info["length"]
        new_id = new_image_id(info)
        mine = promised = owed = owed_by_me = 0
        for upload, other in open_uploads(directory):
            due = max(0, other.get("length", 0) - upload.size())
            if other.get("owner") == owner:
                mine += 1
                promised += other.get("length", 0)
                owed_by_me += due
            owed += due
            if new_id and other.get("target") == info["target"] and \
                    new_image_id(other) == new_id:
                raise Refused(400, "The id \"%s\" is invalid - it is "
                              "already in use by an unfinished upload."
                              % new_id)
        if mine >= MAX_OPEN_UPLOADS:
            raise Refused(429, "You have %d unfinished uploads: finish or "
                          "cancel one of them first." % mine)
        quota = user_quota()
        if quota and promised + length > quota:
            raise Refused(429, "Your unfinished uploads would hold %s, more "
                          "than the %s one user may have (upload-user-"
                          "quota): finish or cancel one of them first."
                          % (size_text(promised + length),
                             size_text(quota)))
        disc = shutil.disk_usage(directory)
        reserve = config.reserve_bytes(
            config.settings().upload_free_reserve, disc.total)
        if disc.free - owed - length < reserve:
            raise Refused(507, "Not enough disc space for the upload (the "
                          "unfinished uploads keep theirs, and %s stay "
                          "free: upload-free-reserve)." % size_text(reserve))
        if not quota:
            # no quota set: one user may be owed at most half the room the
            # other users' uploads leave, so that one POST cannot promise
            # the whole disc to one user (review of issue 23, M2)
            room = disc.free - reserve - (owed - owed_by_me)
            if owed_by_me + length > room // 2:
                raise Refused(429, "Your unfinished uploads would need %s "
                              "of the %s left for uploads; one user may "
                              "have half (upload-user-quota sets a fixed "
                              "quota): finish or cancel one of them first."
                              % (size_text(owed_by_me + length),
                                 size_text(max(0, room))))
        return Upload(directory, secrets.token_hex(16))

    def _check_new_image(self, info):
        """Refuse now what the add would refuse after the last byte: a bad
        or taken id, an unknown storage, a bad quality."""
        if info["kind"] != "folder":
            return
        new_id = new_image_id(info)
        if not info["id"] and self.context.hasObject(new_id):
            # an id made from the file name is refused, not changed into
            # photo-1: the same files added again must not become copies
            raise Refused(400, "%s: the id \"%s\" (from the file name) is "
                          "already in use in this folder; rename the file or "
                          "give the image an id." % (info["filename"], new_id))
        message = reserved_ids.refusal(self.context, new_id)
        if message:
            raise Refused(400, "%s: %s" % (info["filename"], message))
        try:
            if info["storage"]:
                check_storage(info["storage"])
            check_quality(info["quality"] or None)
            check_title(info["title"])
            checkValidId(self.context, new_id)
        except (ValueError, AnyBadRequest) as e:
            raise Refused(400, plain_text(e))
        try:
            added_description(**info)
        except ValueError as e:
            # before any byte is sent, on the file's own line
            raise Refused(400, "%s: %s" % (info["filename"], plain_text(e)))

    def _patch(self, upload, info):
        request = self.request
        content_type = (request.get_header("Content-Type") or "")
        if content_type.split(";")[0].strip().lower() != OCTETS:
            raise Refused(415, "Content-Type must be %s." % OCTETS)
        offset = header_number(request.get_header("Upload-Offset"))
        if offset is None:
            raise Refused(400, "Upload-Offset is required (a number).")
        declared = header_number(request.get_header("Content-Length"))
        length = info["length"]
        if info.get("done"):
            self._offset_headers(upload, info)
            raise Refused(409, "The upload is complete.")
        try:
            out = upload.lock()
        except BlockingIOError:
            raise Refused(423, "Another request is writing this upload; "
                          "try again.")
        handed_over = False
        try:
            size = os.fstat(out.fileno()).st_size
            if offset == size and size < length:
                if declared is not None and offset + declared > length:
                    raise Refused(400, "The chunk goes past Upload-Length.")
                size = self._append(out, size, length)
            elif not (size == length and offset < length
                      and declared is not None
                      and offset + declared == length):
                # (the exception: all bytes are here but the image is not
                # added yet, and the client sends the end again)
                self._offset_headers(upload, info)
                raise Refused(409, "Upload-Offset is %d here, not %d."
                              % (self._offset(upload, info), offset))
            if size < length:
                self.request.response.setHeader("Upload-Offset", size)
                self.request.response.setStatus(204)
                return ""
            answer = self._finish(upload, info)
            handed_over = True  # released when the transaction ends
            return answer
        finally:
            if not handed_over:
                upload.release()

    def _append(self, out, size, length):
        """Copy the request body to the end of the .part file, COPY bytes
        at a time; the new size. Never past Upload-Length. A full disc:
        507, and the bytes written so far are kept (the client goes on from
        there when there is room again)."""
        body = self.request.get("BODYFILE")
        left = length - size
        try:
            while body is not None and left > 0:
                data = body.read(min(COPY, left))
                if not data:
                    break
                view = memoryview(data)
                while view:
                    view = view[out.write(view):]
                left -= len(data)
        except OSError as e:
            if e.errno not in DISC_FULL:
                raise
            written = os.fstat(out.fileno()).st_size
            logger.warning("upload: the disc of the upload directory is "
                           "full (%d bytes kept)", written)
            raise Refused(507, "The server's disc is full: the bytes "
                          "received so far are kept; try again later.",
                          Upload_Offset=written)
        if body is not None and left == 0 and body.read(1):
            out.truncate(size)  # more than was announced: nothing taken
            raise Refused(400, "The chunk goes past Upload-Length.")
        return os.fstat(out.fileno()).st_size

    def _finish(self, upload, info):
        """The last byte is here: add the image (or give the image its new
        file) in this request's transaction. The .part file goes when that
        commits; a marker stays so that HEAD says the upload is complete.
        No copy of the file in this request: it becomes the blob by a link
        and renames (originals.take_by_link) where the storage allows
        (commits_by_rename); else the image's background job takes it (a
        PendingUpload: the .part stays until then)."""
        pending = False
        try:
            change = self._change_method()
            _finishing.upload_id = upload.id
            pending = not commits_by_rename(self.context._p_jar,
                                            upload.part)
            file = PendingUpload(upload.part, info["filename"], upload.id) \
                if pending else UploadOnDisc(upload.part, info["filename"])
            with file as f:
                if info["kind"] == "folder":
                    new_id = change(
                        id=info["id"], file=f,
                        title=info["title"], storage=info["storage"],
                        quality=info["quality"], REQUEST=None,
                        **{name: info.get(name, "")
                           for name in ADD_DESCRIPTION})
                    location = "%s/%s" % (self.context.absolute_url(),
                                          new_id)
                else:
                    change(file=f)
                    location = self.context.absolute_url()
        except AnyBadRequest as e:
            # not an image, or the id was taken meanwhile: nothing was
            # added, and these bytes never will be
            upload.remove()
            upload.release()
            raise Refused(400, plain_text(e))
        except OSError as e:
            upload.release()
            if e.errno not in DISC_FULL:
                raise
            # the bytes stay; the client sends the end again later
            logger.warning("upload %s: the disc is full, the image could "
                           "not be stored", upload.id)
            raise Refused(507, "The server's disc is full: the image could "
                          "not be stored; try again later.",
                          Upload_Offset=info["length"] - 1)
        except BaseException:
            upload.release()
            raise
        finally:
            _finishing.upload_id = None

        def committed(success):
            try:
                if success:
                    done = dict(info, done=True, location=location,
                                pending=pending)
                    upload.write_info(done)
                    if not pending:  # else its job takes it
                        os.remove(upload.part)
                    logger.info("upload %s complete: %r%s", upload.id,
                                location, " (its file stored by the "
                                "background job)" if pending else "")
            except OSError:
                logger.exception("upload %s: could not clean up",
                                 upload.id)
            finally:
                upload.release()

        txn = transaction.get()
        txn.addAfterCommitHook(committed)
        txn.addAfterAbortHook(upload.release)
        response = self.request.response
        response.setHeader("Upload-Offset", info["length"])
        response.setHeader("X-Zoomify-Location", location)
        response.setStatus(204)
        return ""

    def _delete(self, upload):
        try:
            upload.lock()
        except BlockingIOError:
            raise Refused(423, "Another request is writing this upload; "
                          "try again.")
        try:
            upload.remove()
        finally:
            upload.release()
        logger.info("upload %s terminated", upload.id)
        self.request.response.setStatus(204)
        return ""
