"""Tile files and folders follow the umask (0644 and 0755 with the usual
022), so that a front-end web server running as another user can read
them: zoomify-tile's output and the filesystem store's sets."""

import os
import stat
import subprocess

import pytest
import transaction
import ZODB
from ZODB.MappingStorage import MappingStorage

from tests.images import save
from tests.images import smooth
from tests.test_cli import command
from tests.zope_fixtures import tile_root
from tests.zope_fixtures import wsgi_app


def modes(top):
    """{path: mode bits} of every folder and file under ``top``, itself
    included."""
    found = {top: stat.S_IMODE(os.stat(top).st_mode)}
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(folder, name)
            found[path] = stat.S_IMODE(os.stat(path).st_mode)
    return found


def expected(path, umask):
    return (0o777 if os.path.isdir(path) else 0o666) & ~umask


@pytest.fixture(params=[0o022, 0o027])
def umask(request):
    saved = os.umask(request.param)
    yield request.param
    os.umask(saved)


def test_command_output_follows_the_umask(tmp_path, umask):
    path = save(smooth(700, 500), tmp_path / "photo.png")
    out = tmp_path / "www" / "photo"
    result = subprocess.run([command(), "--quiet", path, str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    found = modes(str(tmp_path / "www"))
    assert len(found) > 5
    assert found == {p: expected(p, umask) for p in found}
    # and so does a set that replaced another
    result = subprocess.run([command(), "--quiet", path, str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    found = modes(str(out))
    assert found == {p: expected(p, umask) for p in found}


def test_filesystem_store_follows_the_umask(umask):
    from ZoomifyImage.stores.filesystem import FilesystemTileStore
    wsgi_app()  # zope.conf's tile-root
    db = ZODB.DB(MappingStorage())
    connection = db.open()
    # a prefix of its own, so that the test makes every folder it checks
    prefix = "m%o" % (umask & 7)
    try:
        store = connection.root()["store"] = FilesystemTileStore(
            prefix + "0123456789abcdef")
        writer = store.writer()
        writer.put("TileGroup0/0-0-0.jpg", b"tile")
        writer.put("ImageProperties.xml", b"<IMAGE_PROPERTIES />")
        writer.finish()
        transaction.commit()
        found = modes(os.path.join(tile_root(), prefix[:2]))
        assert len(found) >= 5
        assert found == {p: expected(p, umask) for p in found}
    finally:
        transaction.abort()
        connection.close()
        db.close()
