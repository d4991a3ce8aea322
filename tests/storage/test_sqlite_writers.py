"""SQLite writers wait their turn in SqliteWriters: across threads and forked workers, a transaction waits while
another holds the turn and goes ahead the moment it is released, and every way out of a transaction lets the
next one in."""
import multiprocessing
import threading
import time

import peewee
import pytest

from storage.database import open_database


@pytest.fixture
def database(tmp_path):
    database = open_database(f'sqlite:///{tmp_path}/writers.db')
    with database.connection_context():
        database.execute_sql('CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT NOT NULL)')
    yield database
    database.close_all()


def write(database, what):
    with database.connection_context(), database.atomic():
        database.execute_sql('INSERT INTO events (what) VALUES (?)', (what,))


def events(database):
    with database.connection_context():
        return [what for (what,) in database.execute_sql('SELECT what FROM events ORDER BY id')]


def test_a_writer_waits_for_the_turn_and_goes_ahead_once_it_is_released(database):
    database.writers.acquire()
    waiter = threading.Thread(target=write, args=(database, 'waiter'))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive() and events(database) == []
    database.writers.release()
    waiter.join(5)
    assert not waiter.is_alive() and events(database) == ['waiter']


def _write_when_told(database, go):
    go.wait(5)
    write(database, 'child')


def test_a_forked_worker_waits_for_a_turn_held_by_its_parent(database):
    """The child inherits the parent's open lock file; it must open its own, or flock would let it straight in."""
    write(database, 'parent')  # the lock file is open in the parent from here on
    fork = multiprocessing.get_context('fork')
    go = fork.Event()
    child = fork.Process(target=_write_when_told, args=(database, go))
    child.start()
    database.writers.acquire()
    try:
        go.set()
        time.sleep(0.5)
        assert child.is_alive() and events(database) == ['parent']
    finally:
        database.writers.release()
        child.join(10)
    assert child.exitcode == 0 and events(database) == ['parent', 'child']


def test_a_failed_transaction_and_a_failed_commit_let_the_next_writer_in(database):
    with pytest.raises(peewee.IntegrityError), database.connection_context(), database.atomic():
        database.execute_sql('INSERT INTO events (what) VALUES (NULL)')
    # A COMMIT that fails is followed by a ROLLBACK: the turn is given back once, not twice.
    with database.connection_context():
        database.begin()
        database.execute_sql("INSERT INTO events (what) VALUES ('rolled back')")
        database.writers.release()  # as a failing commit() does before peewee calls rollback()
        database.rollback()
    write(database, 'after')
    assert events(database) == ['after']
