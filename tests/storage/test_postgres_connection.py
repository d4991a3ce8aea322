"""How a PostgreSQL connection is opened so that a silent network or a vanished server is found out in seconds
(storage.database.POSTGRES_CONNECTION, POSTGRES_SESSION), and which errors mean the connection itself is lost."""
import sqlite3

import peewee
import psycopg2
import pytest

from storage.database import POSTGRES_CONNECTION, POSTGRES_SESSION, connection_lost, open_database
from tests.conftest import TEST_DATABASE


def test_a_postgresql_url_gets_the_timeouts_and_its_own_parameters_win():
    database = open_database('postgresql://shop@db.example:5432/orders?connect_timeout=9'
                             '&options=-c%20statement_timeout%3D5s')
    parameters = database.connect_params
    assert {name: parameters[name] for name in POSTGRES_CONNECTION if name != 'connect_timeout'} == {
        name: value for name, value in POSTGRES_CONNECTION.items() if name != 'connect_timeout'}
    assert str(parameters['connect_timeout']) == '9'
    # the server's side first, then the URL's own options, whose -c settings PostgreSQL applies last
    session = ' '.join(f'-c {name}={value}' for name, value in POSTGRES_SESSION.items())
    assert parameters['options'] == f'{session} -c statement_timeout=5s'


def test_a_server_out_of_reach_is_a_lost_connection_and_a_busy_sqlite_is_not():
    with pytest.raises(psycopg2.OperationalError) as refused:  # nothing listens on port 1
        psycopg2.connect(host='127.0.0.1', port=1, user='shop', dbname='orders', connect_timeout=2)
    assert connection_lost(peewee.OperationalError(refused.value, *refused.value.args))
    assert not connection_lost(peewee.OperationalError(sqlite3.OperationalError('database is locked')))
    assert not connection_lost(peewee.IntegrityError(sqlite3.IntegrityError('UNIQUE constraint failed')))


@pytest.mark.skipif(TEST_DATABASE == 'sqlite', reason="PostgreSQL's own settings: the PostgreSQL pass")
def test_each_session_tells_the_server_to_find_a_vanished_client_and_end_its_transaction(database_url):
    database = open_database(database_url('sessions'))
    try:
        with database.connection_context():
            settings = dict(database.execute_sql('SELECT name, setting FROM pg_settings WHERE name = ANY(%s)',
                                                 (list(POSTGRES_SESSION),)).fetchall())
    finally:
        database.close_all()
    assert settings == {'tcp_keepalives_idle': '2', 'tcp_keepalives_interval': '1', 'tcp_keepalives_count': '3',
                        'tcp_user_timeout': '3000', 'idle_in_transaction_session_timeout': '10000'}  # s and ms


@pytest.mark.skipif(TEST_DATABASE == 'sqlite', reason="PostgreSQL's pool: the PostgreSQL pass")
def test_a_connection_back_a_moment_ago_is_reused_without_a_round_trip_and_an_idle_one_is_checked(database_url,
                                                                                                 monkeypatch):
    database = open_database(database_url('pool_checks'))
    checked = []
    ask_server = database._adapter.is_connection_closed
    monkeypatch.setattr(database._adapter, 'is_connection_closed',
                        lambda conn: checked.append(conn) or ask_server(conn))
    try:
        for _ in range(3):  # one connection, handed out three times in a row
            with database.connection_context():
                assert database.execute_sql('SELECT 2').fetchone() == (2,)
        assert checked == []
        monkeypatch.setattr(database, 'IDLE_BEFORE_CHECK_S', 0.0)  # as if idle for longer
        with database.connection_context():
            database.execute_sql('SELECT 2')
        assert len(checked) == 1
    finally:
        database.close_all()
