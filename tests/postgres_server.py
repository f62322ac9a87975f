"""A throwaway PostgreSQL for Airflow's metadata DB in the tests that run `airflow standalone`.

Airflow's own advice: SQLite cannot serve a scheduler and an API server at once. Under load its
API answers ``POST /backfills`` with 503 "Database is locked ... use PostgreSQL", after having
committed half a backfill that then never completes (seen in CI). So the standalone gets the same
engine as production (Debian's PostgreSQL), started on a free loopback port with trust auth and
without fsync (a test database is thrown away), and stopped and deleted on exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from jobs.stack import find_pg_bin, free_port, pg_bin, port_open, postgres_user


def missing() -> str | None:
    """What is not installed for a PostgreSQL here, or None."""
    if not find_pg_bin("postgres"):
        return "PostgreSQL (apt-get install postgresql)"
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "psycopg2 (the deploy extra: pip install -e '.[deploy]')"
    return None


@contextlib.contextmanager
def postgres_database(name: str = "airflow") -> Iterator[str]:
    """Start a PostgreSQL with one database ``name``; yield its SQLAlchemy URL (psycopg2 driver).

    As root, PostgreSQL runs as Debian's ``postgres`` user, so its files live in a directory of
    their own that this user owns (it cannot enter pytest's private temp dirs).
    """
    import psycopg2

    data = Path(tempfile.mkdtemp(prefix="generec-test-postgres-"))
    user = postgres_user()
    if user:
        shutil.chown(data, user)
    port = free_port()
    proc = None
    try:
        subprocess.run([pg_bin("initdb"), "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True, user=user, cwd="/", timeout=120)
        with open(data / "server.log", "wb") as log:
            proc = subprocess.Popen(
                [pg_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(data),
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=200"],
                stdout=log, stderr=subprocess.STDOUT, user=user, cwd="/", start_new_session=True)
        deadline = time.monotonic() + 60
        while not port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start:\n{(data / 'server.log').read_text()[-3000:]}")
            time.sleep(0.2)
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="airflow", dbname="postgres")
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction (nor in `with conn`)
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        yield f"postgresql+psycopg2://airflow@127.0.0.1:{port}/{name}"
    finally:
        if proc is not None:
            proc.terminate()  # SIGTERM: PostgreSQL's "smart" shutdown; its children follow
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        shutil.rmtree(data, ignore_errors=True)
