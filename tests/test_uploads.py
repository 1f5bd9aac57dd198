"""Resumable (tus) uploads, FOLDER/@@zoomify-upload and IMAGE/@@zoomify-
upload (uploads.py), against a real `runwsgi` on a loopback port, with the
tus client library `tuspy` and plain HTTP requests."""

import base64
import fcntl
import hashlib
import io
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from tests.images import smooth
from tests.zope_fixtures import ADMIN
from tests.zope_fixtures import ZopeServer

requests = pytest.importorskip("requests")
pytest.importorskip("tusclient")

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"
CHUNK = 16 << 20
BOB = ("bob", "bob-secret")        # a Manager too, but not the uploader
CAROL = ("carol", "carol-secret")  # logged in, no role here
MAX_SIZE = 1 << 30

# A tus client in a process of its own, so that the test can kill it in
# the middle of a chunk: tuspy, its upload URL kept in a small database
# (as a browser keeps it in localStorage), so that a second run resumes.
CLIENT = r"""
import sys
from tusclient import client
from tusclient.storage.filestorage import FileStorage
endpoint, path, store, user, password = sys.argv[1:6]
tus = client.TusClient(endpoint)
tus.set_headers({"Authorization": "Basic " + __import__("base64")
                 .b64encode(("%s:%s" % (user, password)).encode()).decode()})
uploader = tus.uploader(path, chunk_size=int(sys.argv[6]), store_url=True,
                        url_storage=FileStorage(store),
                        metadata={"filename": "big.ppm", "title": "Big"})
print("start", uploader.url, uploader.offset, flush=True)
uploader.upload_chunk()  # creates the upload, if there is none yet
print("url", uploader.url, flush=True)
print("offset", uploader.offset, flush=True)
while uploader.offset < uploader.get_file_size():
    uploader.upload_chunk()
    print("offset", uploader.offset, flush=True)
print("done", uploader.url, flush=True)
"""


def add_user(server, user, roles):
    """A user (name, password) of the server's root user folder."""
    name, password = user
    r = requests.post(server.url + "/acl_users/manage_users", auth=ADMIN,
                      data={"submit": "Add", "name": name,
                            "password": password, "confirm": password,
                            "roles:list": roles})
    assert r.status_code == 200, r.text[:300]


@pytest.fixture(scope="module")
def server():
    s = ZopeServer(settings={"upload-max-size": "1GB"}).start()
    try:
        add_user(s, BOB, "Manager")
        add_user(s, CAROL, "Authenticated")
        yield s
    finally:
        s.stop()


def upload_dir(server):
    return os.path.join(server.home, "var", "uploads")


def upload_files(server):
    path = upload_dir(server)
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def jpeg(seed=0, size=(300, 200)):
    out = io.BytesIO()
    Image.fromarray(smooth(size[0], size[1], seed)).save(out, "JPEG")
    return out.getvalue()


def metadata(**values):
    return ",".join("%s %s" % (k, base64.b64encode(v.encode()).decode())
                    for k, v in values.items())


def create(endpoint, length, auth=ADMIN, **meta):
    meta.setdefault("filename", "photo.jpg")
    return requests.post(endpoint + "/@@zoomify-upload", auth=auth,
                         headers=dict(TUS, **{
                             "Upload-Length": str(length),
                             "Upload-Metadata": metadata(**meta)}))


def patch(url, offset, data, auth=ADMIN, **headers):
    return requests.patch(url, data=data, auth=auth, headers=dict(
        TUS, **{"Upload-Offset": str(offset), "Content-Type": OCTETS},
        **headers))


def offset(url, auth=ADMIN):
    r = requests.head(url, auth=auth, headers=TUS)
    return int(r.headers["Upload-Offset"]) if r.ok else r.status_code


def part_file(server, url):
    return os.path.join(upload_dir(server), url.rsplit("/", 1)[1] + ".part")


def big_ppm(path, width=8192, height=8192):
    """An uncompressed 8-bit PPM, about 200 MB: a real image, made fast."""
    row = (np.arange(width * 3, dtype=np.uint32) * 7 % 251).astype(np.uint8)
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (width, height))
        block = np.tile(row, (512, 1))
        for y in range(0, height, 512):
            f.write(np.roll(block, y, axis=1).tobytes())
    return str(path)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def test_options_says_what_the_server_does(server):
    r = requests.options(server.url + "/@@zoomify-upload", auth=ADMIN)
    assert r.status_code == 204
    assert r.headers["Tus-Version"] == "1.0.0"
    assert r.headers["Tus-Extension"] == "creation,termination"
    assert int(r.headers["Tus-Max-Size"]) == MAX_SIZE


