"""Tiles in an S3 bucket (AWS, or any S3-compatible service: SeaweedFS,
MinIO, Ceph...), laid out as the filesystem store lays out a tile root:

    PREFIX/ab/abcdef.../SETID/ImageProperties.xml
    PREFIX/ab/abcdef.../SETID/TileGroup0/0-0-0.jpg

so that a public set can be fetched by viewers straight from the bucket
or a CDN in front of it (s3-tile-url). Every key is written once: a
retile or a new file writes a new set under a fresh SETID, and the
store's ``set_id`` (in the ZODB, changed in the same transaction as the
image's facts) is the one pointer that says which set is served.

A set's bookkeeping is one small record beside the tiles, so that the
sweep lists one key per set and not every tile:

    PREFIX/.sets/abcdef.../SETID

It says "writing" while the writer puts the tiles (an unfinished set:
S3 has no rename, so tiles go to their final keys at once), and names
the store's database record once the transaction votes (the set is then
placed, as the filesystem store's rename places a directory). The sweep
(sweep.py) removes the sets that nothing points at, and unfinished ones
whose writer has not been heard of for UNFINISHED_SECONDS.

Uploads: a tile is a few kilobytes, one PUT (a multipart upload is three
requests at least, and pays above several megabytes); the writer keeps
UPLOADERS PUTs in flight at once, as the latency of one PUT, not the
bandwidth, is what a set of thousands of tiles waits for. put_file goes
through boto3's managed transfer, which turns multipart above its 8 MB
threshold (nothing of a tile set is that big; the originals stay in the
ZODB's blobs).
"""

import configparser
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import transaction
from persistent import Persistent
from zope.interface import implementer

from .. import config
from ..interfaces import ITileStore
from ..interfaces import ITileWriter
from ..pyramid.errors import TilingError
from ..pyramid.sinks import TileSink
from .filesystem import ENDED
from .filesystem import FINISHED
from .filesystem import JOINED
from .filesystem import OLDER_SET_SECONDS
from .filesystem import TILE_CACHE
from .filesystem import VOTED
from .filesystem import SetPlacement
from .filesystem import owner_text

logger = logging.getLogger("ZoomifyImage")

RECORDS = ".sets"
WRITING = "writing"
# PUTs in flight per writer, and tiles waiting for one
UPLOADERS = 8
WINDOW = 64
# a writer puts its record again this often while it writes, so that
# the sweep can tell a live writer from one whose process died
HEARTBEAT_SECONDS = 600
# an unfinished set whose record is older than this is a dead writer's
UNFINISHED_SECONDS = 6 * 3600
IMMUTABLE = "public, max-age=31536000, immutable"


class S3Error(TilingError):
    """The bucket could not be read or written; names the bucket and the
    service's error code, never the endpoint or a key."""


_client_lock = threading.Lock()
_client = None   # (the settings it was made for, the client)


def client():
    """One boto3 client per process (boto3's clients are thread-safe),
    made again when the settings change."""
    global _client
    s = config.settings()
    key = (s.s3_endpoint, s.s3_region, s.s3_credentials_file)
    made = _client
    if made is not None and made[0] == key:
        return made[1]
    with _client_lock:
        if _client is None or _client[0] != key:
            _client = (key, _make_client(s))
        return _client[1]


