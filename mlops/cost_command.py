"""``mlops cost``: synthesize the stage (or read an assembly), read what its template bills, print the estimate."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from infra.config import stage_config
from mlops.cost import PROFILES, CostModelError, estimate, inventory_from_template, render, with_overrides
from mlops.synth import synth


def run_cost(args: argparse.Namespace) -> int:
    config = stage_config(args.stage)
    names = list(PROFILES) if args.traffic == "all" else [args.traffic]
    unknown = [n for n in names if n not in PROFILES]
    if unknown:
        print(
            f"error: unknown traffic profile {unknown[0]!r} (--traffic); known: {', '.join(PROFILES)}, all",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        assembly = args.assembly or synth(Path(scratch) / "cdk.out", stage=args.stage)
        template = assembly / f"{config.prefix}.template.json"
        if not template.is_file():
            print(f"error: {template} not found; is {assembly} an assembly of stage {args.stage}?", file=sys.stderr)
            return 2
        inventory = inventory_from_template(template)
    try:
        for i, name in enumerate(names):
            profile = with_overrides(
                PROFILES[name],
                requests_per_month=args.requests,
                records_per_request=args.records,
                training_runs_per_month=args.runs,
                data_volume_gb=args.data_gb,
            )
            if i:
                print()
            print("\n".join(render(estimate(config, inventory, profile))))
    except CostModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