def test_small_upload_in_chunks_adds_the_image(server, folder_url):
    data = jpeg(1)
    r = create(folder_url, len(data), filename="C:\\pics\\small.jpg",
               title="Small")
    assert r.status_code == 201, r.text
    url = r.headers["Location"]
    assert url.startswith(folder_url + "/@@zoomify-upload/")
    assert offset(url) == 0
    for start in range(0, len(data), 4000):
        r = patch(url, start, data[start:start + 4000])
        assert r.status_code == 204, r.text
        assert int(r.headers["Upload-Offset"]) == min(start + 4000,
                                                      len(data))
    # the id is the file's name without its extension (newcomer 6)
    assert r.headers["X-Zoomify-Location"] == folder_url + "/small"
    status = requests.get(folder_url + "/small/status_json").json()
    assert status["status"] == "ready"
    assert requests.get(folder_url + "/small/download",
                        auth=ADMIN).content == data
    # HEAD still says complete (a client that lost the last answer); the
    # bytes themselves are gone from the upload directory
    assert offset(url) == len(data)
    assert not [n for n in upload_files(server) if n.endswith(".part")]
    r = patch(url, len(data), b"x")
    assert r.status_code == 409


def test_wrong_offset_is_409_and_changes_nothing(server, folder_url):
    data = jpeg(2)
    url = create(folder_url, len(data)).headers["Location"]
    assert patch(url, 0, data[:1000]).status_code == 204
    for wrong in (0, 999, 1001, len(data)):
        r = patch(url, wrong, data[wrong:wrong + 10])
        assert r.status_code == 409, wrong
        assert r.headers["Upload-Offset"] == "1000"
    assert os.path.getsize(part_file(server, url)) == 1000
    # no Content-Type of tus: 415; beyond Upload-Length: 400
    r = requests.patch(url, data=b"x", auth=ADMIN, headers=dict(
        TUS, **{"Upload-Offset": "1000"}))
    assert r.status_code == 415
    assert patch(url, 1000, data[1000:] + b"extra").status_code == 400
    assert offset(url) == 1000
    assert patch(url, 1000, data[1000:]).status_code == 204
    assert requests.get(folder_url + "/photo/download",
                        auth=ADMIN).content == data


def test_anonymous_gets_401_and_nothing_is_written(server, folder_url):
    before = upload_files(server)
    r = requests.post(folder_url + "/@@zoomify-upload", headers=dict(
        TUS, **{"Upload-Length": "1000",
                "Upload-Metadata": metadata(filename="a.jpg")}))
    assert r.status_code == 401
    assert upload_files(server) == before
    # nor may anonymous write to or delete an existing upload
    data = jpeg(3)
    url = create(folder_url, len(data)).headers["Location"]
    assert patch(url, 0, data[:500]).status_code == 204
    assert patch(url, 500, data[500:], auth=None).status_code == 401
    assert requests.head(url, headers=TUS).status_code == 401
    assert requests.delete(url, headers=TUS).status_code == 401
    assert os.path.getsize(part_file(server, url)) == 500
    # logged in without the permission to add images: no upload either
    before = upload_files(server)
    assert create(folder_url, 1000, auth=CAROL).status_code == 401
    assert upload_files(server) == before


def test_another_users_upload_does_not_exist_for_him(server, folder_url):
    data = jpeg(4)
    url = create(folder_url, len(data)).headers["Location"]
    assert patch(url, 0, data[:500]).status_code == 204
    assert requests.head(url, auth=BOB, headers=TUS).status_code == 404
    assert patch(url, 500, data[500:], auth=BOB).status_code == 404
    assert requests.delete(url, auth=BOB, headers=TUS).status_code == 404
    assert offset(url) == 500
    # nor does it exist under another folder's endpoint
    other = url.replace(folder_url, server.url)
    assert requests.head(other, auth=ADMIN, headers=TUS).status_code == 404
    assert patch(url, 500, data[500:]).status_code == 204


def test_changes_from_another_site_are_refused(server, folder_url):
    data = jpeg(5)
    url = create(folder_url, len(data)).headers["Location"]
    evil = {"Origin": "http://evil.example"}
    r = requests.post(folder_url + "/@@zoomify-upload", auth=ADMIN,
                      headers=dict(TUS, **evil, **{
                          "Upload-Length": "10",
                          "Upload-Metadata": metadata(filename="e.jpg")}))
    assert r.status_code == 403
    assert patch(url, 0, data, **evil).status_code == 403
    assert patch(url, 0, data, **{"Sec-Fetch-Site": "cross-site"}
                 ).status_code == 403
    assert requests.delete(url, auth=ADMIN, headers=dict(TUS, **evil)
                           ).status_code == 403
    assert offset(url) == 0
    # and GET changes nothing: it is not a tus method
    assert requests.get(url, auth=ADMIN, headers=TUS).status_code == 405


def test_refused_when_created(server, folder_url):
    r = create(folder_url, MAX_SIZE + 1)
    assert r.status_code == 413
    assert int(r.headers["Tus-Max-Size"]) == MAX_SIZE
    assert create(folder_url, 0).status_code == 400
    r = requests.post(folder_url + "/@@zoomify-upload", auth=ADMIN,
                      headers={"Upload-Length": "10"})
    assert r.status_code == 412  # no Tus-Resumable
    r = requests.post(folder_url + "/@@zoomify-upload", auth=ADMIN,
                      headers=dict(TUS, **{"Upload-Length": "10"}))
    assert r.status_code == 400  # no file name
    assert create(folder_url, 10, id="_bad").status_code == 400
    assert create(folder_url, 10, storage="cloud").status_code == 400
    assert create(folder_url, 10, quality="101").status_code == 400
    # an id that is taken: refused now, not after the last byte
    data = jpeg(6)
    url = create(folder_url, len(data), id="taken").headers["Location"]
    assert patch(url, 0, data).status_code == 204
    r = create(folder_url, 10, id="taken")
    assert r.status_code == 400 and "in use" in r.text