def _make_client(s):
    import boto3
    from botocore.config import Config
    options = {}
    if s.s3_credentials_file:
        options.update(read_credentials(s.s3_credentials_file))
    # else boto3's own chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
    # AWS_PROFILE, ~/.aws/credentials, an instance role (read now: a
    # session of its own, not boto3's default one, which keeps the first)
    return boto3.session.Session().client(
        "s3", endpoint_url=s.s3_endpoint or None,
        region_name=s.s3_region or "us-east-1",
        config=Config(
            # path-style: a bucket behind any endpoint, no DNS per bucket
            s3={"addressing_style": "path"} if s.s3_endpoint else {},
            max_pool_connections=UPLOADERS * 2,
            retries={"max_attempts": 4, "mode": "standard"},
            connect_timeout=10, read_timeout=60,
            # checksums only where S3 requires them: S3-compatible
            # services differ in the ones they know
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required"),
        **options)


def read_credentials(path):
    """aws_access_key_id, aws_secret_access_key (and aws_session_token)
    of the [default] section of an AWS credentials file."""
    parser = configparser.ConfigParser()
    try:
        with open(path) as f:
            parser.read_file(f)
        section = parser["default"]
        out = {"aws_access_key_id": section["aws_access_key_id"],
               "aws_secret_access_key": section["aws_secret_access_key"]}
    except (OSError, KeyError, configparser.Error) as e:
        raise config.ConfigError(
            "<product-config zoomifyimage> s3-credentials-file %s: no "
            "[default] with aws_access_key_id and aws_secret_access_key "
            "(%s)" % (path, e)) from None
    if section.get("aws_session_token"):
        out["aws_session_token"] = section["aws_session_token"]
    return out


def bucket():
    name = config.settings().s3_bucket
    if not name:
        raise S3Error("s3-bucket", "the S3 tile store is not set up "
                      "(docs/s3.txt)")
    return name


def base_prefix():
    prefix = config.settings().s3_prefix
    return prefix + "/" if prefix else ""


def record_key(uid, set_name):
    return "%s%s/%s/%s" % (base_prefix(), RECORDS, uid, set_name)


def set_prefix(uid, set_name):
    return "%s%s/%s/%s/" % (base_prefix(), uid[:2], uid, set_name)


def _code(error):
    """The short reason of a boto3 error, for messages."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code") or "error"
    return type(error).__name__


def _missing(error):
    return _code(error) in ("NoSuchKey", "404", "NotFound")


def records(versions=None):
    """(uid, set name) of every set record under s3-prefix; ``versions``,
    a dict, gets each one's ETag (which changes when it is written)."""
    start = base_prefix() + RECORDS + "/"
    pages = client().get_paginator("list_objects_v2").paginate(
        Bucket=bucket(), Prefix=start)
    for page in pages:
        for entry in page.get("Contents", ()):
            parts = entry["Key"][len(start):].split("/")
            if len(parts) == 2 and all(parts):
                if versions is not None:
                    versions[tuple(parts)] = entry.get("ETag")
                yield tuple(parts)


def read_record(uid, set_name):
    """The text of a set's record, or None when there is none."""
    from botocore.exceptions import ClientError
    try:
        answer = client().get_object(Bucket=bucket(),
                                     Key=record_key(uid, set_name))
    except ClientError as e:
        if _missing(e):
            return None
        raise
    return answer["Body"].read().decode("utf-8", "replace")


def write_record(uid, set_name, text, name=None, key=None):
    client().put_object(Bucket=name or bucket(),
                        Key=key or record_key(uid, set_name),
                        Body=text.encode(), ContentType="text/plain")


def parse_record(text):
    """(owner, placed, marked) of a placed set's record: owner as
    filesystem.owner_of gives it (oid, database name, id or None), when
    it was placed and when the sweep found it unused (or None); None for
    an unfinished set's record, or one that is not ours."""
    lines = text.splitlines()
    if not lines or lines[0].startswith(WRITING):
        return None
    try:
        oid, name, ident = (lines[0].split() + [None] * 3)[:3]
        times = dict(line.split(None, 1) for line in lines[1:] if line)
        return ((bytes.fromhex(oid), name or "", ident),
                float(times.get("placed", 0)),
                float(times["unreferenced"]) if "unreferenced" in times
                else None)
    except (ValueError, TypeError):
        return None


def record_text(owner, placed, marked=None):
    """A placed set's record (parse_record reads it)."""
    text = "%s\nplaced %.3f\n" % (owner, placed)
    if marked is not None:
        text += "unreferenced %.6f\n" % marked
    return text


def writing_text(owner, now=None):
    """An unfinished set's record: "writing", the time its writer last
    said it lives, and the writer (the job's owner: process id and
    thread), by which a job taken from a dead worker finds its set."""
    return "%s %.3f %s" % (WRITING, time.time() if now is None else now,
                           owner)


def writing_since(text):
    """When the writer of an unfinished set last said it lives, or None
    if the record is not an unfinished set's."""
    words = text.split()
    # (records of older releases name no writer)
    if len(words) in (2, 3) and words[0] == WRITING:
        try:
            return float(words[1])
        except ValueError:
            return None
    return None


def writer_of(text):
    """The writer an unfinished set's record names, or None."""
    words = text.split()
    if len(words) == 3 and writing_since(text) is not None:
        return words[2]
    return None


def remove_unfinished(uid, owner):
    """Remove the unfinished sets of the image ``uid`` that ``owner`` (a
    job's dead worker) was writing: a job taken over need not leave them
    to the sweep's UNFINISHED_SECONDS. Another writer's (a retile in a
    request) stays. The names of the sets removed."""
    start = "%s%s/%s/" % (base_prefix(), RECORDS, uid)
    pages = client().get_paginator("list_objects_v2").paginate(
        Bucket=bucket(), Prefix=start)
    removed = []
    for page in pages:
        for entry in page.get("Contents", ()):
            set_name = entry["Key"][len(start):]
            if "/" in set_name or not set_name:
                continue
            text = read_record(uid, set_name)
            if text is not None and writer_of(text) == owner:
                remove_set(uid, set_name)
                removed.append(set_name)
    return removed


def remove_set(uid, set_name, name=None, prefix=None, record=None):
    """Delete every key of a set, then its record (by default in the
    bucket and under the prefix of the settings)."""
    s3, name = client(), name or bucket()
    prefix = prefix or set_prefix(uid, set_name)
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=name, Prefix=prefix)
    for page in pages:
        keys = [{"Key": o["Key"]} for o in page.get("Contents", ())]
        if keys:  # at most 1000 a page: one DeleteObjects
            answer = s3.delete_objects(Bucket=name, Delete={
                "Objects": keys, "Quiet": True})
            if answer.get("Errors"):
                raise S3Error("S3 bucket %s" % name, "cannot delete %d keys "
                              "(%s)" % (len(answer["Errors"]),
                                        answer["Errors"][0].get("Code")))
    s3.delete_object(Bucket=name, Key=record or record_key(uid, set_name))


