"""Synthesize the CDK app into a cloud assembly (what `cdk synth` does, without the CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


class SynthError(RuntimeError):
    """`app.py` failed: a cdk-nag finding, a bad stage config, or a code error."""


def synth(out_dir: Path, *, stage: str = "dev", project: Path | None = None) -> Path:
    """Run ``app.py`` for ``stage`` and ``project`` (default: cdk.json's) into ``out_dir``; returns ``out_dir``."""
    context: dict[str, str] = {"stage": stage}
    if project is not None:
        context["project"] = str(Path(project).resolve())
    else:
        context["project"] = str(REPO_ROOT / json.loads((REPO_ROOT / "cdk.json").read_text())["context"]["project"])
    env = {
        **os.environ,
        "CDK_OUTDIR": str(out_dir),
        "CDK_CONTEXT_JSON": json.dumps(context),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "app.py")],
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
    return out_dir
