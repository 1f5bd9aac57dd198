"""The instance that make start creates: the admin user's inituser file is
written for a new instance only, whatever its database."""

import os

import pytest

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


def test_zeo_client_syncs_with_the_server_and_bounds_its_blob_cache(
        tmp_path):
    """The written ZEO client section starts a client (on a real ZEO
    server) that waits for the server's latest commit when a transaction
    begins, and whose blob cache has a bound."""
    import re

    import transaction
    import ZODB
    import ZODB.config

    from tests.zope_fixtures import ZEOServer
    home = str(tmp_path / "instance")
    conf, _ = write_instance(home, zeo="127.0.0.1:9", admin=("a", "b"),
                             blob_cache_size="2GB")
    with open(conf) as f:
        text = f.read()
    assert "server-sync true" in text
    assert "blob-cache-size %d" % (2 << 30) in text
    server = ZEOServer().start()
    try:
        section = re.search(r"<clientstorage>.*?</clientstorage>", text,
                            re.S).group(0)
        section = section.replace("127.0.0.1:9", server.address).replace(
            "$INSTANCE", home)
        storage = ZODB.config.storageFromString("%import ZEO\n" + section)
        db = ZODB.DB(storage)
        try:
            assert storage.server_sync is True
            assert storage._blob_cache_size == 2 << 30
            connection = db.open()
            connection.root()["seen"] = 1
            transaction.commit()
            connection.close()
        finally:
            db.close()
    finally:
        server.stop()


def test_one_shared_database_at_a_time(tmp_path, capsys):
    from ZoomifyImage.instance import main
    with pytest.raises(SystemExit):
        main([str(tmp_path / "i"), "--zeo", "127.0.0.1:9",
              "--relstorage", "host=127.0.0.1 dbname=zodb"])
    assert "choose one database" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path / "i"), "--relstorage", "<postgresql>"])
    assert "not a PostgreSQL connection string" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "i")
