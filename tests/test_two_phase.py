"""Issue 23, H2: a transaction's side effects on disc follow the two-phase
commit exactly. A tile set exists (on disc, or in the ZODB) exactly when
the transaction that made it committed, whatever hooks, savepoints and
other participants that transaction had.

The matrix runs both stores in a database of their own (a DemoStorage)
under the real ``transaction`` package; the end-to-end cases go through
the real uploader (tus over HTTP, on a waitress thread of this process's
Zope), the add form, and a paste, in the test's own DemoStorage."""

import os

import pytest
import requests
import transaction
from ZODB.Connection import Connection

from tests.browser_pages import needs_chromium
from tests.images import save
from tests.images import smooth
from tests.test_uploads import create
from tests.test_uploads import jpeg
from tests.test_uploads import patch
from tests.zope_fixtures import ADMIN
from tests.zope_fixtures import BASE
from tests.zope_fixtures import add
from tests.zope_fixtures import add_by_form
from tests.zope_fixtures import get
from tests.zope_fixtures import local_server
from tests.zope_fixtures import status
from tests.zope_fixtures import tile_root
from tests.zope_fixtures import zope_root


def partial_of(uid, root=None):
    """The temporary directories of an image under TILE-ROOT/.partial."""
    partial = os.path.join(root or tile_root(), ".partial")
    if not os.path.isdir(partial):
        return []
    return [n for n in os.listdir(partial) if n.startswith(uid + "-")]


def uid_of(folder, id):
    with zope_root(commit=False) as app:
        return app[folder][id].uid


def set_on_disc(folder, id):
    """The directory of the set the image's committed store points at."""
    with zope_root(commit=False) as app:
        return app[folder][id]._store.directory()


# end to end: the real uploader, the add form, a paste ----------------------

@pytest.fixture
def site(folder):
    """This process's Zope on a loopback port, over the test's own
    database (the folder is in it): the folder's URL."""
    with local_server() as url:
        yield "%s/%s" % (url, folder)


def test_tus_add_of_a_small_image_to_the_filesystem_store(site, folder):
    data = jpeg(21, (600, 400))
    r = create(site, len(data), id="tusfs", storage="filesystem")
    assert r.status_code == 201, r.text
    r = patch(r.headers["Location"], 0, data)
    assert r.status_code == 204, r.text
    image = site + "/tusfs"
    assert requests.get(image + "/status_json").json()["status"] == "ready"
    r = requests.get(image + "/ImageProperties.xml")
    assert r.status_code == 200 and 'WIDTH="600"' in r.text
    for name in ("TileGroup0/0-0-0.jpg", "TileGroup0/2-1-1.jpg"):
        r = requests.get(image + "/" + name)
        assert r.status_code == 200 and r.content[:2] == b"\xff\xd8", name
    assert os.path.isdir(set_on_disc(folder, "tusfs"))
    assert partial_of(uid_of(folder, "tusfs")) == []


def test_tus_new_file_of_a_filesystem_image(site, folder, photo):
    add(folder, photo, id="fsimg", storage="filesystem")
    first = set_on_disc(folder, "fsimg")
    data = jpeg(22, (500, 300))
    r = create(site + "/fsimg", len(data), filename="second.jpg")
    assert r.status_code == 201, r.text
    r = patch(r.headers["Location"], 0, data)
    assert r.status_code == 204, r.text
    r = requests.get(site + "/fsimg/ImageProperties.xml")
    assert r.status_code == 200 and 'WIDTH="500"' in r.text
    assert requests.get(site + "/fsimg/TileGroup0/1-1-0.jpg").status_code \
        == 200
    second = set_on_disc(folder, "fsimg")
    assert second != first
    # the old set stays for an Undo (the sweep removes it later)
    assert os.path.isdir(first) and os.path.isdir(second)


def test_add_form_with_the_filesystem_store(folder, photo):
    b = add_by_form(folder, photo, "formfs", storage="filesystem")
    assert status(b) == 200
    base = "%s/%s/formfs/" % (BASE, folder)
    code, headers, body = get(base + "ImageProperties.xml")
    assert code == 200 and b'WIDTH="700"' in body
    assert get(base + "TileGroup0/0-0-0.jpg")[0] == 200
    assert os.path.isdir(set_on_disc(folder, "formfs"))