def test_a_file_that_is_no_image_adds_nothing(server, folder_url):
    data = b"not an image " * 1000
    url = create(folder_url, len(data),
                 filename="junk.jpg").headers["Location"]
    r = patch(url, 0, data)
    assert r.status_code == 400
    assert "junk.jpg" in r.text
    assert requests.get(
        folder_url + "/junk.jpg/status_json").status_code == 404
    assert offset(url) == 404  # removed: it can never succeed


def test_terminated_upload_is_gone(server, folder_url):
    data = jpeg(7)
    url = create(folder_url, len(data)).headers["Location"]
    assert patch(url, 0, data[:100]).status_code == 204
    r = requests.delete(url, auth=ADMIN, headers=TUS)
    assert r.status_code == 204
    assert offset(url) == 404
    assert not os.path.exists(part_file(server, url))


def test_two_writers_at_once_the_second_waits(server, folder_url):
    data = jpeg(8)
    url = create(folder_url, len(data)).headers["Location"]
    # another writer (here: this process) holds the upload's lock
    with open(part_file(server, url), "ab") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        r = patch(url, 0, data)
        assert r.status_code == 423
        assert requests.delete(url, auth=ADMIN, headers=TUS
                               ).status_code == 423
    assert offset(url) == 0
    assert patch(url, 0, data).status_code == 204


def test_all_bytes_but_no_image_yet_the_end_again_adds_it(server, folder_url):
    """Zope died after the last byte, before the add committed: HEAD says
    one byte is missing, the client sends the end again, the image is
    added."""
    data = jpeg(9)
    url = create(folder_url, len(data), id="late").headers["Location"]
    with open(part_file(server, url), "ab") as f:
        f.write(data)
    assert offset(url) == len(data) - 1
    assert patch(url, len(data) - 1, data[-1:]).status_code == 204
    assert offset(url) == len(data)
    assert requests.get(folder_url + "/late/download",
                        auth=ADMIN).content == data


def test_an_image_gets_a_new_file(server, folder_url):
    first, second = jpeg(10), jpeg(11, (500, 300))
    url = create(folder_url, len(first), id="swap").headers["Location"]
    assert patch(url, 0, first).status_code == 204
    image = folder_url + "/swap"
    r = create(image, len(second), filename="second.jpg")
    assert r.status_code == 201
    url = r.headers["Location"]
    assert url.startswith(image + "/@@zoomify-upload/")
    assert create(image, len(second), auth=CAROL).status_code == 401
    assert patch(url, 0, second[:7000]).status_code == 204
    assert patch(url, 7000, second[7000:]).status_code == 204
    assert requests.get(image + "/download", auth=ADMIN).content == second
    assert "500" in requests.get(image + "/ImageProperties.xml").text


def test_abandoned_uploads_are_removed(server, folder_url):
    data = jpeg(12)
    old = create(folder_url, len(data), filename="old.jpg"
                 ).headers["Location"]
    assert patch(old, 0, data[:100]).status_code == 204
    fresh = create(folder_url, len(data), filename="fresh.jpg"
                   ).headers["Location"]
    # untouched for longer than upload-expiry-hours (24)
    day_ago = time.time() - 25 * 3600
    for path in (part_file(server, old), part_file(server, old)[:-5] +
                 ".json"):
        os.utime(path, (day_ago, day_ago))
    # the next new upload sweeps them away
    assert create(folder_url, len(data)).status_code == 201
    assert offset(old) == 404
    assert not os.path.exists(part_file(server, old))
    assert offset(fresh) == 0


def test_expiry_spares_uploads_being_written(tmp_path):
    """What Zope runs at start-up and at each new upload."""
    from ZoomifyImage.uploads import remove_expired
    day_ago = time.time() - 25 * 3600
    names = {}
    for name in ("old", "busy", "fresh"):
        upload_id = hashlib.md5(name.encode()).hexdigest()
        names[name] = upload_id
        for ext in (".part", ".json"):
            path = tmp_path / (upload_id + ext)
            path.write_bytes(b"x")
            if name != "fresh":
                os.utime(path, (day_ago, day_ago))
    (tmp_path / "README").write_text("not ours")
    with open(tmp_path / (names["busy"] + ".part"), "ab") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        assert remove_expired(str(tmp_path)) == 1
    left = sorted(os.listdir(tmp_path))
    assert left == sorted(["README"] + [names[n] + ext for n in ("busy",
                                                                "fresh")
                                        for ext in (".part", ".json")])


