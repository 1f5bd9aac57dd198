"""The instance that make start creates: the admin user's inituser file is
written for a new instance only, whatever its database."""

import os

from ZoomifyImage.instance import write_instance


def inituser(home):
    return os.path.join(home, "inituser")


def test_zeo_instance_writes_inituser_once(tmp_path):
    home = str(tmp_path / "instance")
    write_instance(home, zeo="127.0.0.1:9", admin=("admin", "first"))
    with open(inituser(home), "rb") as f:
        assert f.read().startswith(b"admin:")
    # Zope makes the user at its first start and deletes the file; a new
    # one would replace the password of a lone user at every start
    os.remove(inituser(home))
    write_instance(home, zeo="127.0.0.1:9", admin=("admin", "second"))
    assert not os.path.exists(inituser(home))
    # nor when --zeo is left out later (the zope.conf is kept as it is)
    write_instance(home, admin=("admin", "third"))
    assert not os.path.exists(inituser(home))


def test_filestorage_instance_writes_inituser_until_it_has_a_database(
        tmp_path):
    home = str(tmp_path / "instance")
    write_instance(home, admin=("admin", "first"))
    assert os.path.exists(inituser(home))
    os.remove(inituser(home))
    # not started yet: written again, with the password of this run
    write_instance(home, admin=("admin", "second"))
    assert os.path.exists(inituser(home))
    os.remove(inituser(home))
    with open(os.path.join(home, "var", "Data.fs"), "wb") as f:
        f.write(b"FS21")  # the header Zope writes at its first start
    write_instance(home, admin=("admin", "third"))
    assert not os.path.exists(inituser(home))
