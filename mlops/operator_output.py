"""What operator commands print: a table a person reads (``--output table``, the default) or JSON a
program reads (``--output json``). Tables use the terminal's width; when the output is not a terminal they
take the width their content needs (nothing is cut at 80 columns: long cells fold, they are never elided).
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict, is_dataclass
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table


def console(file: TextIO | None = None) -> Console:
    """A console on stdout: the terminal's width on a terminal, else wide enough for any table. It keeps the
    stream the command started with (an in-process local cloud swaps ``sys.stdout`` while a function runs)."""
    file = file or sys.stdout
    width = shutil.get_terminal_size((120, 24)).columns if file.isatty() else 10_000
    return Console(file=file, width=width, highlight=False, soft_wrap=False, markup=False, emoji=False)


def plain(value: Any) -> Any:
    """Dataclasses and other objects as JSON-ready values."""
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "__dict__"):
        return plain(vars(value))
    return str(value)


def print_json(value: Any, file: TextIO | None = None) -> None:
    print(json.dumps(plain(value), indent=2, default=str), file=file or sys.stdout)


def cell(value: Any) -> str:
    """A compact text form of a value for a table cell."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    return str(value)


def error_message(cause: str | None) -> str:
    """A failed state's cause as one line: a Lambda's error JSON becomes its message, without the stack."""
    try:
        parsed = json.loads(cause or "")
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return " ".join(str(parsed["errorMessage"]).split())
    return " ".join(str(cause or "").split())


def table(*columns: str, title: str | None = None) -> Table:
    made = Table(title=title, title_justify="left", box=None, header_style="bold", pad_edge=False)
    for name in columns:
        made.add_column(name, overflow="fold")
    return made


def show(*renderables: Any, file: TextIO | None = None) -> None:
    """Print tables, each line without the padding rich gives it up to the table's width."""
    out = console(file)
    with out.capture() as captured:
        for renderable in renderables:
            out.print(renderable)
    out.file.write("".join(f"{line.rstrip()}\n" for line in captured.get().splitlines()))


def key_values(values: dict[str, Any], title: str | None = None) -> Table:
    made = table("field", "value", title=title)
    for key, value in values.items():
        made.add_row(key, cell(value))
    return made


# -- per command ---------------------------------------------------------------------------------------------------
def runs_table(runs: list[Any]) -> Table:
    made = table("run", "status", "started", "ended", "trigger", "metrics")
    for run in runs:
        trigger = run.trigger or {}
        made.add_row(
            run.run_id,
            run.status,
            run.started_at,
            run.ended_at or "",
            cell({k: v for k, v in trigger.items() if k in ("type", "source", "by", "note")}),
            # The headline metrics; per-class breakdowns (``name.class``) are in `runs show`.
            cell({k: v for k, v in run.metrics.items() if "." not in k}),
        )
    return made


def run_tables(run: Any) -> list[Table]:
    summary = {
        "run": run.run_id,
        "pipeline": run.pipeline,
        "status": run.status,
        "started": run.started_at,
        "ended": run.ended_at,
        "trigger": run.trigger,
        "execution": run.execution_arn,
        "error": run.error,
        "params": run.params,
        "metrics": run.metrics,
        "summary": run.summary,
    }
    tables = [key_values({k: v for k, v in summary.items() if v not in (None, {}, "")}, title=f"run {run.run_id}")]
    if run.steps:
        steps = table("step", "status", "seconds", "outputs", "error", title="steps")
        for step in run.steps:
            steps.add_row(step.step, step.status, f"{step.duration_s:.2f}", cell(step.outputs), step.error or "")
        tables.append(steps)
    return tables


def models_table(models: list[dict[str, Any]]) -> Table:
    made = table("model", "versions", "aliases")
    for model in models:
        made.add_row(model["model"], str(model["versions"]), cell(model["aliases"]))
    return made


def model_tables(shown: dict[str, Any]) -> list[Table]:
    versions = table("version", "aliases", "approval", "accuracy", "run", "created", title=f"model {shown['model']}")
    for v in shown["versions"]:
        versions.add_row(str(v["version"]), cell(v["aliases"]), v["approval"], cell(v["accuracy"]), v["run_id"],
                         v["created_at"])  # fmt: skip
    history = table("alias", "from", "to", "by", "at", "reason", title="alias history")
    for alias, moves in shown["alias_history"].items():
        for move in moves:
            history.add_row(alias, cell(move.get("from_version")), cell(move.get("to_version")), move.get("by", ""),
                            move.get("at", ""), move.get("reason", ""))  # fmt: skip
    return [versions, history]


def lineage_tables(chain: Any, kinds: tuple[str, ...]) -> list[Table]:
    nodes = table("kind", "node", "attributes", title="nodes (upstream to downstream)")
    for kind in kinds:
        for node in chain.of_kind(kind):
            nodes.add_row(kind, node.id, cell(dict(sorted(node.attributes.items()))))
    edges = table("from", "relation", "to", title="edges")
    for edge in chain.edges:
        edges.add_row(edge.source, f"-[{edge.relation}]->", edge.target)
    return [nodes, edges]