@needs_chromium
def test_add_form_in_a_browser_with_the_filesystem_store(site, folder,
                                                         chromium, photo):
    """The add form as a browser with JavaScript sends it: through the
    resumable uploader, so with its after-commit hook."""
    context = chromium.new_context(
        http_credentials={"username": ADMIN[0], "password": ADMIN[1]})
    try:
        page = context.new_page()
        page.goto(site + "/manage_addProduct/ZoomifyImage/"
                  "manage_addZoomifyImageForm")
        page.fill("#id", "browserfs")
        page.select_option("#storage", "filesystem")
        page.set_input_files("#file", photo)
        with page.expect_request(lambda r: r.method == "PATCH"):
            page.click("input[type=submit]")
        page.wait_for_url(site + "/manage_main", timeout=60000)
    finally:
        context.close()
    r = requests.get(site + "/browserfs/ImageProperties.xml")
    assert r.status_code == 200 and 'WIDTH="700"' in r.text
    assert requests.get(site + "/browserfs/TileGroup0/0-0-0.jpg"
                        ).status_code == 200


def test_paste_beside_a_running_job_keeps_the_copied_set(small_threshold,
                                                         folder, photo,
                                                         tmp_path):
    """A paste of a filesystem image in the same transaction as a queued
    job (jobs.new_job's after-commit hook): the copy's set stays."""
    from ZoomifyImage import jobs
    add(folder, photo, id="fsx", storage="filesystem")
    jobs.pool.pause()  # the big image's job stays queued
    add(folder, save(smooth(900, 700, 3), tmp_path / "big.png"), id="big")
    with zope_root() as app:
        app.manage_pasteObjects(app.manage_copyObjects([folder]))
    copy = "copy_of_" + folder
    try:
        code, headers, body = get("%s/%s/fsx/ImageProperties.xml"
                                  % (BASE, copy))
        assert code == 200 and b'WIDTH="700"' in body
        assert get("%s/%s/fsx/TileGroup0/0-0-0.jpg" % (BASE, copy))[0] \
            == 200
    finally:
        jobs.pool.resume()
        assert jobs.pool.wait(60)
        with zope_root() as app:
            app.manage_delObjects([copy])


# the matrix: every order of hooks, savepoints and participants ------------

class Refusal(Exception):
    """What the second participant raises."""


class OtherParticipant:
    """A second resource manager of the transaction (as a mail queue or a
    SQL connection would be): it votes no, or fails to finish, when told
    to. ``key`` places it among the others (the transaction sorts them
    by sortKey)."""

    def __init__(self, key, fails_in=None):
        self.key = key
        self.fails_in = fails_in
        self.transaction_manager = transaction.manager

    def sortKey(self):
        return self.key

    def abort(self, txn):
        pass

    def tpc_begin(self, txn):
        pass

    def commit(self, txn):
        pass

    def tpc_vote(self, txn):
        if self.fails_in == "vote":
            raise Refusal("votes no")

    def tpc_finish(self, txn):
        if self.fails_in == "finish":
            raise Refusal("cannot finish")

    def tpc_abort(self, txn):
        pass


# sort keys: before every ZODB connection, between the connections and the
# tile set's placement (~zoomifyimage:...), after everything
FIRST, BETWEEN, LAST = "!", "}", "~~"


def join(key, fails_in):
    transaction.get().join(OtherParticipant(key, fails_in))


# a background job's writer keeps its set in .partial when a transaction
# aborts (it tries its last transaction again); the test sets it
JOB_WRITERS = []


def write_set(store, seed):
    """A small set through the store's writer, finished (the pointer moves
    in the current transaction); its id."""
    writer = store.writer()
    if JOB_WRITERS:
        writer.keep_on_abort = True
        JOB_WRITERS.append(writer)
    writer.put("ImageProperties.xml", b'<IMAGE_PROPERTIES SEED="%d" />'
               % seed)
    writer.put("TileGroup0/0-0-0.jpg", b"tile of set %d" % seed)
    writer.finish()
    return store.set_id


def fails(*exceptions):
    """Commit, expecting it to fail, then abort as a publisher does."""
    with pytest.raises(exceptions or (Refusal,)):
        transaction.commit()
    transaction.abort()


# Each scenario writes a set in a transaction and ends that transaction;
# it returns whether the transaction committed (True/False), and may
# record what after-commit hooks were told in ``told``.

def plain_commit(store, told):
    write_set(store, 2)
    transaction.commit()
    return True


def plain_abort(store, told):
    write_set(store, 2)
    transaction.abort()
    return False


def before_commit_hook(store, told):
    transaction.get().addBeforeCommitHook(told.append, args=("before",))
    write_set(store, 2)
    transaction.commit()
    return True


def set_written_by_a_before_commit_hook(store, told):
    transaction.get().addBeforeCommitHook(write_set, args=(store, 2))
    transaction.commit()
    return True


