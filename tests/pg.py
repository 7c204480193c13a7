"""A throwaway PostgreSQL server for tests, and a fresh database per test.

``pg_cluster`` (session scope) runs ``initdb`` into a temporary directory and starts ``postgres``
on 127.0.0.1 at a free port (fsync off), or uses the server named by ``SYMBI_TEST_PG_URL`` (an
admin URL, e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``) when set. It skips cleanly when
neither is available (``SYMBI_TEST_PG=require`` makes that a failure instead: CI sets it). The
binaries are found on PATH or under ``/usr/lib/postgresql/*/bin`` (Debian). As root (initdb refuses
to run as root) the server runs as the ``postgres`` user, or ``nobody``.

``pg_url`` (function scope) creates a database from a template that already holds the migrated
schema (a file copy: milliseconds), and drops it after the test.

``symbi_store_url`` is what tests/conftest.py's ``db_path`` returns: every test on the shared
harness runs on a SQLite file and again on a PostgreSQL database (``[sqlite]`` and ``[postgres]``
in its id), unless marked ``sqlite_only``; ``SYMBI_TEST_STORE=sqlite`` or ``=postgres`` keeps one.
Load this module as a plugin (``pytest_plugins = ("tests.pg",)``) so its fixtures exist once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest

T = TypeVar("T")
TEMPLATE = "symbi_template"
_counter = itertools.count(1)


def find_pg_binary(name: str) -> str | None:
    """``name`` (initdb, pg_ctl, postgres) on PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}") + glob.glob(f"/usr/local/pgsql/bin/{name}"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parts],
    )
    return candidates[-1] if candidates else None


def store_backends() -> list[str]:
    """The stores the shared harness runs each of its tests on: both by default;
    ``SYMBI_TEST_STORE=sqlite`` or ``=postgres`` for one."""
    wanted = os.environ.get("SYMBI_TEST_STORE", "both").lower()
    if wanted in ("postgres", "postgresql", "pg"):
        return ["postgres"]
    if wanted == "sqlite":
        return ["sqlite"]
    return ["sqlite", "postgres"]


def postgres_wanted() -> bool:
    """Whether a missing PostgreSQL server fails the tests that need one instead of skipping
    them: ``SYMBI_TEST_STORE=postgres``, or ``SYMBI_TEST_PG=require`` (CI sets it)."""
    return store_backends() == ["postgres"] or os.environ.get("SYMBI_TEST_PG") == "require"


