"""Shared test set-up: an isolated user folder for every test, and the shared data path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings
from rawfiles import RawFiles

SHARED_DATA = Path(
    os.environ.get("DECONV_GUI_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


@pytest.fixture(autouse=True)
def _isolated_user_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    home = tmp_path_factory.mktemp("deconv-home")
    monkeypatch.setenv("DECONV_GUI_HOME", str(home))
    # float32 on every CPU unless a test asks for bfloat16: results must not depend on
    # whether the test machine has native bf16 (tests that need it set "1")
    monkeypatch.setenv("DECONV_GUI_CPU_BF16", "0")
    return home


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set DECONV_GUI_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def raw_files(tmp_path_factory: pytest.TempPathFactory) -> RawFiles:
    """The real camera RAW files of ../shared/data/raw, each opened and rendered once."""
    folder = SHARED_DATA / "raw"
    if not folder.is_dir():
        pytest.skip(f"RAW test files not found at {folder} (set DECONV_GUI_DATA)")
    return RawFiles(folder, tmp_path_factory.mktemp("raw-out"))


# Property tests draw the same examples on every run (CI must not be flaky); set
# HYPOTHESIS_PROFILE=explore locally to search with fresh random examples.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