def location(uid, set_name):
    """A set's place, for logs and the sweep's answer."""
    return "s3://%s/%s" % (config.settings().s3_bucket,
                           set_prefix(uid, set_name).rstrip("/"))


@implementer(ITileStore)
class S3TileStore(Persistent):
    kind = "s3"
    set_id = None
    released = 0.0   # when the image let go of this store (sweep.py)
    previous = (None, 0.0)  # the set pointed at before, and until when

    def __init__(self, uid):
        self.uid = uid
        self.set_id = None

    def set_name(self):
        return self.set_id

    def location(self, set_name=None):
        return location(self.uid, set_name or self.set_id)

    def key(self, name, set_name=None):
        return set_prefix(self.uid, set_name or self.set_id) + name

    def get(self, name, set_name=None):
        """The bytes of a tile (name already validated), or None."""
        set_name = set_name or self.set_id
        if not set_name:
            return None
        # a set's keys are written once: what is cached is never stale
        cache_key = ("s3", self.uid, set_name, name)
        data = TILE_CACHE.get(cache_key)
        if data is not None:
            return data
        from botocore.exceptions import ClientError
        try:
            answer = client().get_object(Bucket=bucket(),
                                         Key=self.key(name, set_name))
            data = answer["Body"].read()
        except ClientError as e:
            if _missing(e):
                return None
            raise
        TILE_CACHE.put(cache_key, data)
        return data

    def size(self, name):
        from botocore.exceptions import ClientError
        if not self.set_id:
            return None
        try:
            answer = client().head_object(Bucket=bucket(), Key=self.key(name))
        except ClientError as e:
            if _missing(e):
                return None
            raise
        return answer["ContentLength"]

    def names(self):
        if not self.set_id:
            return []
        prefix = set_prefix(self.uid, self.set_id)
        pages = client().get_paginator("list_objects_v2").paginate(
            Bucket=bucket(), Prefix=prefix)
        return sorted(o["Key"][len(prefix):] for page in pages
                      for o in page.get("Contents", ()))

    def writer(self):
        return S3TileWriter(self)

    def copy_from(self, other):
        from . import copy_tiles
        if getattr(other, "kind", None) != "s3" or not other.set_id:
            copy_tiles(other, self.writer())
            return
        # within the service: each key copied by the service itself, the
        # bytes never come through Zope (a paste of a big image)
        writer = self.writer()
        try:
            for name in other.names():
                writer.copy_key(name, other.key(name))
        except BaseException:
            writer.abort()
            raise
        writer.finish()

    def clear(self):
        """The image lets go of this store: its sets wait for the sweep
        (an Undo finds them until trash-days)."""
        self.released = time.time()

    def release(self):
        self.clear()

    def for_copy(self, uid):
        if self.get("ImageProperties.xml") is None:
            return None
        new = S3TileStore(uid)
        new.copy_from(self)
        return new

    def older_set(self, set_name):
        previous, since = self.previous
        if not (previous and set_name == previous and
                time.time() - since < OLDER_SET_SECONDS):
            return None
        record = read_record(self.uid, set_name)
        return set_name if record and parse_record(record) else None

    def file_path(self, name, set_name=None):
        return None  # no file: served through get()

    def front_end_path(self, set_name=None):
        return None  # not under the tile root (see public_path)

    def public_path(self, set_name=None):
        """The set's place relative to s3-prefix, with '/': where viewers
        find a public set under s3-tile-url."""
        return "%s/%s/%s" % (self.uid[:2], self.uid,
                             set_name or self.set_id)


