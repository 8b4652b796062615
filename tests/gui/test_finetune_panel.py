"""The fine-tune panel driven through its real buttons: the pair report gating the start,
a training run with progress, plots and crops, saving into the model list, pause/resume
and cancel (a checkpoint is kept)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt
from tiny_models import write_tiny_model

from deconv_gui.models import bundled, catalog
from deconv_gui.models.registry import ModelRegistry

torch.set_num_threads(1)


@pytest.fixture
def ft_registry(tmp_path: Path, registry: ModelRegistry) -> ModelRegistry:
    """The tiny GUI registry plus a tiny trainable denoiser (card + safetensors)."""
    card = write_tiny_model(tmp_path / "models", "denoise", "tiny-net")
    registry.register(bundled.spec_from_card(card))
    return registry


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    out = {k: tmp_path / k for k in ("before", "after", "noisy")}
    for d in out.values():
        d.mkdir()
    for i in range(3):
        small = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
        gt = np.asarray(Image.fromarray(small).resize((48, 40), Image.Resampling.BICUBIC))
        noisy = np.clip(gt + rng.normal(0, 20, gt.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(out["before"] / f"p{i}.png")
        Image.fromarray(gt).save(out["after"] / f"p{i}.png")
        Image.fromarray(noisy).save(out["noisy"] / f"p{i}.png")
    return out


@pytest.fixture
def panel(qtbot, ft_registry):
    from deconv_gui.gui.finetune_panel import FineTunePanel

    w = FineTunePanel(ft_registry, devices=["cpu"])
    w.job_options = {"batch": 2, "patch": 16, "val_every": 5}
    qtbot.addWidget(w)
    w.resize(1000, 640)
    w.show()
    yield w
    w.shutdown()


def test_only_trainable_models_are_offered(panel) -> None:
    ids = [panel.base_combo.itemData(i) for i in range(panel.base_combo.count())]
    assert ids == ["tiny-net"]
    panel.set_mode("noisy")
    assert "independent from pixel to pixel" in panel.mode_help.text()
    assert "JPEG" in panel.mode_help.text()
    assert not panel.crop_target.isVisible()


def test_bundled_models_are_offered_by_their_plain_names_denoisers_first(qtbot) -> None:
    from deconv_gui.gui.finetune_panel import FineTunePanel
    from deconv_gui.models.registry import plain_name

    registry = ModelRegistry(bundled.bundled_specs())  # cards only: no weights are loaded
    w = FineTunePanel(registry, devices=["cpu"])
    qtbot.addWidget(w)
    labels = [w.base_combo.itemText(i) for i in range(w.base_combo.count())]
    ids = [w.base_combo.itemData(i) for i in range(w.base_combo.count())]
    assert labels == [plain_name(registry.get(i)) for i in ids]
    assert registry.get(ids[0]).task == "denoise"  # the model picker's order
    assert "redunet-denoise" not in ids  # retired
    w.shutdown()


def test_pairs_report_train_and_save(qtbot, panel, folders) -> None:
    panel.set_mode("pairs")
    Image.new("RGB", (30, 30)).save(folders["before"] / "extra.png")  # no 'after' photo
    panel.before_field.set_path(folders["before"])
    panel.after_field.set_path(folders["after"])
    assert "extra.png" in panel.pair_report_label.text()
    assert not panel.start_button.isEnabled()  # nothing starts until resolved or skipped
    assert panel.skip_check.isVisibleTo(panel)
    panel.skip_check.setChecked(True)
    assert panel.start_button.isEnabled()
    panel.steps_spin.setValue(10)

    seen = []
    panel.runner.progressed.connect(seen.append)
    with qtbot.waitSignal(panel.runner.result_ready, timeout=180000):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        assert panel.cancel_button.isEnabled() and not panel.start_button.isEnabled()
    assert panel.progress.value() == 10 and panel.progress.maximum() == 10
    assert [p.step for p in seen if getattr(p, "phase", "") == "training"] == list(range(1, 11))
    assert panel.loss_plot.series and len(panel.loss_plot.series[0][2]) == 10
    assert [x for x, _ in panel.val_plot.series[0][2]] == [0, 5, 10]
    assert panel.val_plot.reference is not None
    assert not panel.crop_output.image.pixmap().isNull()
    assert not panel.crop_target.image.pixmap().isNull()
    assert "base model" in panel.metrics_label.text() and "dB" in panel.metrics_label.text()
    assert "Done" in panel.status_label.text()

    panel.name_edit.setText("My pairs")
    assert panel.save_button.isEnabled()
    with qtbot.waitSignal(panel.model_saved, timeout=5000) as blocker:
        qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    new_id = blocker.args[0]
    assert new_id == "my-pairs" and new_id in catalog.default_registry()
    assert panel.registry.get(new_id).kind == "finetuned"
    assert panel.base_combo.findData(new_id) >= 0  # can be fine-tuned again
    assert not panel.save_button.isEnabled()


def test_pause_resume_and_cancel(qtbot, panel, folders) -> None:
    from deconv_gui.gui.finetune_panel import _PAUSED

    panel.set_mode("noisy")
    panel.noisy_field.set_path(folders["noisy"])
    panel.steps_spin.setValue(5000)
    seen = []
    panel.runner.progressed.connect(seen.append)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.progress.value() >= 2, timeout=30000)

    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    assert panel.is_paused and panel.pause_button.text() == "Resume"
    qtbot.waitUntil(lambda: sum(p is _PAUSED for p in seen) >= 2, timeout=5000)
    k = len(seen)
    qtbot.waitUntil(lambda: sum(p is _PAUSED for p in seen[k:]) >= 2, timeout=5000)
    assert all(p is _PAUSED for p in seen[k:])  # no training step while paused
    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    assert not panel.is_paused
    step = panel.progress.value()
    qtbot.waitUntil(lambda: panel.progress.value() > step, timeout=30000)

    with qtbot.waitSignal(panel.runner.cancelled, timeout=30000):
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert "Cancelled" in panel.status_label.text()
    assert panel.start_button.isEnabled() and not panel.save_button.isEnabled()
    assert (panel._checkpoint_dir / "finetune.pt").is_file()  # a restart resumes


def test_errors_are_shown_in_the_panel(qtbot, panel, tmp_path) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    Image.new("RGB", (40, 40)).save(lonely / "a.png")
    panel.set_mode("noisy")
    panel.noisy_field.set_path(lonely)
    with qtbot.waitSignal(panel.runner.failed, timeout=10000):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert "too little data" in panel.status_label.text()
    panel.set_mode("clean")
    panel.degrade_combo.setEditText("noise=abc")
    assert "bad degradation" in panel.degrade_hint.text()
    panel.clean_field.set_path(lonely)
    assert not panel.start_button.isEnabled()


def test_photos_left_out_are_named_with_the_result(qtbot, panel, folders) -> None:
    """A damaged photo among the noisy ones is left out, and the panel's closing line says
    which (the progress line saying so is gone by then)."""
    (folders["noisy"] / "p9.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    panel.set_mode("noisy")
    panel.noisy_field.set_path(folders["noisy"])
    panel.steps_spin.setValue(2)
    with qtbot.waitSignal(panel.runner.result_ready, timeout=180000):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    text = panel.status_label.text()
    assert text.startswith("Done") and "Left out 1 photo(s) that could not be used: p9.png." in text


def test_noisy_raw_files_learn_the_camera(qtbot, panel, tmp_path) -> None:
    """ "Noisy RAW files": the RAW denoiser is chosen, a tiny run measures the camera's
    noise (plotted), the name is the camera's; a run made to fail is refused in words."""
    from deconv_gui.training.synthetic_camera import SyntheticCamera, write_shots

    card = write_tiny_model(tmp_path / "rawmodels", "raw-denoise", "tiny-raw")
    panel.registry.register(bundled.spec_from_card(card))
    panel.set_registry(panel.registry)
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        Image.fromarray(small).resize((64, 64), Image.Resampling.BICUBIC).save(photos / f"{i}.png")
    write_shots(SyntheticCamera(), sorted(photos.glob("*.png")), [1600], tmp_path / "cam")
    panel.set_mode("noisy_raw")
    assert panel.base_spec().input == "bayer" and "RAW" in panel.mode_help.text()
    assert not panel.crop_target.isVisible() and not panel.start_button.isEnabled()
    panel.raw_field.set_path(tmp_path / "cam" / "noisy")
    panel.steps_spin.setValue(10)
    assert panel.start_button.isEnabled()
    assert panel.frames_field.isVisible()  # optional: the start button does not need it
    assert panel.make_data().folders == (str(tmp_path / "cam" / "noisy"),)
    panel.frames_field.set_path(tmp_path / "frames")
    assert panel.make_data().folders[1] == str(tmp_path / "frames")
    panel.frames_field.set_path("")

    panel.job_options = {"batch": 2, "patch": 16, "val_every": 5, "lr": 1e-7}
    with qtbot.waitSignal(panel.runner.result_ready, timeout=180000):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert [n for n, _, _ in panel.noise_plot.lines] == ["ISO 1600"]
    assert list(panel.noise_plot.banding) == ["ISO 1600"]  # (too small a file to measure it)
    assert panel.name_edit.text() == "Deconv Synthetic APS-C, ISO 1600"
    assert panel.save_button.isEnabled(), panel.status_label.text()

    panel.job_options = {"batch": 2, "patch": 16, "val_every": 5, "lr": 1.0}
    with qtbot.waitSignal(panel.runner.result_ready, timeout=180000):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert "Not saved" in panel.status_label.text() and "worse" in panel.status_label.text()
    assert not panel.save_button.isEnabled()


