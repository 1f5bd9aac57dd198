import pytest

from tests.images import ENGINES


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param
