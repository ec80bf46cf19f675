"""Synthesize the CDK app into a cloud assembly (what `cdk synth` does, without the CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


class SynthError(RuntimeError):
    """`app.py` failed: a cdk-nag finding, a bad stage config, or a code error."""


def synth(out_dir: Path, *, stage: str = "dev", project: Path | None = None) -> Path:
    """Run ``app.py`` for ``stage`` and ``project`` (default: cdk.json's) into ``out_dir``; returns ``out_dir``."""
    _run_app([], {"CDK_OUTDIR": str(out_dir), "CDK_CONTEXT_JSON": json.dumps(_context(stage, project))}, stage)
    return out_dir


def synth_each(
    assemblies: Sequence[tuple[Path, str, Path | None]], overrides: Mapping[Path, Mapping[str, Any]] | None = None
) -> list[Path]:
    """Synthesize several ``(out_dir, stage, project)`` assemblies in one ``app.py`` process, in order.

    Each is what :func:`synth` would write; one process pays the jsii runtime's start once. ``overrides``:
    stage settings changed for the assembly written to that out_dir (a variant of the stage).
    """
    overrides = overrides or {}
    specs = [
        {"out": str(out), "context": _context(stage, project), "overrides": dict(overrides.get(out, {}))}
        for out, stage, project in assemblies
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="synth-each-", delete=False) as handle:
        json.dump(specs, handle)
    try:
        _run_app(["--each", handle.name], {}, ", ".join(sorted({stage for _, stage, _ in assemblies})))
    finally:
        Path(handle.name).unlink()
    return [out for out, _, _ in assemblies]


def _context(stage: str, project: Path | None) -> dict[str, str]:
    if project is not None:
        return {"stage": stage, "project": str(Path(project).resolve())}
    default = REPO_ROOT / json.loads((REPO_ROOT / "cdk.json").read_text())["context"]["project"]
    return {"stage": stage, "project": str(default)}


def _run_app(args: list[str], extra_env: dict[str, str], stage: str) -> None:
    env = {
        **os.environ,
        **extra_env,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "app.py"), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        if "error: " in result.stderr and "Traceback" not in result.stderr:
            # app.py's own one-line error (a broken project, a bad stage config).
            raise SynthError(result.stderr.strip().splitlines()[-1])
        raise SynthError(f"synth of stage {stage!r} failed:\n{result.stdout}\n{result.stderr}")
