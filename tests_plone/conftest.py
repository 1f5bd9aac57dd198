"""The Plone tests (issue 25): run by `make test` in .venv-plone (`make
install-plone`), never in .venv, whose bare Zope must not see Plone's
Products.* packages. Layers of ZoomifyImage/plone/testing.py, through
pytest-plone's fixtures_factory."""

import pytest
from pytest_plone import fixtures_factory

from ZoomifyImage.plone.testing import ZOOMIFYIMAGE_PLONE_ACCEPTANCE_TESTING
from ZoomifyImage.plone.testing import ZOOMIFYIMAGE_PLONE_FUNCTIONAL_TESTING
from ZoomifyImage.plone.testing import ZOOMIFYIMAGE_PLONE_INTEGRATION_TESTING

globals().update(fixtures_factory((
    (ZOOMIFYIMAGE_PLONE_FUNCTIONAL_TESTING, "functional"),
    (ZOOMIFYIMAGE_PLONE_INTEGRATION_TESTING, "integration"),
    (ZOOMIFYIMAGE_PLONE_ACCEPTANCE_TESTING, "acceptance"),
)))


@pytest.fixture
def package_name():
    return "ZoomifyImage"
