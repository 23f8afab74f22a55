"""Loading the Swagger slices: missing files fail under CI and skip elsewhere, with the path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance import specs


def test_loading_skips_with_the_path_when_the_slices_are_missing_outside_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(specs, "SPEC_DIR", tmp_path / "nowhere")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="nowhere"):
        specs.load_raw_specs()


def test_loading_fails_with_the_path_when_the_slices_are_missing_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(specs, "SPEC_DIR", tmp_path / "nowhere")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="nowhere"):
        specs.load_raw_specs()


def test_slices_are_read_from_beside_the_clone_when_loaded() -> None:
    beside_the_clone = Path(__file__).resolve().parents[3] / "shared" / "zuora-openapi"
    assert beside_the_clone == specs.SPEC_DIR


def test_response_codes_are_strings_when_loaded(raw_specs: specs.Specs) -> None:
    # The OAuth slice writes `200:` (an int in YAML), the workflows slice `'200':`.
    assert set(raw_specs.responses("POST", specs.TOKEN_PATH)) == {"200", "429"}
    assert set(raw_specs.responses("GET", specs.EXPORT_PATH)) == {"200", "400", "404"}
