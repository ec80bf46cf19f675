"""The UI in a real headless browser, on a local cloud after a training run: the runs list, a run, the models, a
version; then the version approved and promoted through the UI's forms, and the registry changed with the
reasons and the caller's AWS identity recorded."""

from __future__ import annotations

from urllib.parse import urlparse

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from mlops.operator import identity
from tests.ui.conftest import WAIT_S, UiSession

ALIAS = "challenger"


def texts(driver: WebDriver, selector: str) -> list[str]:
    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, selector)]


def loaded_from_elsewhere(ui: UiSession) -> list[str]:
    """Every resource the page loaded (scripts, styles, images) that the app did not serve."""
    names = ui.driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    here = urlparse(ui.base_url).netloc
    return [name for name in names if urlparse(name).netloc != here]


def test_runs_list_and_run_page_show_the_training_run_its_steps_params_metrics_trigger_and_manifest(
    ui: UiSession,
) -> None:
    # Given the fixture's training run, when the runs list is opened
    driver = ui.open("/runs")
    # Then it lists the run, succeeded, with its model and trigger
    [row] = driver.find_elements(By.CSS_SELECTOR, f'#runs tr[data-run="{ui.run_id}"]')
    assert "SUCCEEDED" in row.text and ui.model in row.text and "test" in row.text

    # When its page is opened from the list
    driver.find_element(By.LINK_TEXT, ui.run_id).click()
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.ID, "steps"))
    ui.wait()
    # Then it shows each step with its status and duration, drawn as a chart too
    steps = texts(driver, "#steps tbody tr td:first-child")
    assert steps[:3] == ["BuildTrainingSet", "ValidateData", "Split"] and "Evaluate" in steps and "Register" in steps
    assert all("SUCCEEDED" in text for text in texts(driver, "#steps tbody tr td:nth-child(2)"))
    assert driver.find_element(By.CSS_SELECTOR, "#steps-chart .main-svg").is_displayed()
    # And its params, metrics, trigger and the training set's manifest (read from S3, checked by its sha256)
    assert "n_estimators" in driver.find_element(By.ID, "params").text
    assert "holdout_accuracy" in driver.find_element(By.ID, "metrics").text
    assert '"type": "test"' in driver.find_element(By.ID, "trigger").text
    manifest = driver.find_element(By.ID, "manifest").text
    assert f'"run_id": "{ui.run_id}"' in manifest and '"rows": 1461' in manifest
    # And nothing on these pages came from anywhere but the app (Plotly's bundle included)
    assert loaded_from_elsewhere(ui) == []


def test_models_and_version_pages_then_approve_and_promote_through_the_ui_record_reason_and_identity(
    ui: UiSession,
) -> None:
    # Given the run's version, pending (the stage approves manually): the models list links to the model
    driver = ui.open("/models")
    driver.find_element(By.LINK_TEXT, ui.model).click()
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.ID, "versions"))
    assert "pending" in driver.find_element(By.CSS_SELECTOR, '#versions tr[data-version="1"]').text
    # When the version's page is opened, it shows its evaluation on the holdout (no champion yet to compare with)
    driver.find_element(By.LINK_TEXT, "v1").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.ID, "approve-form"))
    assert "there was no champion to compare with" in driver.find_element(By.ID, "verdict").text
    assert "accuracy" in driver.find_element(By.ID, "evaluation").text

    # When an approver approves it through the form, with a reason
    form = driver.find_element(By.ID, "approve-form")
    form.find_element(By.NAME, "reason").send_keys("holdout accuracy reviewed in the UI")
    form.find_element(By.TAG_NAME, "button").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.ID, "promote-form"))
    # Then the page shows the decision, and the registry recorded it with the reason and the caller's identity
    caller = identity(ui.backend)
    assert driver.find_element(By.ID, "approval-reason").text == "holdout accuracy reviewed in the UI"
    approved = ui.backend.registry.get(ui.model, 1)
    assert (approved.approval_status, approved.approval_reason, approved.approval_by) == (
        "approved", "holdout accuracy reviewed in the UI", caller,
    )  # fmt: skip

    # When it is promoted through the form to an alias of its own (champion would start a rollout too)
    form = driver.find_element(By.ID, "promote-form")
    form.find_element(By.NAME, "alias").clear()
    form.find_element(By.NAME, "alias").send_keys(ALIAS)
    form.find_element(By.NAME, "reason").send_keys("candidate for the next release")
    form.find_element(By.TAG_NAME, "button").click()
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f'.alias-history[data-alias="{ALIAS}"]')
    )
    # Then the registry's alias moved and its history records who and why, as the model page shows
    assert ui.backend.registry.aliases(ui.model) == {ALIAS: 1}
    [change] = ui.backend.registry.alias_history(ui.model, ALIAS)
    assert (change.to_version, change.from_version, change.reason, change.by) == (
        1, None, "candidate for the next release", caller,
    )  # fmt: skip
    history = driver.find_element(By.CSS_SELECTOR, f'.alias-history[data-alias="{ALIAS}"]').text
    assert "candidate for the next release" in history and caller in history


def test_tracked_runs_compared_side_by_side_with_charts_from_the_runs_list(ui: UiSession) -> None:
    # Given two tracked runs of one experiment, listed by the experiment filter
    driver = ui.open("/runs?experiment=ui-depth")
    listed = [row.get_attribute("data-run") for row in driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr")]
    assert sorted(listed) == sorted(ui.tracked)
    # When both are ticked and compared
    for run_id in ui.tracked:
        driver.find_element(By.CSS_SELECTOR, f'input[name="ids"][value="{run_id}"]').click()
    driver.find_element(By.CSS_SELECTOR, "#compare-form button").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.ID, "comparison"))
    ui.wait()
    # Then the differing param is marked, and the metrics and the loss by step are drawn
    differing = texts(driver, "#comparison tr.differs td:nth-child(3)")
    assert "max_depth" in differing and "n_estimators" not in differing
    assert driver.find_element(By.CSS_SELECTOR, "#metrics-chart .main-svg").is_displayed()
    assert "loss" in driver.find_element(By.ID, "history-chart-1").text