def test_200mb_upload_client_killed_halfway_resumes(server, folder_url,
                                                    tmp_path):
    path = big_ppm(tmp_path / "big.ppm")
    size = os.path.getsize(path)
    store = str(tmp_path / "urls.json")
    command = [sys.executable, "-c", CLIENT, folder_url + "/@@zoomify-upload",
               path, store, ADMIN[0], ADMIN[1], str(CHUNK)]
    client = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    last = 0
    for line in client.stdout:
        word, value = line.split()[:2]
        if word == "url":
            url = value
        elif word == "offset":
            last = int(value)
            if last >= size // 2:
                break  # the client is sending the next chunk now
    client.kill()  # the connection is cut in the middle of a chunk
    client.wait()
    # the server kept every whole chunk and nothing of the cut one
    kept = os.path.getsize(part_file(server, url))
    assert kept in (last, last + CHUNK) and kept < size
    # a new client process finds its upload and asks the server where to go
    # on from
    out = subprocess.run(command, stdout=subprocess.PIPE, text=True,
                         timeout=300, check=True).stdout.split("\n")
    start = out[0].split()
    assert start[0] == "start" and start[1] != "None"
    assert int(start[2]) == kept
    assert start[1] == url
    assert out[-2].startswith("done")
    assert offset(url) == size
    image = folder_url + "/big"
    assert requests.get(image + "/status_json").json()["status"] in (
        "queued", "tiling", "ready")  # 67 megapixels: in the background
    digest = hashlib.sha256()
    with requests.get(image + "/download", stream=True, auth=ADMIN) as r:
        assert r.status_code == 200
        for block in r.iter_content(1 << 20):
            digest.update(block)
    assert digest.hexdigest() == sha256_file(path)
    # added once: one image in the folder, whatever the retries did
    listing = requests.get(folder_url + "/manage_main", auth=ADMIN).text
    assert listing.count('name="ids:list"') == 1
    assert listing.count('href="big/manage_workspace"') == 1
    assert not os.path.exists(part_file(server, url))


@pytest.fixture(scope="module")
def roomy_server():
    """A server whose upload-max-size and upload-user-quota are far above
    any disc (the disc's own limits are what these tests see)."""
    s = ZopeServer(settings={"upload-max-size": "1000TB",
                             "upload-user-quota": "1000TB"}).start()
    try:
        yield s
    finally:
        s.stop()


def delete_all(urls, auth=ADMIN):
    for url in urls:
        requests.delete(url, auth=auth, headers=TUS)


