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


def synth(out_dir: Path, *, stage: str = "dev") -> Path:
    """Run ``app.py`` for ``stage`` into ``out_dir``; returns ``out_dir``."""
    env = {
        **os.environ,
        "CDK_OUTDIR": str(out_dir),
        "CDK_CONTEXT_JSON": json.dumps({"stage": stage}),
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
        raise SynthError(f"synth of stage {stage!r} failed:\n{result.stdout}\n{result.stderr}")
    return out_dir
