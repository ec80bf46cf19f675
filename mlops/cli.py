"""The ``mlops`` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    parser = argparse.ArgumentParser(prog="mlops", description="Serverless MLOps toolkit: operator commands")
    commands = parser.add_subparsers(dest="command", required=True)

    synth_cmd = commands.add_parser("synth", help="synthesize the CDK app (cdk-nag runs) into a cloud assembly")
    synth_cmd.add_argument("--stage", default="dev")
    synth_cmd.add_argument("--out", type=Path, default=Path("cdk.out"))

    demo_cmd = commands.add_parser("demo", help="train and serve on the local cloud, end to end")
    demo_cmd.add_argument("--stage", default="dev")
    demo_cmd.add_argument("--assembly", type=Path, default=None, help="use this cloud assembly instead of synthesizing")

    local_cmd = commands.add_parser("local", help="the local cloud")
    local_sub = local_cmd.add_subparsers(dest="local_command", required=True)
    report_cmd = local_sub.add_parser("report", help="what the local cloud emulates and what it does not")
    report_cmd.add_argument("--assembly", type=Path, default=Path("cdk.out"))

    commands.add_parser("openapi", help="print the inference API's OpenAPI document (generated from the code)")
    monitor_cmd = commands.add_parser("monitor", help="drift and quality monitoring")
    monitor_sub = monitor_cmd.add_subparsers(dest="monitor_command", required=True)
    monitor_report = monitor_sub.add_parser("report", help="save (and open) a monitor run's HTML drift report")
    monitor_report.add_argument("--stage", default="dev")
    monitor_report.add_argument("--model", default="seattle-weather")
    monitor_report.add_argument("--bucket", default=None, help="artifacts bucket (default: the stack's output)")
    monitor_report.add_argument("--run", default=None, help="monitor run id (default: the latest)")
    monitor_report.add_argument("--out", type=Path, default=Path("."), help="file or directory to save to")
    monitor_report.add_argument("--open", action="store_true", help="open the saved report in a browser")

    args = parser.parse_args(argv)
    if args.command == "openapi":
        from functions.handlers.inference import openapi_document

        print(openapi_document())
        return 0
    if args.command == "synth":
        from mlops.synth import synth

        out = synth(args.out, stage=args.stage)
        print(f"cloud assembly for stage {args.stage} written to {out}")
        return 0
    if args.command == "demo":
        from mlops.demo import run_demo

        return run_demo(args.stage, args.assembly)
    if args.command == "local" and args.local_command == "report":
        from mlops.local import LocalCloud

        with LocalCloud(args.assembly) as cloud:
            print("\n".join(cloud.report.lines()))
        return 0
    if args.command == "monitor" and args.monitor_command == "report":
        from mlops.monitor_report import report_command

        return report_command(
            stage=args.stage, model=args.model, bucket=args.bucket, run_id=args.run, out=args.out, open_it=args.open
        )
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
