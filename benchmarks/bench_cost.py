"""The cost model's output for the three documented traffic profiles: ``mlops cost --stage <s> --traffic all``.

Not a measurement and there is no peer: the text is copied into results.md as printed, with the command's
exit status; a profile the stage cannot serve is an error of the command, shown as such.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.peers import ROOT
from benchmarks.results import write_comparison

BIN = Path(sys.executable).parent


def main() -> int:
    blocks, notes = [], []
    for stage in ("dev", "prod"):
        command = [str(BIN / "mlops"), "cost", "--stage", stage, "--traffic", "all"]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        shown = f"mlops cost --stage {stage} --traffic all"
        text = done.stdout + (f"\n{done.stderr}" if done.stderr else "")
        blocks.append((f"`{shown}` (exit status {done.returncode})", text))
        if done.returncode:
            notes.append(f"`{shown}` exits {done.returncode}: {done.stderr.strip().splitlines()[-1]}")
        print(f"{shown}: exit {done.returncode}")
    write_comparison(
        "cost",
        title="Cost (mlops cost)",
        command="mlops cost --stage <dev|prod> --traffic all",
        peer="none",
        sizes={},
        rows=[],
        blocks=blocks,
        notes=[
            "The cost model's own output for the three documented traffic profiles (small, medium, large); "
            "list prices are in mlops/cost.py. Not a measurement.",
            *notes,
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
