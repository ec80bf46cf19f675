"""One local cloud after one training run, the UI served over it on loopback, and a headless Chromium driving it
(Selenium and Debian's chromedriver: nothing is downloaded). Shared by every UI test module (package scope).

The stage's Promote function is set to manual approval first (``MLOPS_APPROVAL_POLICY=manual``, as the prod stage
is configured), so the run leaves its version pending and the tests decide it through the UI.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from mlops.local import LocalCloud
from mlops.operator import Backend
from mlops.tracking import Tracker
from mlops.ui.app import bind
from tests.helpers import run_training, upload_raw

MODEL = "seattle-weather"
EXPERIMENT = "ui-depth"
# Browsers the suite drives, fastest first (as tests/unit/test_report_rendering.py); MLOPS_CHROMIUM overrides.
BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
WAIT_S = 10  # an upper bound on waiting for a page, not a measured time


@dataclass
class UiSession:
    cloud: LocalCloud
    backend: Backend
    base_url: str
    driver: WebDriver
    run_id: str
    model: str
    tracked: tuple[str, ...]

    def url(self, path: str) -> str:
        return self.base_url + path

    def open(self, path: str) -> WebDriver:
        """Load ``path`` and wait until it is complete (``wait``)."""
        self.driver.get(self.url(path))
        return self.wait()

    def wait(self) -> WebDriver:
        """Wait until the current page's document is complete and every chart on it is drawn."""
        WebDriverWait(self.driver, WAIT_S).until(
            lambda d: d.execute_script(
                "return document.readyState === 'complete' && "
                "[...document.querySelectorAll('[data-figure]')].every(e => e.dataset.drawn === 'true')"
            )
        )
        return self.driver


def browser_binary() -> str:
    named = os.environ.get("MLOPS_CHROMIUM")
    found = named or next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if not found or not shutil.which(found):
        pytest.fail("no Chromium for the UI's browser tests: `make browser` installs Debian's (or set MLOPS_CHROMIUM)")
    return found


def chromedriver() -> str:
    found = shutil.which("chromedriver")
    if not found:
        pytest.fail("no chromedriver for the UI's browser tests: `make browser` installs Debian's chromium-driver")
    return found


def headless_chromium() -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = browser_binary()
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
                     "--disable-extensions", "--no-first-run"):  # fmt: skip
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(chromedriver()))


def tracked_run(tracker: Tracker, depth: int) -> str:
    """A notebook's run of experiment ``EXPERIMENT`` (the tracking API): a param, a final metric, a loss by step."""
    with tracker.start_run(EXPERIMENT) as run:
        run.log_params({"max_depth": depth, "n_estimators": 50})
        for step in range(3):
            run.log_metric("loss", 1.0 / (depth + step), step=step)
        run.log_metric("macro_f1", 0.5 + depth / 100)
    return run.run_id


@pytest.fixture(scope="package")
def ui(assembly: Path) -> Iterator[UiSession]:
    with pytest.MonkeyPatch.context() as patch, LocalCloud(assembly) as cloud:
        patch.setenv("SE_OFFLINE", "true")  # Selenium Manager never fetches a driver or a browser
        lambdas, promote = cloud.client("lambda"), cloud.function_name("FunctionsPromote")
        variables = lambdas.get_function_configuration(FunctionName=promote)["Environment"]["Variables"]
        lambdas.update_function_configuration(
            FunctionName=promote, Environment={"Variables": {**variables, "MLOPS_APPROVAL_POLICY": "manual"}}
        )
        result = run_training(cloud, upload_raw(cloud))
        assert result.status == "SUCCEEDED", result
        backend = Backend.from_cloud(cloud)
        [run] = backend.metadata.list_runs("training", limit=1)
        tracked = tuple(tracked_run(Tracker.from_cloud(cloud), depth) for depth in (4, 8))
        serving = bind(backend, host="127.0.0.1", port=0, allow_remote=False)  # as `mlops ui` serves it
        with serving.in_thread() as url:
            driver = headless_chromium()
            try:
                yield UiSession(cloud, backend, url, driver, run.run_id, MODEL, tracked)
            finally:
                driver.quit()
