"""The test Zope's DemoStorage per test (tests/zope_fixtures.py
demo_storage): what a test commits is seen by zope_root, Zope2.DB and
the publisher, and is gone after the test; a test marked file_storage
works on the shared FileStorage."""

import pytest

from tests.zope_fixtures import BASE
from tests.zope_fixtures import demo_storage
from tests.zope_fixtures import get
from tests.zope_fixtures import wsgi_app
from tests.zope_fixtures import zope_root


def names():
    with zope_root(commit=False) as app:
        return set(app.objectIds())


def test_changes_stay_in_the_demo_storage(unique_id):
    import Zope2
    from OFS.Folder import manage_addFolder
    wsgi_app()
    base = Zope2.DB
    name = "demo" + unique_id
    with demo_storage("check") as db:
        assert Zope2.DB is db and Zope2.bobo_application._db is db
        with zope_root() as app:
            assert app._p_jar.db() is db
            manage_addFolder(app, name)
        assert name in names()
        assert get("%s/%s/manage_main" % (BASE, name), login=True)[0] == 200
    assert Zope2.DB is base and Zope2.bobo_application._db is base
    assert name not in names()
    assert get("%s/%s/manage_main" % (BASE, name), login=True)[0] == 404


def test_a_test_gets_its_own_storage(zodb, folder):
    import Zope2
    assert zodb is not None and Zope2.DB is zodb
    with zope_root(commit=False) as app:
        assert app._p_jar.db() is zodb
        assert folder in app.objectIds()


@pytest.mark.file_storage
def test_a_marked_test_works_on_the_file_storage(zodb, folder):
    import Zope2
    from ZODB.FileStorage import FileStorage
    assert zodb is None
    assert isinstance(Zope2.DB.storage, FileStorage)
    assert folder in names()
