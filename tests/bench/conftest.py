"""The Django baseline for tests: its own virtualenv, a seeded temp database, gunicorn on a free port."""
import pytest

from bench.baseline_env import ensure_baseline_venv
from bench.baseline_server import prepare_database, start_baseline

BASELINE_PRODUCTS = 200


@pytest.fixture(scope='session')
def baseline_python():
    """bench/.venv-baseline's python: created on the first run (pip install from PyPI), reused after."""
    return ensure_baseline_venv()


@pytest.fixture(scope='module')
def baseline(baseline_python, tmp_path_factory):
    """The baseline serving the dataset's first BASELINE_PRODUCTS products; stopped at the end, pass or fail."""
    folder = tmp_path_factory.mktemp('baseline')
    database = folder / 'baseline.sqlite3'
    prepare_database(database, BASELINE_PRODUCTS, python=baseline_python)
    server = start_baseline(0, database, folder / 'gunicorn.log', python=baseline_python)
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()
