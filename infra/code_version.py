"""The code version recorded on every model version: git commit and requirements hash, at synth."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO_ROOT / "functions" / "requirements.txt"


def git_commit(repo: Path = REPO_ROOT) -> str:
    """``HEAD``'s commit, with ``-dirty`` if the working tree has changes; ``unknown`` outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head


def requirements_sha256(path: Path = REQUIREMENTS) -> str:
    """sha256 of the image's pinned requirements file: the dependency half of the code version."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
