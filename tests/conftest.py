import pytest

from tests.images import ENGINES


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param

from tests.zope_fixtures import folder, unique_id  # noqa: E402,F401
