"""Screenshots of the web UI for the docs (``docs/images/ui-*.png``), taken with the headless Chromium the browser
tests use, on a local cloud after the demo's loop (features backfilled, trained, shifted traffic, feedback, a monitor
run that alarms, a retrain and its canary), so every page has something real to show.

    .venv/bin/python -m benchmarks.ui_screenshots [--assembly cdk.out] [--project examples/seattle_weather]

Not a test: it writes the pictures the README and docs/operations.md show.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from functions.monitoring.monitor_store import MonitorRunStore
from functions.project import load_project
from mlops.demo import Story, backfill_features, demo_data, demo_traffic, feedback_loop
from mlops.local import LocalCloud
from mlops.operator import Backend
from mlops.synth import synth
from mlops.ui.app import bind

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 20


@contextmanager
def served(backend: Backend) -> Iterator[str]:
    """The UI as ``mlops ui`` serves it, on a free loopback port, in a thread (in-process moto is shared by threads)."""
    with bind(backend, host="127.0.0.1", port=0, allow_remote=False).in_thread() as url:
        yield url


def loop(cloud: LocalCloud, project_dir: Path, scratch: Path) -> None:
    """The demo's loop, its story discarded: what the pages then show is what it did."""
    project = load_project(project_dir)
    _, records, labels = demo_traffic(project)
    loaded = backfill_features(cloud, project=project)
    if loaded.status != "SUCCEEDED":
        raise RuntimeError(f"feature backfill {loaded.status}: {loaded.error}: {loaded.cause}")
    trained = cloud.run_state_machine(
        cloud.output("TrainingStateMachineArn"), {"feature_store": {}, "trigger": {"type": "manual", "by": "make demo"}}
    )
    if trained.status != "SUCCEEDED":
        raise RuntimeError(f"training {trained.status}: {trained.error}: {trained.cause}")
    assert cloud.gateway is not None, "the stack defines no API"
    story = Story(Console(file=io.StringIO(), width=120))
    code = feedback_loop(cloud, story, url=f"{cloud.gateway.url()}/predict", api_key=cloud.gateway.api_key(),
                         records=records, labels=labels, project=project, out_dir=scratch)  # fmt: skip
    if code != 0:
        raise RuntimeError("the demo's feedback loop failed:\n" + story.console.file.getvalue())  # type: ignore[attr-defined]
    # A later file with one malformed row, through the feature pipeline: the features page shows it quarantined.
    lines = demo_data(project).decode().splitlines()
    late = backfill_features(cloud, "\n".join([*lines[:31], "not-a-date" + lines[1][lines[1].index(","):]]).encode(),
                             project=project, file="late-rows.csv")  # fmt: skip
    if late.status != "SUCCEEDED":
        raise RuntimeError(f"the late file's feature run {late.status}: {late.error}: {late.cause}")


def shoot(driver: WebDriver, url: str, out: Path, *, click_node: str | None = None) -> None:
    """Open ``url``, wait for its charts, optionally click a lineage node, save the whole page as ``out``."""
    driver.set_window_size(1280, 900)
    driver.get(url)
    wait = WebDriverWait(driver, WAIT_S)
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
    wait.until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('[data-figure]')].every(e => e.dataset.drawn === 'true')"))  # fmt: skip
    if click_node is not None:
        wait.until(lambda d: d.find_element(By.ID, "lineage-graph").get_attribute("data-clickable") == "true")
        driver.execute_script(
            "const g = document.getElementById('lineage-graph');"
            "const t = g.data.findIndex(t => (t.customdata || []).includes(arguments[0]));"
            "g.emit('plotly_click', {points: [{customdata: arguments[0], curveNumber: t}]});", click_node)  # fmt: skip
    height = driver.execute_script("return Math.min(document.documentElement.scrollHeight, 2400)")
    driver.set_window_size(1280, max(600, int(height)))
    time.sleep(0.3)  # the resized charts redraw
    driver.save_screenshot(str(out))
    print(f"{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}: {url}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assembly", type=Path, help="a synthesized cloud assembly (default: synthesize one)")
    parser.add_argument("--project", type=Path, default=ROOT / "examples" / "seattle_weather")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    from tests.ui.conftest import headless_chromium  # the browser tests' Chromium, found the same way

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mlops-ui-shots-") as scratch:
        assembly = args.assembly or synth(Path(scratch) / "cdk.out", stage="dev", project=args.project)
        with LocalCloud(assembly) as cloud:
            loop(cloud, args.project, Path(scratch))
            backend = Backend.from_cloud(cloud)
            model = backend.model_name
            versions = backend.registry.list_versions(model)
            latest = max(v.version for v in versions)
            [run] = backend.metadata.list_runs("training", limit=1)
            monitor = MonitorRunStore(backend.s3, backend.artifact_bucket).run_ids(model)
            view = backend.project.feature_views[0].name if backend.project else None
            pages = {
                "runs": "/runs",
                "run": f"/runs/{run.run_id}",
                "models": f"/models/{model}",
                "version": f"/models/{model}/versions/{latest}",
                "lineage": f"/lineage/models/{model}/versions/{latest}",
                "features": "/features",
                "feature-view": f"/features/{view}",
                "monitoring": f"/monitoring/{model}",
                "monitor-run": f"/monitoring/{model}/runs/{monitor[-1]}" if monitor else None,
            }
            with served(backend) as base:
                driver = headless_chromium()
                try:
                    for name, path in pages.items():
                        if path is not None:
                            click = f"model:{model}:{latest}" if name == "lineage" else None
                            shoot(driver, base + path, args.out / f"ui-{name}.png", click_node=click)
                finally:
                    driver.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
