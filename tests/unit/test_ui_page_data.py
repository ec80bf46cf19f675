"""The data shaping of the web UI's lineage, features and monitoring pages (pure functions, no cloud, no browser)."""

from __future__ import annotations

from datetime import timedelta

from functions.feature_store.commit_log import Commit
from functions.feature_store.definitions import Entity, FeatureView, Field, Transformation, ValueType
from functions.feature_store.manifest import StoredFile, WriteManifest
from functions.metadata.metadata_store import (
    Edge,
    Lineage,
    PipelineRun,
    alias_change_node,
    dataset_node,
    deployment_node,
    feature_view_node,
    model_node,
    run_node,
    trigger_node,
)
from mlops.ui import features, lineage, monitoring


def _chain() -> Lineage:
    view = feature_view_node("daily", 1)
    data = dataset_node("s3://b/m.json", "abc123", rows=10)
    trigger = trigger_node("run-1", {"type": "schedule"})
    run = run_node("run-1", "training")
    model = model_node("m", 2, run_id="run-1")
    promoted = alias_change_node("m", "champion", "c1", from_version=1, to_version=2)
    deployed = deployment_node("d-1", status="Stopped")
    rolled = alias_change_node("m", "champion", "c2", from_version=2, to_version=1)
    nodes = {n.id: n for n in (view, data, trigger, run, model, promoted, deployed, rolled)}
    edges = (
        Edge(view.id, data.id, "read_by"), Edge(data.id, run.id, "input_of"), Edge(trigger.id, run.id, "started"),
        Edge(run.id, model.id, "produced"), Edge(model.id, promoted.id, "aliased_as"),
        Edge(promoted.id, deployed.id, "rolled_out_by"), Edge(deployed.id, rolled.id, "rolled_back_by"),
    )  # fmt: skip
    return Lineage(model.id, nodes, edges)


def test_lineage_layers_follow_the_longest_path_from_data_and_trigger_to_the_rollback():
    chain = _chain()
    depth = lineage.layers(chain.nodes, chain.edges)
    assert depth["feature_view:daily:v1"] == 0 and depth["trigger:run-1"] == 0
    assert depth["run:run-1"] == 2  # after the dataset, not beside the trigger
    assert depth["alias_change:m:champion:c2"] == 6
    placed = lineage.positions(chain)
    assert len({placed[n] for n in chain.nodes}) == len(chain.nodes)  # no two nodes on one spot


def test_lineage_layers_stop_on_a_cycle():
    chain = _chain()
    cyclic = (*chain.edges, Edge("alias_change:m:champion:c2", "feature_view:daily:v1", "loops"))
    assert max(lineage.layers(chain.nodes, cyclic).values()) <= len(chain.nodes)


def test_lineage_figure_has_a_point_per_node_an_arrow_per_edge_and_the_root_marked():
    chain = _chain()
    figure = lineage.graph_figure(chain)
    points = [p for trace in figure["data"][1:] for p in trace["customdata"]]
    assert sorted(points) == sorted(chain.nodes)
    assert len(figure["layout"]["annotations"]) == len(chain.edges)  # one arrow each
    relations = figure["data"][0]["hovertext"]
    assert [r.split("<br>")[0] for r in relations] == [e.relation for e in chain.edges]
    model_trace = next(t for t in figure["data"] if t.get("name") == "model")
    assert model_trace["marker"]["size"] == [22] and model_trace["text"] == ["m v2"]


def test_lineage_nodes_link_to_their_pages_and_recentre_on_themselves():
    shown = {n["id"]: n for n in lineage.page_model(_chain(), title="t", direction="d")["nodes"]}
    assert shown["model:m:2"]["page_url"] == "/models/m/versions/2" and shown["model:m:2"]["root"]
    assert shown["run:run-1"]["page_url"] == "/runs/run-1"
    assert shown["trigger:run-1"]["page_url"] == "/runs/run-1"
    assert shown["feature_view:daily:v1"]["page_url"] == "/features/daily"
    assert shown["dataset:abc123"]["page_url"] is None
    assert shown["dataset:abc123"]["centre_url"] == "/lineage/nodes/dataset%3Aabc123"
    assert shown["alias_change:m:champion:c1"]["label"] == "champion: v1->v2"


def _commit(position: int, rows: int) -> Commit:
    files = (StoredFile(f"s3://b/{position}.parquet", "0" * 64, rows, f"2024-0{position}"),)
    manifest = WriteManifest(f"w{position}", "daily", 1, "rule", "s3://raw/f.csv", "1" * 64,
                             f"2024-01-0{position}T00:00:00.000000Z", files, rows)  # fmt: skip
    return Commit(position, manifest)