def test_open_uploads_cannot_promise_more_than_the_disc(roomy_server):
    """Each upload alone fits on the disc, but not together: what open
    uploads are still owed is counted."""
    site = roomy_server.url
    from ZoomifyImage.config import reserve_bytes
    disc = shutil.disk_usage(roomy_server.home)
    # what is above upload-free-reserve (default: 5% of the disc)
    quarter = (disc.free - reserve_bytes("", disc.total)) // 4
    urls = []
    try:
        for n in range(2):
            r = create(site, quarter, filename="big%d.tif" % n)
            assert r.status_code == 201, r.text
            urls.append(r.headers["Location"])
        assert patch(urls[0], 0, b"x" * 1000).status_code == 204
        # half the disc is promised: two and a half quarters do not fit
        # (they did, alone)
        r = create(site, quarter * 5 // 2, filename="big2.tif")
        assert r.status_code == 507, r.text
        assert "space" in r.text
        # once one is gone, its room is free again
        delete_all(urls[:1])
        r = create(site, quarter * 5 // 2, filename="big2.tif")
        assert r.status_code == 201, r.text
        urls.append(r.headers["Location"])
    finally:
        delete_all(urls)


def test_without_a_quota_one_user_gets_half_the_room(tmp_path):
    """Review of issue 23 (M2): with no upload-user-quota, one POST of an
    editor could promise all the disc above the reserve to himself, and
    every other user got 507 for as long as he sent a byte a day. One user
    may be owed at most half of what the others leave."""
    s = ZopeServer(settings={"upload-max-size": "1000TB"}).start()
    urls = []
    try:
        add_user(s, BOB, "Manager")
        from ZoomifyImage.config import reserve_bytes
        disc = shutil.disk_usage(s.home)
        room = disc.free - reserve_bytes("", disc.total)
        # the whole room, less a little: refused, with the reason
        r = create(s.url, room - (64 << 20), filename="all.tif")
        assert r.status_code == 429, r.text
        assert "one user may have half" in r.text
        # well under half: taken (the disc is shared with other work: the
        # margins are wide)
        r = create(s.url, room // 5, filename="mine.tif")
        assert r.status_code == 201, r.text
        urls.append(r.headers["Location"])
        # the same user again, past half of the room: refused
        r = create(s.url, room * 2 // 5, filename="more.tif")
        assert r.status_code == 429, r.text
        # another user still gets his share of what is left
        r = create(s.url, room // 8, filename="bobs.tif", auth=BOB)
        assert r.status_code == 201, r.text
        urls.append(r.headers["Location"])
    finally:
        for url, auth in zip(urls, (ADMIN, BOB)):
            requests.delete(url, auth=auth, headers=TUS)
        s.stop()


def test_open_uploads_per_user_are_capped(roomy_server):
    from ZoomifyImage.uploads import MAX_OPEN_UPLOADS
    site = roomy_server.url
    r = requests.post(site + "/acl_users/manage_users", auth=ADMIN,
                      data={"submit": "Add", "name": BOB[0],
                            "password": BOB[1], "confirm": BOB[1],
                            "roles:list": "Manager"})
    assert r.status_code == 200
    urls = []
    try:
        for n in range(MAX_OPEN_UPLOADS):
            r = create(site, 1000, filename="p%d.jpg" % n)
            assert r.status_code == 201, r.text
            urls.append(r.headers["Location"])
        before = upload_files(roomy_server)
        r = create(site, 1000, filename="one-more.jpg")
        assert r.status_code == 429
        assert "%d unfinished uploads" % MAX_OPEN_UPLOADS in r.text
        assert upload_files(roomy_server) == before
        # another user is not held back by them
        r = create(site, 1000, auth=BOB, filename="bob.jpg")
        assert r.status_code == 201
        delete_all([r.headers["Location"]], auth=BOB)
        # a finished or cancelled upload is not open any more
        data = jpeg(13)
        delete_all(urls[:1])
        r = create(site, len(data), filename="done.jpg")
        assert r.status_code == 201
        assert patch(r.headers["Location"], 0, data).status_code == 204
        r = create(site, 1000, filename="again.jpg")
        assert r.status_code == 201
        urls[0] = r.headers["Location"]
    finally:
        delete_all(urls)


def test_numbers_are_ascii_digits(server, folder_url):
    """str.isdigit() took "²" (and int() then failed: a 500)."""
    for value in ("\u00b2", "\uff11\uff12", "1" * 21, "-1", "+5", "1 0",
                  "0x10", "1e3", ""):
        r = requests.post(folder_url + "/@@zoomify-upload", auth=ADMIN,
                          headers=dict(TUS, **{
                              "Upload-Length": value.encode("utf-8")
                              if value > "\u00ff" else value,
                              "Upload-Metadata": metadata(
                                  filename="n.jpg")}))
        assert r.status_code == 400, (value, r.status_code)
    data = jpeg(14)
    url = create(folder_url, len(data)).headers["Location"]
    for value in ("\u00b2", "\u00b9\u00b2", "1" * 21):
        r = requests.patch(url, data=data[:10], auth=ADMIN, headers=dict(
            TUS, **{"Upload-Offset": value, "Content-Type": OCTETS}))
        assert r.status_code == 400, (value, r.status_code)
    assert offset(url) == 0
    # the same check for Content-Length (waitress refuses a bad one itself)
    from ZoomifyImage.uploads import header_number
    assert header_number("\u00b2") is None
    assert header_number(" 12 ") == 12
    assert header_number(None) is None


def test_metadata_cannot_forge_log_lines(server, folder_url):
    forged = "FORGED 2026-01-01 00:00:00,000 INFO [Zope] all is well"
    data = jpeg(15)
    r = create(folder_url, len(data), id="forge", filename="a.jpg\n" + forged,
               title="Harbour\r\n" + forged + "\x1b[2J\x85\u2028")
    assert r.status_code == 201, r.text
    url = r.headers["Location"]
    info_path = part_file(server, url)[:-5] + ".json"
    import json
    with open(info_path) as f:
        info = json.load(f)
    assert info["filename"] == "a.jpg" + forged
    assert info["title"] == "Harbour" + forged + "[2J"
    assert patch(url, 0, data).status_code == 204
    lines = server.log_text().splitlines()
    assert not [line for line in lines if line.startswith("FORGED")]
    assert [line for line in lines if repr("a.jpg" + forged) in line]


def test_options_on_a_folder_endpoint_answers(server, folder_url):
    """L2: OPTIONS FOLDER/@@zoomify-upload was a 500 with a traceback in the
    log for every request (Zope's WebDAV lookup of the last name)."""
    logged = len(server.log_text())
    for url in (folder_url, folder_url + "/"):
        r = requests.options(url + "/@@zoomify-upload", auth=ADMIN)
        assert r.status_code == 204, r.text[:300]
        assert r.headers["Tus-Version"] == "1.0.0"
        assert int(r.headers["Tus-Max-Size"]) == MAX_SIZE
    assert requests.options(folder_url + "/@@zoomify-upload"
                            ).status_code == 401
    # the other methods a tus endpoint does not take: 405, not 500
    r = requests.delete(folder_url + "/@@zoomify-upload", auth=ADMIN,
                        headers=TUS)
    assert r.status_code == 405 and "POST" in r.headers["Allow"]
    assert "Traceback" not in server.log_text()[logged:]


def test_patch_on_an_image_is_not_allowed(server, folder_url):
    """L9: PATCH on an image, not on an upload, answered 200 with the
    object's repr."""
    data = jpeg(16)
    url = create(folder_url, len(data), id="nopatch").headers["Location"]
    assert patch(url, 0, data).status_code == 204
    image = folder_url + "/nopatch"
    for auth in (ADMIN, None):
        r = requests.patch(image, data=b"junk", auth=auth, headers=dict(
            TUS, **{"Upload-Offset": "0", "Content-Type": OCTETS}))
        assert r.status_code == 405, r.text[:200]
        assert "POST" in r.headers["Allow"]
        assert "ZoomifyImage at" not in r.text
    assert requests.get(image + "/download", auth=ADMIN).content == data


def test_an_id_is_reserved_when_the_upload_is_created(server, folder_url):
    """L4: two uploads for the same new id: the second was refused only
    after its last byte (and its bytes deleted). Now the id is taken from
    the creation of the first until it is finished or cancelled, for
    every user."""
    data = jpeg(17)
    first = create(folder_url, len(data), id="same")
    assert first.status_code == 201
    for auth in (ADMIN, BOB):
        r = create(folder_url, len(data), auth=auth, id="same")
        assert r.status_code == 400, r.text
        assert "same" in r.text and "in use" in r.text
    # an id from the file name is an id too
    assert create(folder_url, len(data), filename="one.jpg"
                  ).status_code == 201
    r = create(folder_url, len(data), auth=BOB, filename="C:\\x\\one.jpg")
    assert r.status_code == 400 and '"one"' in r.text
    # elsewhere the id is free
    r = create(server.url, len(data), id="same")
    assert r.status_code == 201
    requests.delete(r.headers["Location"], auth=ADMIN, headers=TUS)
    # cancelled: free again, and the other user's upload adds the image
    requests.delete(first.headers["Location"], auth=ADMIN, headers=TUS)
    r = create(folder_url, len(data), auth=BOB, id="same")
    assert r.status_code == 201
    assert patch(r.headers["Location"], 0, data, auth=BOB).status_code == 204
    assert requests.get(folder_url + "/same/download",
                        auth=ADMIN).content == data


@pytest.fixture(scope="module")
def quota_server():
    """A server whose users may hold 10 MB of unfinished uploads."""
    s = ZopeServer(settings={"upload-max-size": "1000TB",
                             "upload-user-quota": "10MB"}).start()
    try:
        add_user(s, BOB, "Manager")
        yield s
    finally:
        s.stop()


def test_a_user_may_reserve_only_his_quota(quota_server):
    """M2: one POST reserved the whole disc; now a user's unfinished
    uploads together may promise upload-user-quota bytes at most."""
    site = quota_server.url
    mb = 1 << 20
    urls = []
    try:
        r = create(site, 6 * mb, filename="a.tif")
        assert r.status_code == 201
        urls.append(r.headers["Location"])
        before = upload_files(quota_server)
        r = create(site, 5 * mb, filename="b.tif")
        assert r.status_code == 429, r.text
        assert "upload-user-quota" in r.text and "10.00 MiB" in r.text
        assert upload_files(quota_server) == before
        # received bytes count too: the promise is the whole length
        assert patch(urls[0], 0, b"x" * mb).status_code == 204
        assert create(site, 5 * mb, filename="b.tif").status_code == 429
        # another user has his own quota
        r = create(site, 5 * mb, auth=BOB, filename="bob.tif")
        assert r.status_code == 201
        delete_all([r.headers["Location"]], auth=BOB)
        # up to the quota is fine
        r = create(site, 4 * mb, filename="c.tif")
        assert r.status_code == 201
        urls.append(r.headers["Location"])
        delete_all(urls)
        r = create(site, 10 * mb, filename="d.tif")
        assert r.status_code == 201
        urls = [r.headers["Location"]]
    finally:
        delete_all(urls)


@pytest.fixture(scope="module")
def reserve_server():
    """A server that keeps half of the disc's free space free (as bytes:
    the disc is shared with other jobs, the margins below are wide)."""
    free = shutil.disk_usage(tempfile_dir()).free
    s = ZopeServer(settings={"upload-max-size": "1000TB",
                             "upload-user-quota": "1000TB",
                             "upload-free-reserve": str(free // 2)}).start()
    try:
        yield s
    finally:
        s.stop()


def tempfile_dir():
    import tempfile
    return tempfile.gettempdir()


def test_uploads_leave_the_free_space_reserve(reserve_server):
    """M2: the check let uploads fill the disc to its last byte, which the
    blobs, tiles and Data.fs may share."""
    site = reserve_server.url
    free = shutil.disk_usage(reserve_server.home).free
    r = create(site, free * 6 // 10, filename="big.tif")
    assert r.status_code == 507, r.text
    assert "upload-free-reserve" in r.text
    r = create(site, free * 3 // 10, filename="fits.tif")
    assert r.status_code == 201, r.text
    try:
        # what it is owed counts: a second one that would fit alone does
        # not fit beside it
        assert create(site, free * 3 // 10, filename="second.tif"
                      ).status_code == 507
    finally:
        delete_all([r.headers["Location"]])


def test_an_upload_without_bytes_expires_soon(server, folder_url):
    """M2: a reservation without bytes lasted upload-expiry-hours after the
    last activity. An upload that received nothing goes
    upload-empty-expiry-minutes (60) after its creation; one with bytes
    after upload-expiry-hours of quiet, as before."""
    import json
    data = jpeg(18)
    empty = create(folder_url, len(data), filename="e.jpg")
    begun = create(folder_url, len(data), filename="b.jpg")
    empty, begun = empty.headers["Location"], begun.headers["Location"]
    assert patch(begun, 0, data[:10]).status_code == 204
    for url in (empty, begun):
        path = part_file(server, url)[:-5] + ".json"
        with open(path) as f:
            info = json.load(f)
        info["created"] -= 61 * 60  # created 61 minutes ago
        with open(path, "w") as f:
            json.dump(info, f)
    # a HEAD (or anything but bytes) does not keep it
    assert offset(empty) == 0
    assert create(folder_url, len(data), filename="n.jpg"
                  ).status_code == 201
    assert offset(empty) == 404
    assert offset(begun) == 10


class SmallDiscServer(ZopeServer):
    """A Zope whose upload directory is a tmpfs of SIZE bytes: a real full
    disc, mounted in a mount namespace of the Zope process's own (user
    namespaces let any user do that), seen from here through
    /proc/PID/root."""

    SIZE = 8 << 20

    def __init__(self):
        self.uploads = None
        super().__init__(settings={"upload-free-reserve": "0%",
                                   "upload-user-quota": "1GB"})
        self.uploads = os.path.join(self.home, "var", "small-disc")
        os.makedirs(self.uploads)
        with open(self.conf) as f:
            text = f.read()
        with open(self.conf, "w") as f:
            f.write(text.replace("    upload-free-reserve 0%\n",
                                 "    upload-free-reserve 0%%\n"
                                 "    upload-dir %s\n" % self.uploads))

    def start(self, timeout=60):
        runwsgi = os.path.join(os.path.dirname(sys.executable), "runwsgi")
        self.log = open(os.path.join(self.home, "server.log"), "ab")
        mount = ("mount -t tmpfs -o size=%d tmpfs \"$1\" && exec \"$2\" "
                 "\"$3\"" % self.SIZE)
        self.process = subprocess.Popen(
            ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
             mount, "sh", self.uploads, runwsgi, self.ini],
            stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/", timeout=2)
                return self
            except requests.ConnectionError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("Zope did not start:\n" + self.log_text()[-3000:])

    def inside(self, name):
        """A path in the upload directory as the Zope process sees it."""
        return "/proc/%d/root%s/%s" % (self.process.pid, self.uploads, name)


def test_a_full_disc_during_a_patch_is_507_and_resumable(tmp_path):
    """L3: the disc filled up during a PATCH: 500 with a traceback. Now:
    507, the bytes written are kept, and the upload goes on once there is
    room again."""
    probe = subprocess.run(["unshare", "--user", "--map-root-user",
                            "--mount", "true"], capture_output=True)
    if probe.returncode:
        pytest.skip("no mount namespace here (unshare: %s): a real full "
                    "disc needs one" % probe.stderr.decode().strip())
    server = SmallDiscServer().start()
    try:
        assert "tmpfs" in open("/proc/%d/mounts"
                               % server.process.pid).read()
        image = big_ppm(tmp_path / "six.ppm", 1500, 1400)  # 6.3 MB
        with open(image, "rb") as f:
            data = f.read()
        r = create(server.url, len(data), filename="six.ppm")
        assert r.status_code == 201, r.text
        url = r.headers["Location"]
        # something else takes 4 of the 8 MB meanwhile
        filler = server.inside("filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (4 << 20))
        logged = len(server.log_text())
        r = patch(url, 0, data)
        assert r.status_code == 507, r.text
        assert "disc" in r.text and "/" not in r.text
        kept = offset(url)
        assert 0 < kept < len(data)
        with open(server.inside(url.rsplit("/", 1)[1] + ".part"), "rb") as f:
            assert f.read() == data[:kept]  # what is kept is the file's
        assert "Traceback" not in server.log_text()[logged:]
        os.remove(filler)  # room again: the upload goes on
        r = patch(url, kept, data[kept:])
        assert r.status_code == 204, r.text
        # another filesystem than the blobs': no link can be made, so the
        # image's background job copies the file into its blob (issue 26),
        # as Zope said at start-up; the request did not
        server.wait_for("six", ["ready", "failed"], timeout=60)
        assert requests.get(server.url + "/six/download", auth=ADMIN
                            ).content == data
        log = server.log_text()
        assert "is not on the filesystem of the blob directory" in log
        # the request said it left the file to the job, and the job stored
        # it (in either order: the request logs after its commit, when
        # the worker may already be at it)
        assert "(its file stored by the background job)" in log
        assert "the uploaded file stored" in log
        assert not os.path.exists(server.inside(
            url.rsplit("/", 1)[1] + ".part"))
    finally:
        server.stop()


def test_unfinished_uploads_are_listed_and_cancelled(server, folder_url):
    """Newcomer 2: abandoned uploads locked a user out with nothing in the
    interface to see or cancel them. FOLDER/@@zoomify-uploads lists the
    user's own, and a POST cancels one."""
    data = jpeg(19)
    mine = create(folder_url, len(data), filename="<i>mine.jpg",
                  id="listed").headers["Location"]
    assert patch(mine, 0, data[:2048]).status_code == 204
    other = create(folder_url, len(data), auth=BOB,
                   filename="bobs.jpg").headers["Location"]
    page = folder_url + "/@@zoomify-uploads"
    r = requests.get(page, auth=ADMIN)
    assert r.status_code == 200
    assert "&lt;i&gt;mine.jpg" in r.text and "<i>mine" not in r.text
    assert "bobs.jpg" not in r.text  # another user's is not shown
    bobs = requests.get(page, auth=BOB).text
    assert "bobs.jpg" in bobs and "mine.jpg" not in bobs
    assert "2 KiB" in r.text and "new image listed in" in r.text
    assert r.headers["Cache-Control"] == "no-store"
    assert requests.get(page).status_code == 401
    mine_id = mine.rsplit("/", 1)[1]
    # not from another site, not another user's, not by GET
    r = requests.post(page, data={"cancel": mine_id}, auth=ADMIN,
                      headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = requests.post(page, data={"cancel": mine_id}, auth=BOB,
                      allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"].endswith(
        "?done=gone")
    requests.get(page + "?cancel=" + mine_id, auth=ADMIN)
    assert offset(mine) == 2048
    r = requests.post(page, data={"cancel": mine_id}, auth=ADMIN)
    assert r.status_code == 200  # the 303 leads back to the list
    assert "was cancelled" in r.text and "mine" not in r.text
    assert offset(mine) == 404 and offset(other, auth=BOB) == 0
    # the add form shows the list too
    create(folder_url, len(data), filename="shown.jpg")
    form = requests.get(folder_url + "/manage_addProduct/ZoomifyImage/"
                        "manage_addZoomifyImageForm", auth=ADMIN).text
    assert "Your unfinished uploads" in form and "shown.jpg" in form
    # and a complete upload tells a client that lost its last answer where
    # the image went
    url = create(folder_url, len(data), filename="done.jpg"
                 ).headers["Location"]
    assert patch(url, 0, data).status_code == 204
    r = requests.head(url, auth=ADMIN, headers=TUS)
    assert r.headers["X-Zoomify-Location"] == folder_url + "/done"


def test_a_reserved_id_is_refused_to_the_add_form(server, folder_url,
                                                  tmp_path):
    """L4: the id an unfinished upload will take is reserved against the
    other ways in too (the add form, a paste, a rename), until the upload
    ends."""
    from tests.http_upload import post_form
    data = jpeg(20)
    url = create(folder_url, len(data), id="kept").headers["Location"]
    path = tmp_path / "other.jpg"
    path.write_bytes(jpeg(21))
    add = folder_url + "/manage_addProduct/ZoomifyImage/manage_addZoomifyImage"
    status, body = post_form(add, {"id": "kept"}, "file", str(path), BOB)
    assert status == 400 and b"reserved by an unfinished upload" in body
    # a rename onto it is refused the same way
    status, body = post_form(add, {"id": "other"}, "file", str(path), BOB)
    assert status == 302
    r = requests.post(folder_url + "/manage_renameObjects", auth=BOB,
                      data={"ids:list": "other", "new_ids:list": "kept"})
    assert r.status_code == 400, r.status_code
    # the upload ends in its own image, with the id it reserved
    assert patch(url, 0, data).status_code == 204
    assert requests.get(folder_url + "/kept/download",
                        auth=ADMIN).content == data
    assert requests.get(folder_url + "/other/download", auth=ADMIN).ok


def blob_files(server):
    """{inode: path} of the committed files of the server's blob
    directory."""
    found = {}
    for where, dirs, files in os.walk(os.path.join(server.home, "var",
                                                   "blobs")):
        dirs[:] = [d for d in dirs if d != "tmp"]
        for name in files:
            if name.endswith(".blob"):
                path = os.path.join(where, name)
                found[os.stat(path).st_ino] = path
    return found


def test_the_last_chunk_copies_nothing(server, folder_url, tmp_path):
    """Issue 26: the request of the last chunk copied the whole file into
    the database's blob (tens of GB inside one request). The upload's file
    becomes the blob itself (a link, then renames): the blob directory
    holds the very file the chunks were written to, and nothing else
    copied."""
    path = big_ppm(tmp_path / "linked.ppm", 1024, 1024)  # 3 MB
    data = open(path, "rb").read()
    url = create(folder_url, len(data), filename="linked.ppm"
                 ).headers["Location"]
    assert patch(url, 0, data[:-1000]).status_code == 204
    inode = os.stat(part_file(server, url)).st_ino
    r = patch(url, len(data) - 1000, data[-1000:])
    assert r.status_code == 204, r.text
    assert not os.path.exists(part_file(server, url))
    blob = blob_files(server).get(inode)
    assert blob is not None, "the blob is a copy"
    assert os.stat(blob).st_nlink == 1  # the upload's name is gone
    assert sha256_file(blob) == hashlib.sha256(data).hexdigest()
    assert requests.get(folder_url + "/linked/download",
                        auth=ADMIN).content == data


def test_a_failed_take_loses_nothing(server, folder_url, tmp_path):
    """The blob cannot take the upload's file (its temporary directory is
    gone): the last chunk fails, the bytes stay, and the end sent again
    once the directory is back adds the image."""
    data = jpeg(30)
    url = create(folder_url, len(data), filename="kept.jpg"
                 ).headers["Location"]
    temp = os.path.join(server.home, "var", "blobs", "tmp")
    aside = temp + ".aside"
    os.rename(temp, aside)
    try:
        open(temp, "w").close()  # a file where the directory was
        r = patch(url, 0, data)
        assert r.status_code == 500
        assert "blobs" not in r.text  # no server path to the visitor
    finally:
        os.remove(temp)
        os.rename(aside, temp)
    assert open(part_file(server, url), "rb").read() == data
    assert offset(url) == len(data) - 1
    assert requests.get(folder_url + "/kept/status_json").status_code == 404
    r = patch(url, len(data) - 1, data[-1:])
    assert r.status_code == 204, r.text
    assert requests.get(folder_url + "/kept/download",
                        auth=ADMIN).content == data
