"""zoomify-import of a directory tree into a running site: the command is
a ZEO client of the site's ZEO server, queues one job an image, and a
real Zope worker process of the site tiles them; a refused file is one
line, a rerun adds nothing (bulk_import.py)."""

import fcntl
import os
import pty
import struct
import subprocess
import termios
import time

import pytest

from tests.http_upload import get
from tests.images import save
from tests.images import smooth
from tests.zope_fixtures import ADMIN
from tests.zope_fixtures import ZEOServer
from tests.zope_fixtures import ZopeServer
from tests.zope_fixtures import import_command

FAST = {"background-megapixels": "1", "job-scan-seconds": "1"}


def run_on_a_terminal(command):
    """(returncode, stdout, what the terminal showed on stderr)."""
    master, slave = pty.openpty()
    # 100 columns (a new pty has none: no room for a bar)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    process = subprocess.Popen(command, stdout=subprocess.PIPE,
                               stderr=slave)
    os.close(slave)
    shown = b""
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the command ended: EIO
            break
        if not data:
            break
        shown += data
    os.close(master)
    out = process.stdout.read().decode()
    return process.wait(), out, shown.decode(errors="replace")


def tus_upload(folder_url, filename, data):
    """A tus upload in two chunks, as admin; the last answer."""
    import base64

    import requests
    tus = {"Tus-Resumable": "1.0.0"}
    created = requests.post(folder_url + "/@@zoomify-upload", auth=ADMIN,
                            headers=dict(tus, **{
                                "Upload-Length": str(len(data)),
                                "Upload-Metadata": "filename " + base64
                                .b64encode(filename.encode()).decode()}))
    assert created.status_code == 201, created.text
    url = created.headers["Location"]
    half = len(data) // 2
    for offset, chunk in ((0, data[:half]), (half, data[half:])):
        answer = requests.patch(url, data=chunk, auth=ADMIN, headers=dict(
            tus, **{"Upload-Offset": str(offset), "Content-Type":
                    "application/offset+octet-stream"}))
    return answer


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(zeo, worker, importer, shared): one ZEO server and one Zope worker
    process of the site for the module, and an instance's zope.conf for
    the command (a ZEO client of the same database); the clients of one
    database share the tile root and the upload directory
    (shared_dirs.py)."""
    tmp = tmp_path_factory.mktemp("bulk-site")
    shared = {"tile-root": str(tmp / "shared-tiles"),
              "upload-dir": str(tmp / "shared-uploads")}
    zeo = ZEOServer().start()
    worker = ZopeServer(zeo=zeo.address, settings=dict(FAST, **shared))
    importer = ZopeServer(zeo=zeo.address, settings=shared)  # conf only
    try:
        worker.start()
        yield zeo, worker, importer, shared
    finally:
        worker.stop()
        zeo.stop()


def test_a_tree_into_a_running_site_then_a_rerun(tmp_path, site):
    tree = tmp_path / "photos"
    (tree / "Harbour views").mkdir(parents=True)
    for seed, name in enumerate(["photo12000.jpg", "map.png",
                                 "Harbour views/pier.jpg",
                                 "Harbour views/boats at dawn.jpg",
                                 "Harbour views/crane.tif"]):
        save(smooth(300 + 10 * seed, 200, seed), tree / name)
    (tree / "broken.jpg").write_bytes(b"not an image at all " * 50)
    (tree / "notes.txt").write_text("left alone")
    # and a CSV list: each row's file with its description; a bad row
    # refuses its file alone
    save(smooth(320, 240, 9), tmp_path / "lake.png")
    records = tmp_path / "records.csv"
    records.write_text("file,creator,date\n"
                       "lake.png,Anna Example,1901\n"
                       "photos/map.png,Anna Example,someday\n")
    zeo, worker, importer, shared = site
    tiled = worker.log_text().count("tiled ")  # by the module's other tests
    command = [import_command(), "--zope-conf", importer.conf, "--path",
               "/bulk", str(tree)]
    worker.add_folder("bulk")
    result = subprocess.run(command + ["--list", str(records)],
                            capture_output=True, text=True)
    assert result.returncode == 1, result.stderr  # some refused
    refused = result.stderr.strip().splitlines()
    assert len(refused) == 2, result.stderr
    assert refused[0].startswith("zoomify-import: refused: %s: "
                                 % (tree / "broken.jpg"))
    assert "not an image" in refused[0]
    assert refused[1].startswith(
        "zoomify-import: refused: %s: %s, row 3: Date must be an ISO "
        "8601 date" % (tree / "map.png", records))
    assert result.stdout.strip() == (
        "zoomify-import: 6 added (6 queued: the site's worker processes "
        "tile them), 0 already there (skipped), 2 refused; 1 other "
        "files left alone (not image files by their extension)")
    # the site's worker tiles them; the tree's folder is a folder
    for id in ["photo12000", "map", "Harbour-views/pier",
               "Harbour-views/boats-at-dawn", "Harbour-views/crane",
               "lake"]:
        worker.wait_for("bulk/" + id, ["ready", "failed"], timeout=60)
        assert worker.job_status("bulk/" + id)["status"] == "ready", id
        assert get(worker.url + "/bulk/%s/TileGroup0/0-0-0.jpg"
                   % id)[0] == 200
    assert worker.log_text().count("tiled ") == tiled + 6
    assert get(worker.url + "/bulk/broken/status_json")[0] == 404
    manifest = get(worker.url + "/bulk/lake/manifest.json")[2]
    assert b"Anna Example" in manifest
    # a client whose upload directory is not the site's is told in
    # one line, before anything is read
    alone = ZopeServer(zeo=zeo.address)  # its own var/: not shared
    result = subprocess.run(command[:2] + [alone.conf] + command[3:],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith("zoomify-import: error: tile-root ")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    # the rerun, on a terminal: a bar of images, and nothing added
    code, out, shown = run_on_a_terminal(command)
    assert code == 1
    assert out.strip().startswith(
        "zoomify-import: 0 added, 5 already there (skipped), 1 refused")
    assert "importing" in shown and "6/6" in shown, shown
    assert shown.count("refused: ") == 1
    assert worker.log_text().count("tiled ") == tiled + 6
    # issue 26: a resumable upload into this ZEO client (its blob
    # directory a cache: the commit would send the file to the server)
    # ends without storing the file; the image's job stores it
    data = open(tmp_path / "lake.png", "rb").read()
    last = tus_upload(worker.url + "/bulk", "pier at noon.png", data)
    assert last.status_code == 204, last.text
    worker.wait_for("bulk/pier-at-noon", ["ready", "failed"],
                    timeout=60)
    assert worker.job_status("bulk/pier-at-noon")["status"] == "ready"
    assert get(worker.url + "/bulk/pier-at-noon/download",
               auth=ADMIN)[2] == data
    log = worker.log_text()
    # the request said it left the file to the job, and the job stored
    # it (in either order: the request logs after its commit, when
    # the worker may already be at it)
    assert "(its file stored by the background job)" in log
    assert "the uploaded file stored" in log
    # and a new file for it, as the Edit tab sends one
    second = open(tree / "map.png", "rb").read()
    version = worker.job_status("bulk/pier-at-noon")["tiles_version"]
    last = tus_upload(worker.url + "/bulk/pier-at-noon", "map.png",
                      second)
    assert last.status_code == 204, last.text
    deadline = time.monotonic() + 60  # the old tiles are served till
    while worker.job_status("bulk/pier-at-noon")["tiles_version"] == \
            version and time.monotonic() < deadline:
        time.sleep(0.1)
    assert get(worker.url + "/bulk/pier-at-noon/download",
               auth=ADMIN)[2] == second
    assert b'WIDTH="310"' in get(
        worker.url + "/bulk/pier-at-noon/ImageProperties.xml")[2]
    assert worker.log_text().count("the uploaded file stored") == 2
    uploads = shared["upload-dir"]
    assert not [n for n in os.listdir(uploads) if n.endswith(".part")]
    # a file whose id would hide a page of the folder (FOLDER/gallery)
    # is refused, the reserved name in its line; the gallery answers
    named = tmp_path / "named"
    named.mkdir()
    save(smooth(40, 30, 3), named / "gallery.jpg")
    result = subprocess.run(command[:-1] + [str(named)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'zoomify-import: refused: %s: The id "gallery" is reserved: it is '
        "the name of a page of the folder (gallery), which the image would "
        "hide. Choose another id." % (named / "gallery.jpg"))
    assert get(worker.url + "/bulk/gallery")[0] == 200


def test_what_a_tree_and_a_list_name(tmp_path):
    """Which files a run takes (no Zope needed): a tree's image files by
    extension, hidden ones and others left alone and counted; a plain list
    (paths relative to it, # comments); a CSV list's rows, each with its
    description checked when its file is imported."""
    from ZoomifyImage.bulk_import import _rows_by_file
    from ZoomifyImage.bulk_import import items_of
    from ZoomifyImage.importer import ImportFailed
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / ".hidden").mkdir()
    for name in ["one.JPG", "a/two.tif", "a/b/three.png", "a/two.tif.json",
                 "notes.txt", ".DS_Store", ".hidden/x.jpg"]:
        (tree / name).write_bytes(b"x")
    items, others = items_of([str(tree), "/elsewhere/single.jpg"])
    assert [(os.path.relpath(i.path, str(tree)), i.folders)
            for i in items[:-1]] == [
        ("one.JPG", ()), ("a/two.tif", ("a",)),
        ("a/b/three.png", ("a", "b"))]
    assert items[-1].path == "/elsewhere/single.jpg"
    assert others == 1  # the notes (the sidecar JSON goes with two.tif)
    listed = tmp_path / "files.txt"
    listed.write_text("# scans\none.jpg\n\nsub/two.png\n")
    items, _ = items_of([], str(listed))
    assert [i.path for i in items] == [str(tmp_path / "one.jpg"),
                                       str(tmp_path / "sub" / "two.png")]
    records = tmp_path / "records.csv"
    records.write_text("file,creator,date\none.jpg,Anna,1901\n"
                       "two.jpg,Bob,someday\n")
    items, _ = items_of([], str(records))
    assert items[0].description.checked()["creator"] == "Anna"
    with pytest.raises(ImportFailed) as error:
        items[1].description.checked()
    assert str(error.value).startswith("%s, row 3: Date must be" % records)
    rows = _rows_by_file(str(records))
    assert rows["one.jpg"].checked()["date"] == "1901"
    records.write_text("file,painter\none.jpg,x\n")
    with pytest.raises(ImportFailed) as error:
        items_of([], str(records))
    assert "unknown column 'painter'" in str(error.value)


def test_a_csv_of_100_rows_into_a_running_site(tmp_path, site):
    """Issue 27's check: zoomify-import of a CSV of 100 rows into a running
    site adds all 100 with their description, as their manifests show; a
    bad row is refused in one line naming the row and the field; a rerun
    adds nothing."""
    import csv
    import json
    zeo, worker, importer, shared = site
    scans = tmp_path / "scans"
    scans.mkdir()
    rows = []
    for n in range(101):
        save(smooth(64, 48, n), scans / ("scan%03d.png" % n))
        rows.append({
            "file": "scans/scan%03d.png" % n, "title": "Harbour scan %d" % n,
            "summary": "Plate %d of the harbour survey." % n,
            "creator": "Anna Example %d" % n, "date": "19%02d-06" % (n % 100),
            "rights": "http://creativecommons.org/licenses/by/4.0/",
            "metadata:Medium": "Glass plate %d" % n,
            "metadata:Technik@de": "Glasplatte %d" % n})
    # row 52 of the file (after the header): rights as a name, not a URI
    rows[50]["rights"] = "CC BY 4.0"
    records = tmp_path / "records.csv"
    with open(records, "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    worker.add_folder("records")
    command = [import_command(), "--zope-conf", importer.conf, "--path",
               "/records", "--list", str(records)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        "zoomify-import: refused: %s: %s, row 52: rights must be a Creative "
        "Commons URI (like http://creativecommons.org/licenses/by/4.0/ or "
        "http://creativecommons.org/publicdomain/zero/1.0/) or a "
        "RightsStatements.org URI (like http://rightsstatements.org/vocab/"
        "InC/1.0/); other text goes in the required statement "
        "(attribution), not 'CC BY 4.0'" % (scans / "scan050.png", records)]
    assert result.stdout.strip() == (
        "zoomify-import: 100 added (100 queued: the site's worker processes "
        "tile them), 0 already there (skipped), 1 refused")
    for n in range(101):
        id = "records/scan%03d" % n
        if n == 50:
            assert worker.job_status(id)["status"] == "missing"
            continue
        worker.wait_for(id, ["ready", "failed"], timeout=60)
        code, headers, body = get("%s/%s/manifest.json" % (worker.url, id))
        assert code == 200, (id, body[:300])
        manifest = json.loads(body)
        assert manifest["label"] == {"none": ["Harbour scan %d" % n]}
        assert manifest["summary"] == {
            "none": ["Plate %d of the harbour survey." % n]}
        assert manifest["rights"] == \
            "http://creativecommons.org/licenses/by/4.0/"
        assert manifest["navDate"] == "19%02d-06-01T00:00:00Z" % (n % 100)
        assert manifest["metadata"] == [
            {"label": {"en": ["Creator"]},
             "value": {"none": ["Anna Example %d" % n]}},
            {"label": {"en": ["Date"]}, "value": {"none": [
                "19%02d-06" % (n % 100)]}},
            {"label": {"none": ["Medium"]},
             "value": {"none": ["Glass plate %d" % n]}},
            {"label": {"de": ["Technik"]},
             "value": {"de": ["Glasplatte %d" % n]}}]
    # a rerun adds nothing, and refuses the bad row again
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stdout.strip() == (
        "zoomify-import: 0 added, 100 already there (skipped), 1 refused")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "row 52: rights must be" in result.stderr
