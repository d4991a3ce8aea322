"""How durable a SQLite commit is can be chosen in the database URL: WAL with synchronous=normal by default,
full on request, anything else refused before the service starts."""
import pytest

from storage.database import open_database

LEVELS = {1: 'normal', 2: 'full'}  # what PRAGMA synchronous reports


def synchronous(url):
    database = open_database(url)
    try:
        with database.connection_context():
            return (LEVELS[database.execute_sql('PRAGMA synchronous').fetchone()[0]],
                    database.execute_sql('PRAGMA journal_mode').fetchone()[0])
    finally:
        database.close_all()


def test_normal_by_default_and_full_on_request(tmp_path):
    assert synchronous(f'sqlite:///{tmp_path}/a.db') == ('normal', 'wal')
    assert synchronous(f'sqlite:///{tmp_path}/b.db?synchronous=FULL') == ('full', 'wal')


def test_an_unknown_level_is_refused_naming_the_choices(tmp_path):
    with pytest.raises(ValueError, match=r"synchronous='off' in the SQLite URL: use one of normal, full"):
        open_database(f'sqlite:///{tmp_path}/c.db?synchronous=off')
