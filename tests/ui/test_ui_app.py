"""The UI's refusals over HTTP (no browser): forms without a valid CSRF token, a non-loopback address, bad form
and query input, unknown runs and models. Each is a one-line page with a 4xx status, never a traceback, and the
registry is left as it was. Also: every script and stylesheet a page names is served by the app itself."""

from __future__ import annotations

import html
import re
import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from functions.shared.errors import RegistryConflictError
from mlops import operator
from mlops.cli import main
from mlops.targets import UsageError
from mlops.ui.app import POLICY, answers_to, check_host, create_app, serve
from mlops.ui.csrf import COOKIE, FIELD, CsrfTokens
from tests.ui.conftest import UiSession

ARN = "arn:aws:sts::123456789012:user/approver"
SECRET = b"k" * 32


@pytest.fixture
def client(ui: UiSession) -> Iterator[TestClient]:
    app = create_app(ui.backend, secret=SECRET, who=lambda: ARN)
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def error_line(response: object) -> str:
    """The page's one error line; asserts there is exactly one and no traceback."""
    body = response.text  # type: ignore[attr-defined]
    assert "Traceback" not in body and 'File "' not in body
    [line] = re.findall(r'<p class="error" role="alert">(.*?)</p>', body, flags=re.S)
    assert "\n" not in line.strip()
    return html.unescape(line.strip())


def token_of(page: str) -> str:
    [token] = re.findall(rf'name="{FIELD}" value="([^"]+)"', page)[:1]
    return token


def signed_token(client: TestClient) -> str:
    """The token a form of this browser would carry (any page sets the cookie; the test client knows the key)."""
    client.get("/nowhere")
    return CsrfTokens(SECRET).token(client.cookies[COOKIE])


def approval_of(ui: UiSession) -> tuple[str, str]:
    version = ui.backend.registry.get(ui.model, 1)
    return version.approval_status, version.approval_reason


# -- CSRF ----------------------------------------------------------------------------------------------------------
def test_a_decision_without_a_valid_csrf_token_is_refused_403_and_the_registry_is_unchanged(
    ui: UiSession, client: TestClient
) -> None:
    # Given a version page (it sets the browser's CSRF cookie and signs a token for it)
    page = client.get(f"/models/{ui.model}/versions/1")
    token, before = token_of(page.text), approval_of(ui)
    approve = f"/models/{ui.model}/versions/1/approve"
    forged = CsrfTokens(b"x" * 32).token(client.cookies[COOKIE])  # signed with another key
    other_browser = CsrfTokens(SECRET).token("another-browser's-nonce")
    # When a form is posted with no token, a forged one, another browser's, or without the cookie
    refusals = [
        client.post(approve, data={"reason": "ok"}),
        client.post(approve, data={"reason": "ok", FIELD: forged}),
        client.post(approve, data={"reason": "ok", FIELD: other_browser}),
    ]
    client.cookies.clear()
    refusals.append(client.post(approve, data={"reason": "ok", FIELD: token}))
    # Then each is refused with a 403 naming the problem, and nothing was decided
    assert [r.status_code for r in refusals] == [403, 403, 403, 403]
    lines = [error_line(r) for r in refusals]
    assert "no CSRF token" in lines[0] and "invalid or expired" in lines[1]
    assert "another browser session" in lines[2] and "no CSRF cookie" in lines[3]
    assert approval_of(ui) == before


# -- binding -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "ui.example.com"])
def test_serving_on_a_non_loopback_address_is_refused_unless_allowed(host: str) -> None:
    with pytest.raises(UsageError, match=f"refusing to serve the UI on {re.escape(host)}.*--allow-remote"):
        check_host(host, allow_remote=False)
    check_host(host, allow_remote=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses_are_served(host: str) -> None:
    check_host(host, allow_remote=False)


def test_a_request_naming_another_host_is_refused_so_a_rebound_dns_name_reads_nothing(
    ui: UiSession, client: TestClient
) -> None:
    # Given the loopback UI, when a page of another site reaches it under its own name (DNS rebinding)
    response = client.get(f"/models/{ui.model}/versions/1", headers={"Host": "attacker.example:8765"})
    # Then it is refused, and no page (with its CSRF token) is answered
    assert response.status_code == 400 and "csrf" not in response.text.lower()
    assert client.get("/models", headers={"Host": "localhost:8765"}).status_code == 200
    assert answers_to("127.0.0.1") == ("127.0.0.1", "localhost") and answers_to("0.0.0.0") == ("*",)


def test_pages_may_not_be_framed_by_another_site_and_run_only_the_apps_scripts(client: TestClient) -> None:
    headers = client.get("/runs").headers
    assert headers["Content-Security-Policy"] == POLICY and headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "script-src 'self';" in POLICY and "frame-ancestors 'self'" in POLICY


def test_a_port_in_use_is_one_line_naming_it_before_anything_is_served() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=rf"cannot serve the UI on 127.0.0.1:{port}: .*pick another --port"):
            serve(object(), host="127.0.0.1", port=port, allow_remote=False, description="a test")  # type: ignore[arg-type]