def _free_port() -> int:
    """A port that was free a moment ago, for ``postgres -c port=...``.

    The race is unavoidable here: postgres takes its port on its command line and binds it
    itself (it cannot be handed a bound socket, nor told to bind port 0 and report it), so
    another process may take the port between this call and the server's start. The caller
    retries with another port when the server fails to start."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@dataclass
class PgCluster:
    """A running server: ``admin_url`` reaches its ``postgres`` database as a superuser."""

    admin_url: str
    data_dir: str | None = None  #: set when this fixture started the server
    pg_ctl: str | None = None
    run_as: tuple[int, int] | None = None

    def url(self, database: str) -> str:
        return _with_database(self.admin_url, database)

    def stop(self) -> None:
        if self.data_dir is None or self.pg_ctl is None:
            return
        _run(
            [self.pg_ctl, "-D", self.data_dir, "-m", "immediate", "-w", "stop"],
            self.run_as,
            check=False,
        )
        shutil.rmtree(Path(self.data_dir).parent, ignore_errors=True)

    async def create_database(self, name: str, template: str | None = None) -> str:
        import asyncpg

        conn = await asyncpg.connect(self.admin_url)
        try:
            clause = f" TEMPLATE {template} STRATEGY FILE_COPY" if template else ""
            await conn.execute(f'CREATE DATABASE "{name}"{clause}')
        finally:
            await conn.close()
        return self.url(name)

    async def drop_database(self, name: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def _run(
    argv: list[str], run_as: tuple[int, int] | None, *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    kwargs: dict[str, object] = {}
    if run_as is not None:
        kwargs = {"user": run_as[0], "group": run_as[1], "extra_groups": []}
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        argv,
        check=check,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        **kwargs,
    )


def _unprivileged() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    return None


def start_cluster(*, durable: bool = False) -> PgCluster:
    """Start a throwaway server (raises RuntimeError with the server log if it cannot).

    For tests it does not sync to disk; ``durable`` keeps PostgreSQL's defaults (benchmarks)."""
    initdb, pg_ctl = find_pg_binary("initdb"), find_pg_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise FileNotFoundError("initdb/pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin")
    run_as = _unprivileged()
    if os.geteuid() == 0 and run_as is None:
        raise PermissionError("running as root and no postgres/nobody user to run the server as")
    base = tempfile.mkdtemp(prefix="symbi-pg-")
    os.chmod(base, 0o755)
    data = os.path.join(base, "data")
    if run_as is not None:
        os.chown(base, *run_as)
    result = _run(
        [initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "-N"],
        run_as,
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"initdb failed:\n{result.stdout}")
    log = os.path.join(base, "server.log")
    for _attempt in range(5):
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base} "
            "-c max_connections=300 -c shared_buffers=64MB"
        )
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        result = _run(
            [pg_ctl, "-D", data, "-o", options, "-l", log, "-w", "-t", "60", "start"],
            run_as,
            check=False,
        )
        if result.returncode == 0:
            cluster = PgCluster(
                admin_url=f"postgresql://postgres@127.0.0.1:{port}/postgres",
                data_dir=data,
                pg_ctl=pg_ctl,
                run_as=run_as,
            )
            return cluster
        time.sleep(0.2)  # the port was taken meanwhile: try another
    text = Path(log).read_text() if os.path.exists(log) else result.stdout
    shutil.rmtree(base, ignore_errors=True)
    raise RuntimeError(f"postgres did not start:\n{text}")


async def _prepare_template(cluster: PgCluster) -> None:
    from scheduler_core.store.postgres import PostgresJobStore

    await cluster.drop_database(TEMPLATE)
    url = await cluster.create_database(TEMPLATE)
    store = PostgresJobStore(url)
    await store.open()  # migrate once; every test's database is a copy
    await store.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A PostgreSQL server for the whole session.

    Skips when none can be had, unless SYMBI_TEST_STORE=postgres asked for one: then it fails.
    """
    unavailable = pytest.fail if postgres_wanted() else pytest.skip
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        unavailable("no PostgreSQL server for tests: asyncpg is not installed")
    external = os.environ.get("SYMBI_TEST_PG_URL")
    if external:
        cluster = PgCluster(admin_url=external)
    else:
        try:
            cluster = start_cluster()
        except (FileNotFoundError, PermissionError) as exc:
            unavailable(f"no PostgreSQL server for tests: {exc}")
    try:
        run_sync(_prepare_template(cluster))
        yield cluster
    finally:
        cluster.stop()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a thread of its own (never disturbing the test's loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _database_name() -> str:
    return f"symbi_t{os.getpid()}_{next(_counter)}"


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    """A fresh, migrated database for this test; dropped afterwards."""
    name = _database_name()
    url = run_sync(pg_cluster.create_database(name, template=TEMPLATE))
    yield url
    run_sync(pg_cluster.drop_database(name))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: run this test on SQLite only")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test on the shared harness (``db_path``) runs once per store back end: one store
    conformance suite, the same rules checked on SQLite and PostgreSQL."""
    if "store_backend" not in metafunc.fixturenames:
        return
    backends = store_backends()
    if metafunc.definition.get_closest_marker("sqlite_only"):
        backends = ["sqlite"]
    metafunc.parametrize("store_backend", backends)


@pytest.fixture
def symbi_store_url(store_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The shared harness's store: a SQLite file in ``tmp_path``, or a fresh PostgreSQL
    database."""
    if store_backend == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return str(tmp_path / "symbi.db")
