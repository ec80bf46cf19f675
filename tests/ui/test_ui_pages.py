"""The lineage, features and monitoring pages in a real headless browser, on the package's local cloud after its
training run (tests/ui/conftest.py): the version's lineage graph drawn and clicked, a feature write and its
quarantine shown with the view's freshness, a monitor run charted and its drift report framed.

The feature write and the monitor run are made with the toolkit's own steps and stores on the cloud's buckets
(``validate_file``/``transform``/``write_offline``; ``detect_drift``/``render_report``/``MonitorRunStore``), not
through their pipelines: a feature pipeline or monitor execution would cost seconds the suite does not have.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import unquote, urlparse

import pandas as pd
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from functions.feature_store.steps import transform, validate_file, write_offline
from functions.monitoring.drift import detect_drift
from functions.monitoring.monitor_store import MonitorRunStore, load_baseline
from functions.monitoring.quality import live_quality
from functions.monitoring.report import render_report
from mlops.demo import demo_data, demo_scenario
from tests.ui.conftest import WAIT_S, UiSession


def _visible_node(ui: UiSession) -> str | None:
    shown = [s for s in ui.driver.find_elements(By.CSS_SELECTOR, ".lineage-node") if s.is_displayed()]
    return shown[0].get_attribute("data-node") if shown else None


def test_lineage_graph_of_the_version_shows_trigger_data_and_run_and_a_click_recentres_on_the_run(ui: UiSession):
    # Given the trained version, when its lineage is opened from the lineage index
    driver = ui.open("/lineage")
    driver.find_element(By.CSS_SELECTOR, f'a[href="/lineage/models/{ui.model}/versions/1"]').click()
    ui.wait()
    # Then the graph draws one point per node the table lists: its trigger, its training set, its run, itself
    nodes = [row.get_attribute("data-node") for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-node]")]
    assert {f"trigger:{ui.run_id}", f"run:{ui.run_id}", f"model:{ui.model}:1"} <= set(nodes)
    assert any(n.startswith("dataset:") for n in nodes)
    traces = driver.find_elements(By.CSS_SELECTOR, "#lineage-graph .scatterlayer .trace")
    assert sum(len(t.find_elements(By.CSS_SELECTOR, ".point")) for t in traces[1:]) == len(nodes)  # 0: edge middles
    assert _visible_node(ui) == f"model:{ui.model}:1"  # the centre's facts are open first

    # When the run's point is clicked
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_element(By.ID, "lineage-graph").get_attribute("data-clickable") == "true"
    )
    graph = driver.find_element(By.ID, "lineage-graph")
    trace = driver.execute_script("return arguments[0].data.findIndex(t => t.name === 'run')", graph)
    point = traces[trace].find_element(By.CSS_SELECTOR, ".point")
    ActionChains(driver).move_to_element(point).click().perform()
    # Then its facts open beside the graph, with a link that centres the graph on it and one to its page
    WebDriverWait(driver, WAIT_S).until(lambda d: _visible_node(ui) == f"run:{ui.run_id}")
    panel = driver.find_element(By.CSS_SELECTOR, f'.lineage-node[data-node="run:{ui.run_id}"]')
    assert panel.find_element(By.CSS_SELECTOR, "a.open").get_attribute("href").endswith(f"/runs/{ui.run_id}")
    panel.find_element(By.CSS_SELECTOR, "a.centre").click()
    ui.wait()
    # And the re-centred graph is downstream of the run: the version it produced, not the data before it
    assert unquote(urlparse(driver.current_url).path) == f"/lineage/nodes/run:{ui.run_id}"
    downstream = [row.get_attribute("data-node") for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-node]")]
    assert f"model:{ui.model}:1" in downstream and not any(n.startswith("dataset:") for n in downstream)

    # And a node id that is no lineage id is a one-line 400 page
    driver.get(ui.url("/lineage/nodes/nothing"))
    assert "is not a lineage node id" in driver.find_element(By.TAG_NAME, "main").text
    assert "Traceback" not in driver.page_source


def test_features_page_shows_the_view_ttl_freshness_and_the_runs_quarantine_counts(ui: UiSession):
    # Given a raw file with one bad row validated, transformed and written offline by the pipeline's steps, and its
    # feature run recorded as the pipeline records it (nothing materialized yet)
    backend, project = ui.backend, ui.backend.project
    assert backend.offline is not None and project is not None
    source = project.raw_source(demo_scenario(project).source)
    lines = demo_data(project).decode().splitlines()
    body = "\n".join([*lines[:40], lines[1].replace(lines[1].split(",")[0], "not-a-date", 1)]).encode()
    run_id = f"ui-test-{uuid.uuid4().hex[:8]}"
    key = f"raw/features/{source.name}/ui-test.csv"
    validated = validate_file(backend.offline, source, body, name="ui-test.csv", source_uri=f"s3://raw/{key}",
                              run_id=run_id, max_bad_row_fraction=0.5)  # fmt: skip
    writes = write_offline(backend.offline, transform(project.views_of_source(source.name), validated.valid),
                           source_uri=validated.source_uri, source_sha256=validated.source_sha256,
                           created=datetime.now(UTC), write_id=run_id)  # fmt: skip
    backend.metadata.start_run(run_id=run_id, pipeline="features", execution_arn=f"arn:{run_id}",
                               trigger={"type": "s3", "key": key})  # fmt: skip
    backend.metadata.finish_run(run_id, status="SUCCEEDED", summary={
        "counts": validated.counts, "quarantine_uri": validated.quarantine_uri, "writes": writes, "materialized": []})
    view = project.views_of_source(source.name)[0]

    # When the features page is opened
    driver = ui.open("/features")
    # Then the view shows its TTL and that its write is not online yet
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-view="{view.name}:v{view.version}"]')
    assert str(view.ttl) in row.text and "1 write not materialized yet" in row.text
    # And the run shows its counts (40 rows in = 39 valid + 1 quarantined), why, and where the bad row is
    run = driver.find_element(By.CSS_SELECTOR, f'tr[data-run="{run_id}"]')
    cells = [c.text for c in run.find_elements(By.CSS_SELECTOR, "td.num")]
    assert cells == ["40", "39", "1"] and f"quarantine/{source.name}/{run_id}" in run.text
    [reason] = run.find_elements(By.CSS_SELECTOR, ".fact")  # read from the run's quarantine report
    assert reason.text.endswith(": 1") and reason.text.split(":")[0] in str(validated.report["reasons"])

    # When the view's page is opened from there, its write is listed as pending
    row.find_element(By.LINK_TEXT, f"{view.name}:v{view.version}").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.feature-writes"))
    section = driver.find_element(By.CSS_SELECTOR, f'section[data-view="{view.name}:v{view.version}"]')
    [write] = section.find_elements(By.CSS_SELECTOR, ".feature-writes tbody tr")
    assert writes[0]["write_id"] in write.text and "pending" in write.text


def test_monitoring_page_charts_a_monitor_run_and_frames_its_drift_report(ui: UiSession):
    # Given a monitor run of the trained version over a window of its training data shifted, stored where the
    # monitor stores its runs (the drift computed and the report rendered by the monitor's own functions)
    backend = ui.backend
    baseline = load_baseline(backend.s3, backend.artifact_bucket, ui.model, 1)
    project = backend.project
    assert project is not None
    window = pd.read_csv(pd.io.common.BytesIO(demo_data(project)))
    features = [f.name for f in project.model(ui.model).inputs]
    current = window[features].head(600).copy()  # enough rows for the drift policy's distances
    for name, offset in demo_scenario(project).shift.items():
        current[name] = current[name] + offset
    drift = detect_drift(baseline, current)
    quality = live_quality(pd.DataFrame(columns=["prediction_id", "timestamp", "predicted_label"]),
                           pd.DataFrame(columns=["prediction_id", "label", "timestamp"]))  # fmt: skip
    run_id = f"20240102T000000Z-{uuid.uuid4().hex[:8]}"
    record = {"run_id": run_id, "model_name": ui.model, "model_version": 1, "window_start": "2024-01-01T00:00:00+00:00",
              "window_end": "2024-01-02T00:00:00+00:00", "captures": len(current), "drift": drift.to_dict(),
              "quality": quality.to_dict()}  # fmt: skip
    html = render_report(drift, baseline, current, [], title=f"Drift report {ui.model} {run_id}", facts={"run": run_id})
    MonitorRunStore(backend.s3, backend.artifact_bucket).save(ui.model, run_id, record, html, [])

    # When the model's monitoring page is opened from the index
    driver = ui.open("/monitoring")
    driver.find_element(By.LINK_TEXT, ui.model).click()
    ui.wait()
    # Then the drift share is charted and the run listed with its share and drifted features
    assert driver.find_element(By.CSS_SELECTOR, "#monitoring-drift .main-svg").is_displayed()
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-run="{run_id}"]')
    assert f"{drift.drift_share:.4g}" in row.text and all(f in row.text for f in drift.drifted_features)
    assert drift.drifted_features, drift.to_dict()  # the shift drifts a feature: the check above checks something

    # When the run is opened, its drift report is framed
    row.find_element(By.LINK_TEXT, run_id).click()
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.CSS_SELECTOR, "iframe.drift-report"))
    driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, "iframe.drift-report"))
    try:
        heading = WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.TAG_NAME, "h1"))
        assert heading[0].text == f"Drift report {ui.model} {run_id}"
    finally:
        driver.switch_to.default_content()