def before_commit_hook_fails(store, told):
    def refuse():
        raise Refusal("a before-commit hook says no")
    write_set(store, 2)
    transaction.get().addBeforeCommitHook(refuse)
    fails()
    return False


def after_commit_hook(store, told):
    write_set(store, 2)
    transaction.get().addAfterCommitHook(told.append)
    transaction.commit()
    assert told == [True]
    return True


def after_commit_hook_that_raises(store, told):
    def broken(ok):
        told.append(ok)
        raise RuntimeError("a broken after-commit hook")
    write_set(store, 2)
    transaction.get().addAfterCommitHook(broken)
    transaction.commit()  # the transaction logs it
    assert told == [True]
    return True


def after_commit_hook_of_a_failed_commit(store, told):
    write_set(store, 2)
    transaction.get().addAfterCommitHook(told.append)
    join(LAST, "vote")
    fails()
    assert told == [False]
    return False


def after_commit_hook_then_the_next_transaction_aborts(store, told):
    """The next transaction (the same thread, the same store) writes a set
    of its own and aborts: that one goes, ours stays."""
    write_set(store, 2)
    transaction.get().addAfterCommitHook(told.append)
    transaction.commit()
    told.append(write_set(store, 3))
    transaction.abort()
    return True


def after_abort_hook(store, told):
    write_set(store, 2)
    transaction.get().addAfterAbortHook(told.append, args=("aborted",))
    transaction.abort()
    assert told == ["aborted"]
    return False


def savepoint_after_the_set_rolled_back(store, told):
    write_set(store, 2)
    savepoint = transaction.savepoint()
    store._p_jar.root()["other"] = "changed after the savepoint"
    savepoint.rollback()
    transaction.commit()
    return True


def savepoint_before_the_set_rolled_back(store, told):
    savepoint = transaction.savepoint()
    write_set(store, 2)
    savepoint.rollback()
    transaction.commit()
    return False


def savepoint_before_rolled_back_then_written_again(store, told):
    savepoint = transaction.savepoint()
    gone = write_set(store, 4)
    savepoint.rollback()
    write_set(store, 2)
    told.append(gone)  # checked: never on disc
    transaction.commit()
    return True


def savepoints_while_writing(store, told):
    transaction.savepoint(optimistic=True)
    write_set(store, 2)
    transaction.savepoint(optimistic=True)
    transaction.commit()
    return True


def first_participant_votes_no(store, told):
    write_set(store, 2)
    join(FIRST, "vote")
    fails()
    return False


def last_participant_votes_no(store, told):
    """After the set was placed (our vote): tpc_abort must take it
    back."""
    write_set(store, 2)
    join(LAST, "vote")
    fails()
    return False


def last_participant_votes_no_with_hooks(store, told):
    write_set(store, 2)
    transaction.get().addAfterCommitHook(told.append)
    transaction.get().addAfterAbortHook(told.append, args=("aborted",))
    join(LAST, "vote")
    fails()
    assert told == [False, "aborted"]
    return False


def abort_after_vote_before_the_database_finished(store, told):
    """Every participant voted yes; one fails to finish before the ZODB
    does: nothing committed, the set goes."""
    write_set(store, 2)
    join(FIRST, "finish")
    fails()
    return False


def abort_after_vote_once_the_database_finished(store, told):
    """The ZODB has committed the pointer, then another participant fails
    to finish: the transaction calls tpc_abort, but the database points
    at the set, so it must stay."""
    write_set(store, 2)
    join(BETWEEN, "finish")
    fails()
    return True


def commit_then_abort_again(store, told):
    """Nothing after a commit undoes it: not an abort of the (finished)
    transaction, nor one of the next."""
    write_set(store, 2)
    txn = transaction.get()
    # the participants, as the transaction holds them (it forgets them
    # once it has committed)
    participants = list(txn._resources)
    transaction.commit()
    for resource in participants:
        resource.abort(txn)  # as transaction 5.1 does after its hooks
        if not isinstance(resource, Connection):  # ZODB's own: not ours
            resource.tpc_abort(txn)
    transaction.abort()
    return True


SCENARIOS = [
    plain_commit, plain_abort,
    before_commit_hook, set_written_by_a_before_commit_hook,
    before_commit_hook_fails,
    after_commit_hook, after_commit_hook_that_raises,
    after_commit_hook_of_a_failed_commit,
    after_commit_hook_then_the_next_transaction_aborts,
    after_abort_hook,
    savepoint_after_the_set_rolled_back, savepoint_before_the_set_rolled_back,
    savepoint_before_rolled_back_then_written_again,
    savepoints_while_writing,
    first_participant_votes_no, last_participant_votes_no,
    last_participant_votes_no_with_hooks,
    abort_after_vote_before_the_database_finished,
    abort_after_vote_once_the_database_finished,
    commit_then_abort_again,
]


