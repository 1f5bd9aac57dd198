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


def test_a_tree_into_a_running_site_then_a_rerun(tmp_path):
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
    # the clients of one database share the tile root and the upload
    # directory (shared_dirs.py)
    shared = {"tile-root": str(tmp_path / "shared-tiles"),
              "upload-dir": str(tmp_path / "shared-uploads")}
    zeo = ZEOServer().start()
    worker = ZopeServer(zeo=zeo.address, settings=dict(FAST, **shared))
    importer = ZopeServer(zeo=zeo.address, settings=shared)  # conf only
    command = [import_command(), "--zope-conf", importer.conf, "--path",
               "/bulk", str(tree)]
    try:
        worker.start()
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
        assert worker.log_text().count("tiled ") == 6
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
        assert worker.log_text().count("tiled ") == 6
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
        assert log.index("(its file stored by the background job)") < \
            log.index("the uploaded file stored")
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
    finally:
        worker.stop()
        zeo.stop()


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
