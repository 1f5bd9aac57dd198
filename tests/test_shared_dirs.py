"""The shared directories' markers (shared_dirs.py): the first client of
a database marks its tile root and upload directory; a client whose
directory is not the marked one, or is another database's, is refused
with a message that says which and why. A real client refused at its
start is in test_cluster.py."""

import os

import pytest
import ZODB
from ZODB.MappingStorage import MappingStorage

from ZoomifyImage import shared_dirs


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """The configured directories, changed by the test."""
    paths = {"tile-root": str(tmp_path / "tiles"),
             "upload-dir": str(tmp_path / "uploads")}
    monkeypatch.setattr(shared_dirs, "directories",
                        lambda: sorted(paths.items()))
    return paths


@pytest.fixture
def databases():
    made = []

    def make():
        made.append(ZODB.DB(MappingStorage()))
        return made[-1]
    yield make
    for db in made:
        db.close()


def test_the_first_client_marks_and_the_next_ones_see_the_same(
        dirs, databases):
    db = databases()
    shared_dirs.check(db)
    for path in dirs.values():
        assert os.path.isfile(os.path.join(path, shared_dirs.MARKER))
    marks = [shared_dirs.read_marker(p) for p in dirs.values()]
    shared_dirs.check(db)  # another client, the same mounts: fine
    assert [shared_dirs.read_marker(p) for p in dirs.values()] == marks


def test_a_client_with_a_directory_of_its_own_is_refused(
        dirs, databases, tmp_path):
    db = databases()
    shared_dirs.check(db)
    dirs["upload-dir"] = str(tmp_path / "local-uploads")  # not mounted
    with pytest.raises(shared_dirs.NotShared) as info:
        shared_dirs.check(db)
    message = str(info.value)
    assert message.startswith("upload-dir %s is not the directory the "
                              "other Zope clients" % dirs["upload-dir"])
    assert "Mount the shared directory at" in message
    # nor another directory that some client of it marked: marked as
    # another directory of this database
    other = str(tmp_path / "other-tiles")
    shared_dirs.write_marker(other, shared_dirs.read_marker(
        dirs["tile-root"])[0], "0123abcd")
    dirs["upload-dir"] = str(tmp_path / "uploads")
    dirs["tile-root"] = other
    with pytest.raises(shared_dirs.NotShared) as info:
        shared_dirs.check(db)
    assert "another directory's (0123abcd, not" in str(info.value)


def test_a_directory_of_another_sites_database_is_refused(dirs, databases):
    shared_dirs.check(databases())
    with pytest.raises(shared_dirs.NotShared) as info:
        shared_dirs.check(databases())  # another site, the same paths
    assert "belongs to the site of another database" in str(info.value)
    assert "give each site a directory of its own" in str(info.value)
