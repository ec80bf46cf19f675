"""The code version recorded on every model version, at synth: git commit, source and requirements hashes.

The commit names the code; the content hashes identify it (a dirty tree's commit does not), so a retrain
compares those (``functions/training/retrain_rule.py``).
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO_ROOT / "functions" / "requirements.txt"
FUNCTIONS = REPO_ROOT / "functions"


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


def functions_sha256(root: Path = FUNCTIONS) -> str:
    """sha256 over the function image's source (``functions/``, paths and bytes; caches left out)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and "__pycache__" not in relative.parts and path.suffix != ".pyc":
            digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
