"""What `mlops demo` prints is its story: lines broken between words at the terminal's width (never inside a URI),
and the functions' and libraries' logs in a file, with the moto lines that are not failures saying why."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import pytest
from rich.console import Console

from mlops.demo import Story
from mlops.local import moto_patches
from mlops.local.logs import LogFile, log_to_file

URI = "s3://mlops-dev-storageartifacts08431d1f-c09cdf8c/monitoring/model=m/runs/20261201T164831Z-3afd7430/report.html"


def _story(width: int) -> tuple[Story, io.StringIO]:
    out = io.StringIO()
    return Story(Console(file=out, width=width, highlight=False)), out


def test_story_breaks_long_lines_between_words_and_keeps_a_uri_whole() -> None:
    # Given a console 60 columns wide
    story, out = _story(60)
    # When a step's line is longer than that and holds a URI longer than a line
    story.say(f"   [bold]8. monitor[/]: the drift report of this run is {URI} (open it in a browser)")
    lines = out.getvalue().splitlines()
    # Then every line but the URI's fits, and the URI is one line
    assert [line for line in lines if len(line) > 60] == [URI]
    assert lines == ["   8. monitor: the drift report of this run is", URI, "(open it in a browser)"]
    # And a wider terminal gets longer lines
    wide, wide_out = _story(200)
    wide.say(f"   8. monitor: the drift report of this run is {URI} (open it in a browser)")
    assert len(wide_out.getvalue().splitlines()) == 1


def test_long_steps_print_their_elapsed_time_and_no_spinner_off_a_terminal() -> None:
    story, out = _story(80)
    with story.working("running the training pipeline") as took:
        pass
    assert out.getvalue() == "" and str(took).endswith(" s") and took.seconds >= 0


def test_library_records_warnings_and_function_lines_go_to_the_log_file(tmp_path: Path) -> None:
    # Given the demo's log file, and an echo standing for --verbose
    echoed: list[str] = []
    path = tmp_path / ".mlops" / "demo.log"
    with log_to_file(path, echo=echoed.append) as log:
        # When a library logs, a warning is raised and a function's invocation ends with its output
        logging.getLogger("botocore.credentials").info("Found credentials in environment variables.")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("a deprecated call", DeprecationWarning, stacklevel=1)
        log.function_output("/aws/lambda/Mlops-dev-Monitor", "local/1", '{"level":"INFO","message":"monitor run"}\n')
    text = path.read_text()
    # Then each is one stamped line in the file, and the echo saw the same lines
    assert "INFO botocore.credentials: Found credentials in environment variables." in text
    assert "WARNING py.warnings:" in text and "a deprecated call" in text
    assert ' /aws/lambda/Mlops-dev-Monitor {"level":"INFO","message":"monitor run"}' in text
    assert "".join(f"{entry}\n" for entry in echoed) == text and log.lines == len(echoed) == 3
    # And once the block ends, nothing more is written there
    logging.getLogger("botocore.credentials").warning("later")
    assert "later" not in path.read_text()


def test_moto_lines_that_are_not_failures_stay_in_the_log_with_why(tmp_path: Path) -> None:
    path = tmp_path / "demo.log"
    component = logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component")
    with log_to_file(path), moto_patches.quiet_moto_logs():
        component.error("Exception=NoSuchJsonPathError, Details=None-Available at '$.options.x'")
        component.error("Exception=FailureEventException, Error=StorageError at 'Register'")
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert " DEBUG " in lines[0] and "[not a failure locally: logged for every path a Choice tests" in lines[0]
    assert " ERROR " in lines[1] and "not a failure" not in lines[1]


def test_a_log_file_is_written_whole_lines_at_a_time() -> None:
    out = io.StringIO()
    log = LogFile(out)
    log.function_output("/aws/lambda/f", "s", "first\n\n  \nsecond\n")
    assert [line.split(" ", 1)[1] for line in out.getvalue().splitlines()] == [
        "/aws/lambda/f first",
        "/aws/lambda/f second",
    ]


@pytest.fixture(autouse=True)
def _no_leftover_handlers() -> None:
    before = list(logging.getLogger().handlers)
    yield
    assert logging.getLogger().handlers == before
