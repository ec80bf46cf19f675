"""Where each peer lives and how to run it: its own environment, its own process, the same data files."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = {
    "feast": ROOT / ".venv-bench-feast",
    "mlflow": ROOT / ".venv-bench-mlflow",
    "evidently": ROOT / ".venv-bench-evidently",
}


class PeerUnavailable(Exception):
    """The peer is not installed here; the message says what is missing. Its numbers are left out."""


def python_of(peer: str) -> Path:
    python = ENVIRONMENTS[peer] / "bin" / "python"
    if not python.exists():
        raise PeerUnavailable(f"{peer} environment {ENVIRONMENTS[peer].name} is missing (make bench creates it)")
    return python


def version_in(peer: str, package: str) -> str:
    done = subprocess.run(
        [str(python_of(peer)), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise PeerUnavailable(f"{package} is not installed in {ENVIRONMENTS[peer].name}: {done.stderr.strip()[-300:]}")
    return done.stdout.strip()


def local_version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError as exc:
        raise PeerUnavailable(f"{package} is not installed in {Path(sys.prefix).name}") from exc


def run_json(command: list[str], *, timeout: float, cwd: Path = ROOT) -> dict[str, Any]:
    """Run a peer script; its last stdout line is JSON. A failure raises with the script's stderr."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command[:3])} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