def test_feature_freshness_counts_the_writes_past_the_materialization_watermark():
    commits = [_commit(1, 5), _commit(2, 7), _commit(3, 1)]
    behind = features.freshness(commits, 1)
    assert behind["pending"] == 2 and behind["state"] == "2 writes not materialized yet" and not behind["up_to_date"]
    assert behind["rows"] == 13 and behind["last_write"] == "2024-01-03T00:00:00.000000Z"
    assert behind["watermark_write"] == "2024-01-01T00:00:00.000000Z"
    current = features.freshness(commits, 3)
    assert current["up_to_date"] and current["state"] == "online store up to date"
    assert features.freshness([], 0)["state"] == "no write yet"
    feedback = features.freshness(commits, 0, online=False)  # a feedback view: never materialized, never behind
    assert feedback["pending"] == 0 and feedback["state"] == "offline only (training rows)"
    rows = features.write_rows(commits, 2)
    assert [(r["position"], r["materialized"]) for r in rows] == [(3, False), (2, True), (1, True)]


def _run(summary: dict | None, trigger: dict | None = None, status: str = "SUCCEEDED") -> PipelineRun:
    return PipelineRun("r1", "features", status, "2024-01-01T00:00:00", trigger or {}, "arn", summary=summary)


def test_feature_run_counts_come_from_the_summary_or_the_quarantine_report_of_a_refused_file():
    finished = _run({"counts": {"rows_in": 10, "rows_valid": 8, "rows_quarantined": 2}, "quarantine_uri": "s3://q",
                     "writes": [{"view": "daily", "version": 1, "rows": 8, "written": False}]})  # fmt: skip
    counts = features.run_counts(finished, None)
    assert (counts["rows_in"], counts["rows_quarantined"], counts["quarantine_uri"]) == (10, 2, "s3://q")
    assert counts["writes"] == ["daily:v1: 8 rows (already ingested)"]
    refused = features.run_counts(_run(None, status="FAILED"), {"rows_in": 4, "rows_valid": 0, "rows_quarantined": 4,
                                                                "reasons": {"bad date": 4}})  # fmt: skip
    assert refused["rows_quarantined"] == 4 and refused["reasons"] == {"bad date": 4}
    assert features.run_counts(_run(None, status="FAILED"), None)["rows_in"] is None


def test_feature_run_source_is_read_from_the_trigger_key():
    assert features.run_source(_run(None, {"key": "raw/features/weather/a.csv"}), ["weather"]) == "weather"
    assert features.run_source(_run(None, {"key": "raw/feature-batches/weather/b1/_SUCCESS"}), ["weather"]) == "weather"
    assert features.run_source(_run(None, {"type": "manual"}), ["weather"]) is None


def test_monitor_history_leaves_skipped_windows_as_gaps_and_marks_dataset_drift():
    evaluated = {"run_id": "b", "model_version": 1, "window_end": "2024-01-02", "captures": 50,
                 "drift": {"status": "evaluated", "drift_share": 0.5, "dataset_drift": True, "drifted_features": ["t"]},
                 "quality": {"status": "evaluated", "metrics": {"accuracy": 0.8}, "labelled": 40}}  # fmt: skip
    skipped = {"run_id": "a", "model_version": 1, "window_end": "2024-01-01", "captures": 3,
               "drift": {"status": "skipped", "reason": "3 rows < 30"}, "quality": {"status": "skipped"}}  # fmt: skip
    rows = [monitoring.run_row(evaluated), monitoring.run_row(skipped)]
    assert rows[1]["drift_share"] is None and rows[1]["drift_reason"] == "3 rows < 30"
    figures = monitoring.history_figures(rows)
    share, marked = figures["drift"]["data"]
    assert share["x"] == ["2024-01-01", "2024-01-02"] and share["y"] == [None, 0.5]
    assert marked["x"] == ["2024-01-02"]
    [accuracy] = figures["quality"]["data"]
    assert accuracy["name"] == "accuracy" and accuracy["y"] == [None, 0.8]


def test_feature_view_facts_show_version_ttl_keys_and_rule():
    view = FeatureView(
        name="daily", version=2, entities=(Entity("station", ("station_id",)),),
        schema=(Field("temp_max", ValueType.FLOAT64), Field("wind", ValueType.FLOAT64, nullable=True)),
        ttl=timedelta(days=3), source="weather", transformation=Transformation("daily_rule", 2, lambda raw: raw),
    )  # fmt: skip
    facts = features.view_facts(view)
    assert facts["ref"] == "daily:v2" and facts["ttl"] == "3 days, 0:00:00" and facts["rule"] == "daily_rule@v2"
    assert facts["join_keys"] == ["station_id"]
    assert facts["features"] == [{"name": "temp_max", "dtype": "float64", "nullable": False},
                                 {"name": "wind", "dtype": "float64", "nullable": True}]  # fmt: skip
    assert facts["lineage_url"] == "/lineage/feature-views/daily%3Av2"