def test_noisy_photos_with_camera_like_noise_are_refused_in_words(qtbot, panel, tmp_path):
    """Noise spread over neighbouring pixels (as in camera JPEGs) cannot be learnt from
    noisy photos alone: the panel says so and offers no saving."""
    import cv2

    rng = np.random.default_rng(2)
    folder = tmp_path / "jpeg-like"
    folder.mkdir()
    for i in range(3):
        small = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
        gt = np.asarray(Image.fromarray(small).resize((48, 40), Image.Resampling.BICUBIC))
        noise = cv2.GaussianBlur(rng.normal(0, 40, gt.shape), (0, 0), 1.2)  # correlated
        Image.fromarray(np.clip(gt + noise, 0, 255).astype(np.uint8)).save(folder / f"{i}.png")
    # a real denoiser: what it removes shows how the noise is spread
    spec = bundled.spec_from_card(bundled.models_dir() / "redunet-denoise-fast.json")
    panel.registry.register(spec)
    panel.set_registry(panel.registry)
    panel.base_combo.setCurrentIndex(panel.base_combo.findData(spec.id))
    panel.set_mode("noisy")
    panel.noisy_field.set_path(folder)
    panel.steps_spin.setValue(10)
    with qtbot.waitSignal(panel.runner.result_ready, timeout=180000):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    text = panel.status_label.text()
    assert "Not saved" in text and "correlated between neighbouring pixels" in text
    panel.name_edit.setText("Mine")
    assert not panel.save_button.isEnabled()