@implementer(ITileWriter)
class S3TileWriter(TileSink):
    """Puts a new set's tiles under a fresh prefix, UPLOADERS at a time;
    finish() points the store at it and has it placed (its record names
    the store) when the transaction votes."""

    def __init__(self, store):
        self.store = store
        self.uid = store.uid
        self.set_id = uuid.uuid4().hex[:16]
        # where it writes is fixed now, whatever the settings say later
        self.bucket = bucket()
        self.prefix = set_prefix(self.uid, self.set_id)
        self.record = record_key(self.uid, self.set_id)
        self.keep_on_abort = False
        # the database points at the set: nothing may remove it now (a
        # job's clean-up may abort its writer after the commit)
        self.committed = False
        self.failed = None
        self.pending = []
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(UPLOADERS,
                                       thread_name_prefix="zoomify-s3")
        self.beat = 0.0
        # who writes: the job's owner when a worker writes (a thread's
        # name, with the process's id, whatever thread it is)
        from ..jobs.records import worker_name
        self.owner = worker_name()
        self._heartbeat()

    @property
    def unfinished(self):
        return self.record

    def write_record(self, text):
        write_record(self.uid, self.set_id, text, self.bucket, self.record)

    def _heartbeat(self):
        now = time.time()
        if now - self.beat < HEARTBEAT_SECONDS:
            return
        self.beat = now
        self._call(self.write_record, writing_text(self.owner, now))

    def _call(self, function, *args, **kw):
        try:
            return function(*args, **kw)
        except TilingError:
            raise
        except Exception as e:
            raise S3Error("S3 bucket %s" % self.bucket,
                          "cannot write tiles (%s)" % _code(e)) from e

    def _put(self, name, data):
        # a key of a set is never written again: whoever serves it
        # (the bucket, a CDN) may keep it for ever
        client().put_object(
            Bucket=self.bucket, Key=self.prefix + name, Body=data,
            ContentType="text/xml" if name.endswith(".xml")
            else "image/jpeg", CacheControl=IMMUTABLE)

    def put(self, name, data):
        self._submit(self._put, name, bytes(data))

    def copy_key(self, name, source):
        """The tile ``name`` copied from the key ``source`` of the same
        bucket by the service (CopyObject)."""
        self._submit(self._copy, name, source)

    def _copy(self, name, source):
        # the source's Content-Type and Cache-Control come along
        client().copy_object(Bucket=self.bucket, Key=self.prefix + name,
                             CopySource={"Bucket": self.bucket,
                                         "Key": source})

    def put_file(self, name, path):
        self._submit(client().upload_file, path, self.bucket,
                     self.prefix + name, {"CacheControl": IMMUTABLE})

    def _submit(self, function, *args):
        with self.lock:
            self._check()
            self._heartbeat()
            self.pending.append(self.pool.submit(function, *args))
            if len(self.pending) >= WINDOW:
                self._wait(len(self.pending) // 2)

    def _wait(self, count=None):
        """Wait for the oldest ``count`` PUTs (all: None); the first
        failure is kept and raised."""
        done = self.pending[:count] if count else self.pending
        self.pending = self.pending[len(done):]
        for future in done:
            error = future.exception()
            if error is not None and self.failed is None:
                self.failed = error
        self._check()

    def _check(self):
        if self.failed is not None:
            error = self.failed
            raise S3Error("S3 bucket %s" % self.bucket,
                          "cannot write tiles (%s)" % _code(error)) \
                from error

    def finish(self):
        with self.lock:
            self._wait()
        self.pool.shutdown()
        store = self.store
        if store.set_id:
            store.previous = (store.set_id, time.time())
        # the pointer moves in the same transaction as the new facts: an
        # Undo of it brings back the old id, and with it the old set
        store.set_id = self.set_id
        store.released = 0.0
        transaction.get().join(S3SetPlacement(self))

    def abort(self):
        if self.committed:
            return
        with self.lock:
            for future in self.pending:
                future.cancel()
            try:
                self._wait()
            except TilingError:
                pass
        self.pool.shutdown()
        try:
            remove_set(self.uid, self.set_id, self.bucket, self.prefix,
                       self.record)
        except Exception:
            # the sweep removes it once it is UNFINISHED_SECONDS old
            logger.exception("could not remove the unfinished tile set %s",
                             location(self.uid, self.set_id))

    def release(self):
        pass


class S3SetPlacement(SetPlacement):
    """The filesystem store's two-phase contract (SetPlacement), for a set
    whose tiles are in place already: the vote writes the record that
    names the store (a failure there votes no); an abort before the vote
    removes the set; tpc_abort after the vote removes it unless the
    database committed pointing at it; after tpc_finish nothing is
    removed."""

    def __init__(self, writer):
        self.writer = writer
        self.store = writer.store
        self.set_id = writer.set_id
        self.target = location(writer.uid, writer.set_id)
        self.placed = False
        self.phase = JOINED
        self.transaction_manager = transaction.manager

    def tpc_vote(self, txn):
        owner = owner_text(self.store)
        if owner is None:
            raise ValueError("the tile store of %s is not in the database"
                             % self.target)
        self.writer.write_record(record_text(owner, time.time()))
        self.placed = True
        self.phase = VOTED

    def tpc_finish(self, txn):
        self.phase = FINISHED
        self.writer.committed = True

    def tpc_abort(self, txn):
        super().tpc_abort(txn)
        if self.phase == ENDED and self.placed:
            # kept: the database committed pointing at it
            self.writer.committed = True

    def _discard(self):
        if self.writer.keep_on_abort:
            # unplaced again, for the next attempt (or writer.abort())
            if self.placed:
                self.writer.write_record(writing_text(self.writer.owner))
        else:
            self.writer.abort()
        self.placed = False
        self.phase = ENDED

