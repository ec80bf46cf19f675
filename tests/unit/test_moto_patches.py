"""The local cloud changes moto through one door: each declared patch still fits the installed moto."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from mlops.local import moto_patches
from mlops.local.moto_patches import PATCHES, MotoPatchError, Patch

LOCAL = Path(moto_patches.__file__).parent


@pytest.mark.parametrize("name", sorted(PATCHES))
def test_each_declared_patch_fits_the_installed_moto(name: str) -> None:
    # Given a declaration, when checked against the installed moto, then its member is there with the parameters
    # the replacement was written for (or, for an addition, still absent from moto)
    assert PATCHES[name].problem() is None


def test_a_renamed_member_is_named_not_hidden() -> None:
    # Given declarations whose target moved or changed
    gone = Patch("moto.events.models:Rule", "send_to_all_targets", "renamed in a new moto")
    reshaped = Patch("moto.events.models:Rule", "send_to_targets", "new parameters", ("self", "event"))
    added = Patch("moto.events.models:Rule", "send_to_targets", "moto now has it", adds=True)
    # Then each says what is wrong, in one line
    assert gone.problem() == "moto.events.models.Rule.send_to_all_targets is gone (renamed or removed)"
    assert "takes ('self', 'original_event', 'transform_input')" in str(reshaped.problem())
    assert added.problem() == "moto.events.models.Rule.send_to_targets now exists in moto: drop the local addition"


def test_an_undeclared_patch_is_refused() -> None:
    refusal = pytest.raises(MotoPatchError, match=r"undeclared moto patch\(es\) \['lambda.anything'\]")
    with refusal, moto_patches.patched({"lambda.anything": lambda: None}):
        pass


def test_an_untested_moto_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a moto release the patches were not tested with
    monkeypatch.setattr(moto_patches, "version", lambda _name: "9.0.0")
    # Then starting a cloud is refused, naming both versions and the fix
    with pytest.raises(MotoPatchError) as refused:
        moto_patches.check_moto()
    assert str(refused.value) == (
        "moto 9.0.0 is installed; the local cloud is tested with moto 5.2.5 (pip install -r requirements.txt)"
    )


def test_the_installed_moto_is_a_tested_one() -> None:
    moto_patches.check_moto()


def test_no_emulation_module_patches_moto_on_its_own() -> None:
    # Every change to moto goes through moto_patches.patched: no other module of the local cloud calls mock.patch
    offenders = [
        path.name
        for path in sorted(LOCAL.glob("*.py"))
        if path.name != "moto_patches.py" and re.search(r"\bmock\.patch\b", path.read_text())
    ]
    assert offenders == []


def test_every_declared_patch_is_installed_by_some_emulation_module() -> None:
    sources = "".join(path.read_text() for path in LOCAL.glob("*.py") if path.name != "moto_patches.py")
    unused = [name for name in PATCHES if f'"{name}"' not in sources]
    assert unused == []


def test_moto_lines_that_are_not_failures_here_are_dropped_and_others_kept(caplog: pytest.LogCaptureFixture) -> None:
    preprocessor = logging.getLogger("moto.stepfunctions.parser.asl.parse.preprocessor")
    component = logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component")
    with caplog.at_level(logging.WARNING), moto_patches.quiet_moto_logs():
        preprocessor.warning(
            "ToleratedFailurePercentage declarations currently have no effect on the program evaluation."
        )
        component.error("Exception=NoSuchJsonPathError, Details=None-Available at '$.options.x'")
        component.error("Exception=FailureEventException, Error=StorageError at 'Register'")
    assert [r.getMessage() for r in caplog.records] == [
        "Exception=FailureEventException, Error=StorageError at 'Register'"
    ]
    # And outside a running cloud nothing is filtered
    with caplog.at_level(logging.WARNING):
        preprocessor.warning(
            "ToleratedFailurePercentage declarations currently have no effect on the program evaluation."
        )
    assert len(caplog.records) == 2