def test_mlops_ui_on_a_remote_address_is_one_line_and_exit_2_before_any_aws_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["ui", "--host", "0.0.0.0", "--stage", "dev"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: refusing to serve the UI on 0.0.0.0") and len(err.strip().splitlines()) == 1


# -- bad input -----------------------------------------------------------------------------------------------------
def test_bad_form_input_is_a_one_line_400_page_and_decides_nothing(ui: UiSession, client: TestClient) -> None:
    token, before = signed_token(client), approval_of(ui)
    base = f"/models/{ui.model}/versions/1"
    cases = {
        "blank reason": client.post(f"{base}/approve", data={"reason": "  ", FIELD: token}),
        "reason too long": client.post(f"{base}/reject", data={"reason": "x" * 1001, FIELD: token}),
        "alias with #": client.post(f"{base}/promote", data={"reason": "r", "alias": "a#b", FIELD: token}),
        "version not a number": client.post(
            f"/models/{ui.model}/versions/one/approve", data={"reason": "r", FIELD: token}
        ),
    }  # fmt: skip
    assert {name: r.status_code for name, r in cases.items()} == dict.fromkeys(cases, 400)
    lines = {name: error_line(r) for name, r in cases.items()}
    assert lines["blank reason"] == "a reason (it is recorded with the decision) is required"
    assert lines["reason too long"] == "the reason is 1001 characters; at most 1000 are recorded"
    assert "alias must be a non-empty name without '#'" in lines["alias with #"]
    assert lines["version not a number"].startswith("bad request: version: ")
    assert approval_of(ui) == before


def test_a_rollback_with_nothing_to_roll_back_to_is_a_400_naming_the_alias(ui: UiSession, client: TestClient) -> None:
    response = client.post(
        f"/models/{ui.model}/rollback", data={"alias": "nightly", "reason": "r", FIELD: signed_token(client)}
    )
    assert response.status_code == 400
    assert error_line(response) == f"alias 'nightly' of '{ui.model}' has no earlier version to roll back to"


def test_a_decision_the_registry_refuses_is_a_409_naming_why(
    ui: UiSession, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def already_decided(*args: object, **kwargs: object) -> None:
        raise RegistryConflictError(f"{ui.model} version 1 is already approved (by someone: ok)")

    monkeypatch.setattr(operator, "decide", already_decided)
    response = client.post(f"/models/{ui.model}/versions/1/reject", data={"reason": "r", FIELD: signed_token(client)})
    assert response.status_code == 409
    assert error_line(response) == f"refused: {ui.model} version 1 is already approved (by someone: ok)"


def test_the_runs_list_filters_by_model_status_and_trigger(ui: UiSession, client: TestClient) -> None:
    def listed(query: str) -> bool:
        page = client.get(f"/runs?{query}")
        assert page.status_code == 200, query
        return f'data-run="{ui.run_id}"' in page.text

    assert listed(f"model={ui.model}&status=SUCCEEDED&trigger=test")
    assert not listed("status=FAILED") and not listed("trigger=schedule") and not listed("model=other")


def test_bad_query_values_are_one_line_400_pages(client: TestClient) -> None:
    cases = {
        "/runs?status=DONE": "unknown status 'DONE'; a run's status is one of RUNNING, SUCCEEDED, FAILED",
        "/runs?pipeline=nightly": "unknown pipeline 'nightly'; the pipelines are training",
        "/runs?limit=0": "bad request: limit: ",
        "/runs/compare?ids=only-one": "compare needs two runs or more",
    }
    for path, expected in cases.items():
        response = client.get(path)
        assert response.status_code == 400, path
        assert error_line(response).startswith(expected), path


# -- unknown things ------------------------------------------------------------------------------------------------
def test_unknown_runs_models_versions_and_pages_are_one_line_404_pages(ui: UiSession, client: TestClient) -> None:
    cases = {
        "/runs/no-such-run": "no run 'no-such-run'",
        f"/runs/compare?ids={ui.run_id},no-such-run": "no run 'no-such-run'",
        "/models/no-such-model": "no such model 'no-such-model' (models: seattle-weather)",
        f"/models/{ui.model}/versions/99": f"model '{ui.model}' has no version 99 (versions: 1)",
        "/nowhere": "no such page",
    }
    for path, expected in cases.items():
        response = client.get(path)
        assert response.status_code == 404, path
        assert error_line(response).startswith(expected), path
    token = signed_token(client)
    response = client.post(f"/models/{ui.model}/versions/99/approve", data={"reason": "r", FIELD: token})
    assert response.status_code == 404 and "has no version 99" in error_line(response)


# -- nothing from the internet -------------------------------------------------------------------------------------
def test_every_script_and_stylesheet_a_page_names_is_served_by_the_app(ui: UiSession, client: TestClient) -> None:
    # Every page extends base.html; these add a chart (ui.js then loads Plotly) or a form
    pages = [f"/runs/{ui.run_id}", f"/models/{ui.model}/versions/1"]
    named: set[str] = set()
    for path in pages:
        page = client.get(path)
        assert page.status_code == 200, path
        named |= set(re.findall(r'<script[^>]*\ssrc="([^"]+)"', page.text))
        named |= set(re.findall(r'<link[^>]*\shref="([^"]+)"', page.text))
    script = client.get("/static/ui.js").text
    named |= set(re.findall(r'script\.src = "([^"]+)"', script))  # what ui.js loads on pages with a chart
    assert named >= {"/static/ui.js", "/static/ui.css", "/vendor/plotly.min.js"}
    for url in sorted(named):
        assert url.startswith("/") and not url.startswith("//"), url
        with client.stream("GET", url) as response:  # the status, not Plotly's 4.8 MB
            assert response.status_code == 200, url
