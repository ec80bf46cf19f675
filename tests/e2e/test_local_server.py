"""`mlops local up | status | down` as a user runs them: a real background process, reached over HTTP, stopped
cleanly (no process left behind, no state file). One smoke test; the commands that use a running cloud are
tested against an in-process server (tests/e2e/test_operator_cli.py, test_features_cli.py)."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest

from mlops.cli import main
from mlops.local.server import STATE_DIR_ENV, STATE_FILE, NoLocalCloud, read_state


def alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child and has ended
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_local_up_status_down_runs_a_background_cloud_and_stops_it_cleanly(
    assembly: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    # When the cloud is started (empty: the sample-data backfill is what the other tests do in-process)
    assert main(["local", "up", "--assembly", str(assembly), "--no-sample-data"]) == 0
    state = read_state(tmp_path)
    try:
        assert state.pid != os.getpid() and alive(state.pid)
        assert "endpoint    http://127.0.0.1:" in capsys.readouterr().out
        # Then a second `up` finds it instead of starting another
        assert main(["local", "up", "--assembly", str(assembly)]) == 0
        assert f"a local cloud already runs (pid {state.pid}" in capsys.readouterr().out
        # And status reads it over HTTP: the stacks it serves and what they hold
        assert main(["local", "status", "--output", "json"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert status["pid"] == state.pid and status["runs"]["training"] == 0 and status["model_versions"] == {}
        assert status["api_url"].startswith("http://127.0.0.1:") and status["api_key"]
    finally:
        # When it is stopped
        assert main(["local", "down"]) == 0
    # Then the process has ended, its state file is gone, and --local says how to start one again
    assert "stopped the local cloud" in capsys.readouterr().out
    assert not alive(state.pid) and not (tmp_path / STATE_FILE).exists()
    with pytest.raises(NoLocalCloud):
        read_state(tmp_path)
    assert main(["runs", "list", "--local"]) == 2
    assert "start one with `mlops local up`" in capsys.readouterr().err
    # And the process wrote its own log: started, stopped after letting executions end
    log = (tmp_path / "cloud.log").read_text()
    assert "local cloud ready at" in log and log.rstrip().endswith("stopped")
