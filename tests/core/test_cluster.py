"""Batches on Ray workers (`--cluster`): same results, one manifest, a dead worker's file redone.

A local Ray cluster is started here (2 CPUs); the module is skipped when the ``cluster``
extra (Ray) is not installed.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip(
    "ray", reason="Ray is not installed: pip install 'deconv-gui[cluster]' to run these"
)

from deconv_gui.cli import main  # noqa: E402
from deconv_gui.cluster import RayExecutor  # noqa: E402
from deconv_gui.core.batch import JobInfo, plan_batch, run_batch  # noqa: E402
from deconv_gui.core.io import load_image  # noqa: E402
from deconv_gui.core.manifest import Manifest  # noqa: E402
from deconv_gui.core.naming import plan_outputs  # noqa: E402
from deconv_gui.core.recipe import Recipe  # noqa: E402
from deconv_gui.core.spec import LoadOptions  # noqa: E402
from deconv_gui.core.tiling import run_to_end  # noqa: E402
from deconv_gui.models.catalog import default_registry  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("ray-home")  # the workers' user folder
    env = {"DECONV_GUI_HOME": str(home), "DECONV_GUI_CPU_BF16": "0"}
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level="ERROR",
        log_to_driver=False,
        runtime_env={"env_vars": env},
    )
    yield ray
    ray.shutdown()


def _photos(folder: Path, n: int, size: tuple[int, int]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        rng = np.random.default_rng(i)
        arr = np.clip(rng.normal(120, 30, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"p{i}.png")
        out.append(folder / f"p{i}.png")
    return out


def _events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_cluster_run_writes_what_a_local_run_writes_and_resumes(
    local_ray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _photos(tmp_path / "in" / "sub", 5, (48, 40))
    args = ["restore", str(tmp_path / "in"), "-r", "--model", "lanczos-x2", "--json"]
    assert main([*args, "-o", str(tmp_path / "local")]) == 0
    capsys.readouterr()
    cluster = [*args, "-o", str(tmp_path / "ray"), "--cluster", "local", "--workers", "2"]
    assert main(cluster) == 0
    events = _events(capsys.readouterr().out)
    assert [e["event"] for e in events][:2] == ["plan", "cluster"]
    assert events[1]["workers"] == 2 and events[-1]["done"] == 5
    for i in range(5):
        name = f"sub/p{i}_x2.png"
        ours, theirs = load_image(tmp_path / "local" / name), load_image(tmp_path / "ray" / name)
        np.testing.assert_array_equal(ours.rgb, theirs.rgb)
    lines = (tmp_path / "ray" / ".deconv-gui" / "manifest.jsonl").read_text().splitlines()
    files = [json.loads(x) for x in lines if '"kind":"file"' in x]
    assert sorted(f["status"] for f in files) == ["done"] * 5 + ["started"] * 5
    # resumed: nothing to do, so no worker is even started
    assert main(cluster) == 0
    again = _events(capsys.readouterr().out)
    assert [e["event"] for e in again] == ["plan", "summary"] and again[0]["done_before"] == 5


def test_a_workers_warnings_come_back_to_the_command(
    local_ray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A worker's log stays on its machine: the warnings of a photo (transparency a JPEG
    cannot hold) come back with its result, on stderr and in its JSON event, and so does
    what Auto chose."""
    rgba = np.zeros((32, 40, 4), np.uint8)
    rgba[..., 0], rgba[4:, :, 3] = 180, 255
    (tmp_path / "in").mkdir()
    Image.fromarray(rgba).save(tmp_path / "in" / "logo.png")
    args = ["restore", str(tmp_path / "in"), "--model", "nlm-denoise,lanczos-x2", "--format",
            "jpg", "-o", str(tmp_path / "out"), "--json", "--cluster", "local", "--workers", "1"]  # fmt: skip
    assert main(args) == 0
    out, err = capsys.readouterr()
    (done,) = [e for e in _events(out) if e["event"] == "done"]
    (said,) = done["warnings"]
    assert "logo_restored_x2.jpg" in said and "holds no transparency" in said
    assert err.count(said) == 1
    assert done["auto"] == ["noise level 0"]  # one flat colour: no noise


def test_a_killed_worker_has_its_file_redone_and_every_input_one_output(
    local_ray, tmp_path: Path
) -> None:
    photos = _photos(tmp_path / "in", 8, (320, 240))
    out = tmp_path / "out"
    registry = default_registry()
    job = JobInfo.of(Recipe.single("nlm-denoise", strength=20), registry.get)
    tasks = plan_outputs(photos, suffix="_dn", out_dir=out)
    killed: list[int] = []
    with RayExecutor("local", job, LoadOptions(device="cpu"), workers=2) as ex:
        before = ex.pids()

        def on_event(ev) -> None:
            if ev.finished and not killed:  # the worker is busy with its next file now
                killed.append(before[0])
                os.kill(before[0], signal.SIGKILL)

        with Manifest.open(out) as manifest:
            plan = plan_batch(tasks, manifest, job)
            summary = run_to_end(run_batch(plan, ex, manifest=manifest, job=job), on_event)
        after = ex.pids()
    assert killed and after[0] != before[0] and after[1] == before[1]  # restarted by Ray
    assert not summary.failed and len(summary.done) == 8
    results = sorted(p.name for p in out.iterdir() if p.suffix == ".png")
    assert results == sorted(f"p{i}_dn.png" for i in range(8))  # exactly one each
    assert all(load_image(out / name).width == 320 for name in results)