@pytest.fixture
def own_root(tmp_path, zope_settings):
    """A tile root of the test's own (these stores are in a database of
    their own)."""
    root = str(tmp_path / "tiles")
    zope_settings(**{"tile-root": root})
    return root


@pytest.fixture
def db(tmp_path):
    import ZODB
    from ZODB.blob import BlobStorage
    from ZODB.DemoStorage import DemoStorage
    from ZODB.MappingStorage import MappingStorage
    storage = DemoStorage(name="matrix", changes=BlobStorage(
        str(tmp_path / "blobs"), MappingStorage("matrix")))
    database = ZODB.DB(storage)
    yield database
    transaction.abort()
    database.close()


def committed_store(db):
    """The store as a fresh connection reads it: what was committed."""
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    try:
        store = connection.root()["store"]
        return (store.set_id, store.get("TileGroup0/0-0-0.jpg"))
    finally:
        manager.abort()
        connection.close()


def sets_in_bucket(seaweedfs, prefix, uid):
    """{set: its record's first word} of an image in the bucket, and the
    sets that have tiles: what the S3 store left there."""
    keys = seaweedfs.keys(prefix=prefix + "/")
    records = {}
    client = seaweedfs.client()
    from tests.seaweedfs_fixture import BUCKET
    for key in keys:
        if key.startswith("%s/.sets/%s/" % (prefix, uid)):
            text = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            records[key.rsplit("/", 1)[1]] = text.split()[0].decode()
    tiled = {key.split("/")[-3] for key in keys
             if key.endswith("TileGroup0/0-0-0.jpg")}
    return records, tiled


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("kind", ["zodb", "filesystem", "filesystem-job",
                                  "s3", "s3-job"])
def test_a_set_exists_exactly_when_its_transaction_committed(
        scenario, kind, db, own_root, request):
    from ZoomifyImage.stores import make_store
    if kind.startswith("s3"):
        prefix = request.getfixturevalue("s3_settings")
    uid = "ab%030x" % 23
    connection = db.open()
    transaction.begin()
    connection.root()["store"] = store = make_store(kind.split("-")[0], uid)
    first = write_set(store, 1)
    transaction.commit()
    # the ZODB sorts before the placement of the set, and BETWEEN sits
    # between them (see the scenarios)
    assert FIRST < connection.sortKey() < BETWEEN < "~zoomifyimage" < LAST
    if kind == "filesystem-job":
        JOB_WRITERS.append(None)
        request.addfinalizer(JOB_WRITERS.clear)

    told = []
    transaction.begin()
    new_set = write_set(store, 0)  # replaced by each scenario's own
    transaction.abort()
    transaction.begin()
    committed = scenario(store, told)
    transaction.abort()
    set_id, tile = committed_store(db)
    if committed:
        assert set_id not in (None, first)
        assert tile == b"tile of set 2"
    else:
        assert (set_id, tile) == (first, b"tile of set 1")
    if kind.startswith("filesystem"):
        image_dir = os.path.join(own_root, uid[:2], uid)
        on_disc = sorted(os.listdir(image_dir))
        # the committed set, and the first set (kept for an Undo): nothing
        # else, and nothing left half-written
        assert on_disc == sorted({first, set_id}), scenario.__name__
        assert new_set not in on_disc
        assert not set(told) & set(on_disc)
        with open(os.path.join(image_dir, set_id, "TileGroup0",
                               "0-0-0.jpg"), "rb") as f:
            assert f.read() == tile
        # a job's sets wait in .partial until the job lets them go
        for writer in JOB_WRITERS[1:]:
            writer.abort()
        assert partial_of(uid, own_root) == []
    if kind.startswith("s3"):
        seaweedfs = request.getfixturevalue("seaweedfs")
        for writer in JOB_WRITERS[1:]:
            writer.abort()
        records, tiled = sets_in_bucket(seaweedfs, prefix, uid)
        # the committed set and the first, each placed (its record names
        # its store): nothing else, no tile of a set that never was
        assert tiled == {first, set_id}, scenario.__name__
        owner = "%s" % store._p_oid.hex()
        assert records == {first: owner, set_id: owner}
        assert store.get("TileGroup0/0-0-0.jpg", set_id) == tile
    connection.close()
