"""`FineTunePanel`: train a model further on the user's own photos.

The panel collects the settings (base model, mode with its explanation, folders, degradation,
steps, device, held-out share), runs `deconv_gui.training.finetune.finetune_job` on a
`JobRunner` worker thread and shows what happens: progress with the time left, a live loss
curve and held-out PSNR/SSIM plot (`CurvePlot`, drawn with QPainter), and a held-out crop
before/after as it improves. Pause stops pulling the job (the worker waits, nothing is
lost); Cancel closes it (a checkpoint is kept, so starting the same job again resumes it).
When training is done, "Save as new model" writes it into the user library and emits
``model_saved(id)`` so the main window can refresh its model list. The plots and crops are
in `finetune_chart`, the training-data pages in `finetune_data`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from deconv_gui.gui.finetune_chart import CropView, CurvePlot
from deconv_gui.gui.finetune_data import DataPages
from deconv_gui.gui.restore_panel import format_duration
from deconv_gui.gui.runner import JobRunner
from deconv_gui.gui.theme import make_accent_button
from deconv_gui.models.registry import (
    ModelRegistry,
    ModelSpec,
    picker_order,
    plain_name,
    retired_reason,
)

DEGRADE_PRESETS = (
    ("noise=10-30", "Noise, sigma 10-30"),
    ("pgnoise=0.002-0.01:0.0001", "Sensor (Poisson-Gaussian) noise"),
    ("noise=5-15,jpeg=40-80", "Noise then JPEG 40-80"),
    ("jpeg=20-60", "JPEG artefacts, quality 20-60"),
    ("blur=gaussian:0.5-2|disk:1-3", "Soft focus (Gaussian or defocus blur)"),
    ("blur=motion:5-11:0-180,noise=2", "Camera shake (motion blur)"),
    ("blur=gaussian:0.5-1.5,downscale=2", "Blur then downscale x2 (upscalers)"),
)
_PAUSED = object()  # yielded by the pausable wrapper while paused (ignored by the panel)


def _pausable(job: Callable[[], Generator[Any, None, Any]], running: threading.Event
              ) -> Generator[Any, None, Any]:  # fmt: skip
    """Drive ``job()`` only while ``running`` is set. While paused it yields `_PAUSED` a few
    times a second so the runner can still see a cancel; the inner job is not pulled."""
    gen = job()
    try:
        while True:
            while not running.wait(0.2):
                yield _PAUSED
            try:
                item = next(gen)
            except StopIteration as stop:
                return stop.value
            yield item
    finally:
        gen.close()


def trainable_specs(registry: ModelRegistry) -> list[ModelSpec]:
    """Models the panel can fine-tune: the app's own networks (bundled or fine-tuned), not
    the retired ones (`retired_reason`; the CLI's ``finetune --base`` still takes them)."""
    from deconv_gui.models.networks import ARCHITECTURES

    out = []
    for s in registry:
        arch = s.card.get("architecture") if isinstance(s.card, dict) else None
        if (
            s.trainable
            and s.kind in ("bundled", "finetuned")
            and retired_reason(s) is None
            and isinstance(arch, dict)
            and arch.get("name") in ARCHITECTURES
        ):
            out.append(s)
    return sorted(out, key=picker_order)  # as the model picker lists them


def default_degradation(spec: ModelSpec) -> str:
    """A sensible first degradation for the clean-photos mode, by the model's task."""
    if spec.task == "upscale" or spec.scale > 1:
        return f"blur=gaussian:0.5-1.5,downscale={spec.scale}"
    if spec.task == "deblur":
        return "blur=gaussian:0.5-2|disk:1-3"
    return "noise=10-30"


def _fmt_time(seconds: float | None) -> str:
    """`format_duration`, or a dash while unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    return format_duration(seconds)


# ----------------------------------------------------------------------------- panel
class FineTunePanel(QWidget):
    """Fine-tune a network on your photos (see the module docstring).

    ``registry``: the app's models (trainable ones are offered; a saved model is registered
    in it). ``runner``: a `JobRunner` (or a callable making one); by default the panel owns
    one. Signals: ``model_saved(id)``, ``busy_changed(bool)``.
    """

    model_saved = Signal(str)
    busy_changed = Signal(bool)

    LOSS_COLOR = QColor(56, 132, 224)
    PSNR_COLOR = QColor(224, 120, 40)

    def __init__(
        self,
        registry: ModelRegistry,
        runner: JobRunner | Callable[[], JobRunner] | None = None,
        parent: QWidget | None = None,
        *,
        devices: list[str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.registry = registry
        if runner is None:
            self.runner = JobRunner(self)
        elif isinstance(runner, JobRunner):
            self.runner = runner
        else:
            self.runner = runner()
        self.runner.progressed.connect(self._on_progressed)
        self.runner.result_ready.connect(self._on_result_ready)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.busy_changed.connect(self._on_busy_changed)
        self._running = threading.Event()
        self._result: Any = None
        self._pair_report: Any = None
        self._loss: list[tuple[float, float]] = []
        self._psnr: list[tuple[float, float]] = []
        self._checkpoint_dir: Path | None = None
        self._before: dict[str, Any] | None = None
        self._degrade_ok = False
        #: extra `finetune_job` keyword arguments (batch, patch, lr, val_every...)
        self.job_options: dict[str, Any] = {}
        self.setWindowTitle("Fine-tune a model on your photos")
        if devices is None:
            from deconv_gui.core.devices import available_devices

            devices = available_devices()
        self._build(devices)
        self.set_registry(registry)
        self._on_mode_changed()
        self._update_buttons()

    # ------------------------------------------------------------------ layout
    def _build(self, devices: list[str]) -> None:
        root = QHBoxLayout(self)
        root.setContentsMargins(12, 12, 12, 12)
        root.setSpacing(14)

        # settings -------------------------------------------------------------
        settings = QVBoxLayout()
        settings.setSpacing(10)
        what = QGroupBox("What to train")
        form = QFormLayout(what)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.base_combo = QComboBox()
        self.base_combo.setAccessibleName("Base model")
        self.base_combo.currentIndexChanged.connect(self._on_base_changed)
        form.addRow("Base model:", self.base_combo)
        self.mode_combo = QComboBox()
        self.mode_combo.setAccessibleName("Training data")
        from deconv_gui.training.finetune import MODE_HELP, MODE_LABELS, MODES

        for m in MODES:
            self.mode_combo.addItem(MODE_LABELS[m], m)
        self.mode_combo.currentIndexChanged.connect(self._on_mode_changed)
        form.addRow("Training data:", self.mode_combo)
        self.mode_help = QLabel()
        self.mode_help.setWordWrap(True)
        self.mode_help.setTextFormat(Qt.TextFormat.PlainText)
        self._mode_help_texts = MODE_HELP
        muted = self.palette().color(QPalette.ColorRole.WindowText)
        self.mode_help.setStyleSheet(
            f"color: rgba({muted.red()},{muted.green()},{muted.blue()},170)"
        )
        form.addRow(self.mode_help)
        settings.addWidget(what)

        photos = QGroupBox("Photos")
        pl = QVBoxLayout(photos)
        pages = self.data_stack = DataPages(DEGRADE_PRESETS)
        self.before_field, self.after_field = pages.before_field, pages.after_field
        self.pair_report_label, self.skip_check = pages.pair_report_label, pages.skip_check
        self.clean_field, self.noisy_field = pages.clean_field, pages.noisy_field
        self.raw_field, self.noise_plot = pages.raw_field, pages.noise_plot
        self.frames_field = pages.frames_field
        self.degrade_combo, self.degrade_hint = pages.degrade_combo, pages.degrade_hint
        self.skip_check.toggled.connect(self._update_buttons)
        self.before_field.changed.connect(self._check_pairs)
        self.after_field.changed.connect(self._check_pairs)
        self.degrade_combo.currentTextChanged.connect(self._check_degradation)
        for field_ in (self.clean_field, self.noisy_field, self.raw_field):
            field_.changed.connect(self._update_buttons)
        pl.addWidget(self.data_stack)
        settings.addWidget(photos)

        how = QGroupBox("Training")
        fh = QFormLayout(how)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(10, 200_000)
        self.steps_spin.setSingleStep(100)
        self.steps_spin.setValue(500)
        self.steps_spin.setAccessibleName("Steps")
        self.steps_spin.setToolTip("Training steps. About 500 is a good start on a CPU "
                                   "(a few minutes); thousands on a GPU.")  # fmt: skip
        fh.addRow("Steps:", self.steps_spin)
        self.device_combo = QComboBox()
        self.device_combo.addItem("Automatic", "auto")
        names = {"cpu": "CPU", "cuda": "NVIDIA GPU (CUDA)", "mps": "Apple GPU (Metal)"}
        for d in devices:
            self.device_combo.addItem(names.get(d, d), d)
        fh.addRow("Device:", self.device_combo)
        self.val_spin = QSpinBox()
        self.val_spin.setRange(5, 50)
        self.val_spin.setValue(15)
        self.val_spin.setSuffix(" %")
        self.val_spin.setToolTip("Share of the photos set aside (never trained on) to "
                                 "measure the result before and after.")  # fmt: skip
        fh.addRow("Set aside to measure:", self.val_spin)
        settings.addWidget(how)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start training")
        self.start_button.setDefault(True)
        make_accent_button(self.start_button)  # the look of the main window's Run button
        self.start_button.clicked.connect(lambda: self.start())
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        for b in (self.start_button, self.pause_button, self.cancel_button):
            b.setMinimumHeight(32)
        buttons.addWidget(self.start_button, 2)
        buttons.addWidget(self.pause_button, 1)
        buttons.addWidget(self.cancel_button, 1)
        settings.addLayout(buttons)
        settings.addStretch(1)
        left = QWidget()
        left.setLayout(settings)
        left.setMaximumWidth(430)
        left.setMinimumWidth(360)
        root.addWidget(left)

        # monitor --------------------------------------------------------------
        mon = QVBoxLayout()
        mon.setSpacing(8)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.progress.setTextVisible(True)
        mon.addWidget(self.progress)
        self.status_label = QLabel("Choose a base model and your photos, then start.")
        self.status_label.setWordWrap(True)
        # never squeezed below its wrapped text (a refusal says why in several lines)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        mon.addWidget(self.status_label)
        plots = QHBoxLayout()
        self.loss_plot = CurvePlot("Training error (lower is better)", log_y=True)
        self.val_plot = CurvePlot("Quality on photos set aside (dB)")
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.val_plot)
        mon.addLayout(plots, 1)
        crops = QGridLayout()
        self.crop_input = CropView("Input")
        self.crop_output = CropView("Fine-tuned, now")
        self.crop_target = CropView("Target")
        crops.addWidget(self.crop_input, 0, 0)
        crops.addWidget(self.crop_output, 0, 1)
        crops.addWidget(self.crop_target, 0, 2)
        mon.addLayout(crops)
        self.metrics_label = QLabel()
        self.metrics_label.setWordWrap(True)
        mon.addWidget(self.metrics_label)
        save = QHBoxLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Name of the new model")
        self.name_edit.setAccessibleName("New model name")
        self.name_edit.textChanged.connect(self._update_buttons)
        self.save_button = QPushButton("Save as new model")
        self.save_button.clicked.connect(self.save)
        save.addWidget(self.name_edit, 1)
        save.addWidget(self.save_button)
        mon.addLayout(save)
        right = QWidget()
        right.setLayout(mon)
        root.addWidget(right, 1)

    # ------------------------------------------------------------------ state
    def set_registry(self, registry: ModelRegistry) -> None:
        self.registry = registry
        current = self.base_combo.currentData()
        self.base_combo.blockSignals(True)
        self.base_combo.clear()
        for s in trainable_specs(registry):
            label = plain_name(s) + ("  (fine-tuned)" if s.kind == "finetuned" else "")
            self.base_combo.addItem(label, s.id)
            self.base_combo.setItemData(self.base_combo.count() - 1, s.description,
                                        Qt.ItemDataRole.ToolTipRole)  # fmt: skip
        idx = self.base_combo.findData(current)
        self.base_combo.setCurrentIndex(max(idx, 0))
        self.base_combo.blockSignals(False)
        self._on_base_changed()

    def base_spec(self) -> ModelSpec | None:
        mid = self.base_combo.currentData()
        return self.registry.get(mid) if mid and mid in self.registry else None

    @property
    def mode(self) -> str:
        return str(self.mode_combo.currentData())

    def set_mode(self, mode: str) -> None:
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode))

    @property
    def is_busy(self) -> bool:
        return self.runner.is_busy

    @property
    def is_paused(self) -> bool:
        return self.runner.is_busy and not self._running.is_set()

    def _on_base_changed(self, *_: Any) -> None:
        spec = self.base_spec()
        current = self.degrade_combo.currentText().strip()
        presets = {p for p, _ in DEGRADE_PRESETS}
        if spec is not None and (not current or current in presets or not self._degrade_ok):
            self.degrade_combo.setEditText(default_degradation(spec))  # not the user's own text
        self._check_pairs()
        self._check_degradation()
        self._update_buttons()

    def _on_mode_changed(self, *_: Any) -> None:
        self.data_stack.setCurrentIndex(max(0, self.mode_combo.currentIndex()))
        self.mode_help.setText(self._mode_help_texts.get(self.mode, ""))
        # a group box does not pass height-for-width on: reserve the wrapped text's height at
        # the narrowest the settings column gets
        self.mode_help.setMinimumHeight(self.mode_help.heightForWidth(320))
        self_supervised = self.mode in ("noisy", "noisy_raw")
        self.crop_target.setVisible(not self_supervised)
        self.val_plot.title = (
            "Photos set aside, against their noise (dB)"
            if self_supervised
            else "Quality on photos set aside (dB)"
        )
        spec = self.base_spec()
        if self.mode == "noisy_raw" and (spec is None or spec.input != "bayer"):
            raw = [i for i in range(self.base_combo.count())
                   if self.registry.get(self.base_combo.itemData(i)).input == "bayer"]  # fmt: skip
            if raw:
                self.base_combo.setCurrentIndex(raw[0])  # the RAW denoiser
        self.val_plot.update()
        self._update_buttons()

    def _check_pairs(self, *_: Any) -> None:
        from deconv_gui.errors import DeconvError
        from deconv_gui.training.finetune import check_pairs

        self._pair_report = None
        a, b = self.before_field.path(), self.after_field.path()
        text, problems = "", False
        if a and b:
            spec = self.base_spec()
            try:
                rep = check_pairs(a, b, scale=spec.scale if spec else 1)
            except DeconvError as e:
                text, problems = str(e), True
            else:
                self._pair_report = rep
                lines = rep.lines()
                problems = not rep.ok
                text = "\n".join(("✓ " if i == 0 and not problems else "• " if i else "")
                                 + ln for i, ln in enumerate(lines))  # fmt: skip
        self.pair_report_label.setText(text)
        self.pair_report_label.setStyleSheet("color: #c0392b" if problems else "")
        self.skip_check.setVisible(self._pair_report is not None and not self._pair_report.ok
                                   and bool(self._pair_report.matched))  # fmt: skip
        if not self.skip_check.isVisible():
            self.skip_check.setChecked(False)
        self._update_buttons()

    def _check_degradation(self, *_: Any) -> bool:
        from deconv_gui.errors import DeconvError
        from deconv_gui.training.finetune import _checked_degradation

        spec = self.base_spec()
        text = self.degrade_combo.currentText().strip()
        try:
            deg = _checked_degradation(text, spec.scale if spec else 1)
        except DeconvError as e:
            self.degrade_hint.setText(str(e))
            self.degrade_hint.setStyleSheet("color: #c0392b")
            ok = False
        else:
            shown = str(deg)
            self.degrade_hint.setText(f"Applied per patch: {shown}")
            self.degrade_hint.setStyleSheet("")
            ok = True
        self._degrade_ok = ok
        self._update_buttons()
        return ok

    def _inputs_ready(self) -> bool:
        if self.base_spec() is None:
            return False
        if self.mode == "pairs":
            rep = self._pair_report
            return rep is not None and bool(rep.matched) and (rep.ok or self.skip_check.isChecked())
        if self.mode == "clean":
            return bool(self.clean_field.path()) and self._degrade_ok
        if self.mode == "noisy_raw":
            return bool(self.raw_field.path())
        return bool(self.noisy_field.path())

    def _update_buttons(self, *_: Any) -> None:
        busy = self.runner.is_busy
        self.start_button.setEnabled(not busy and self._inputs_ready())
        self.pause_button.setEnabled(busy)
        self.pause_button.setText("Resume" if self.is_paused else "Pause")
        self.cancel_button.setEnabled(busy)
        self.save_button.setEnabled(
            not busy
            and self._result is not None
            and not self._result.refused
            and bool(self.name_edit.text().strip())
        )
        for w in (self.base_combo, self.mode_combo, self.data_stack, self.steps_spin,
                  self.device_combo, self.val_spin):  # fmt: skip
            w.setEnabled(not busy)

    # ------------------------------------------------------------------ actions
    def make_data(self) -> Any:
        from deconv_gui.training.finetune import FinetuneData

        if self.mode == "pairs":
            return FinetuneData.pairs(self.before_field.path(), self.after_field.path(),
                                      skip_mismatched=self.skip_check.isChecked())  # fmt: skip
        if self.mode == "clean":
            return FinetuneData.clean(self.clean_field.path(), self.degrade_combo.currentText())
        if self.mode == "noisy_raw":
            return FinetuneData.noisy_raw(self.raw_field.path(), self.frames_field.path() or None)
        return FinetuneData.noisy(self.noisy_field.path())

    def start(self) -> None:
        """Start training with the panel's settings (plus `job_options`)."""
        from deconv_gui.training.finetune import default_checkpoint_dir, finetune_job

        spec = self.base_spec()
        if spec is None or self.runner.is_busy or not self._inputs_ready():
            return
        data = self.make_data()
        steps = int(self.steps_spin.value())
        device = str(self.device_combo.currentData())
        val_fraction = self.val_spin.value() / 100.0
        self._checkpoint_dir = default_checkpoint_dir(spec.id, data, steps)
        ckdir = self._checkpoint_dir
        job_options = dict(self.job_options)

        def job() -> Generator[Any, None, Any]:
            return finetune_job(spec, data, steps=steps, device=device,
                                val_fraction=val_fraction, checkpoint_dir=ckdir,
                                **job_options)  # fmt: skip

        self._result = None
        self._loss, self._psnr = [], []
        self._before = None
        self.loss_plot.clear()
        self.val_plot.clear()
        self.loss_plot.x_max = self.val_plot.x_max = steps
        for c in (self.crop_input, self.crop_output, self.crop_target):
            c.set_image(None)
        self.metrics_label.clear()
        self.progress.setRange(0, 0)  # busy until the first step
        self.status_label.setStyleSheet("")
        self.status_label.setText("Starting…")
        if not self.name_edit.text().strip():
            self.name_edit.setText(f"{plain_name(spec)} (mine)")
        self._running.set()
        self.runner.start(_pausable(job, self._running))
        self._update_buttons()

    def toggle_pause(self) -> None:
        if not self.runner.is_busy:
            return
        if self._running.is_set():
            self._running.clear()
            self.status_label.setText(self.status_label.text() + "  —  paused")
        else:
            self._running.set()
        self._update_buttons()

    def pause(self) -> None:
        if self._running.is_set():
            self.toggle_pause()

    def resume(self) -> None:
        if not self._running.is_set():
            self.toggle_pause()

    def cancel(self) -> None:
        if self.runner.is_busy:
            self.runner.cancel()
            self._running.set()  # a paused job must wake up to be closed
            self.status_label.setText("Cancelling…")

    def save(self) -> str | None:
        """Save the trained model under the name typed; returns its id."""
        from deconv_gui.errors import DeconvError
        from deconv_gui.training.finetune import save_finetuned

        if self._result is None:
            return None
        try:
            spec = save_finetuned(self._result, self.name_edit.text())
        except DeconvError as e:
            self._show_error(str(e))
            return None
        self.registry.register(spec, replace=True)
        if self._checkpoint_dir is not None:
            import shutil

            shutil.rmtree(self._checkpoint_dir, ignore_errors=True)
        self._result = None
        self.set_registry(self.registry)
        self.status_label.setText(f"Saved as “{spec.name}”: it is in the model list now.")
        self._update_buttons()
        self.model_saved.emit(spec.id)
        return spec.id

    def shutdown(self) -> None:
        """Cancel and wait for the worker (call before closing)."""
        self._running.set()
        self.runner.shutdown()

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(event)

    # ------------------------------------------------------------------ runner signals
    def _on_progressed(self, p: Any) -> None:
        if p is _PAUSED:
            return
        if p.phase in ("loading", "validating") and p.step == 0:
            self.status_label.setText(p.message[:1].upper() + p.message[1:] + "…")
        if p.phase == "training":
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.step)
            self.progress.setFormat(f"step {p.step} of {p.total}")
            self._loss.append((p.step, p.loss))
            if len(self._loss) % 2 == 0 or p.val is not None or p.step == p.total:
                self.loss_plot.set_series("loss", self.LOSS_COLOR, self._loss)
            eta = _fmt_time(p.eta_s)
            extra = f"  ·  {p.message}" if p.message else ""
            self.status_label.setText(
                f"Training: step {p.step} of {p.total}  ·  {_fmt_time(p.elapsed_s)} so far, "
                f"about {eta} left  ·  loss {p.loss:.4f}{extra}"
                + ("  —  paused" if self.is_paused else "")
            )
        elif p.message and p.step > 0:
            self.status_label.setText(p.message)
        if p.val is not None:
            v = p.val
            if not self._psnr and p.phase == "validating":
                self.val_plot.set_reference("base model", v["psnr"])
                self._before = v
                self._psnr.append((p.step, v["psnr"]))  # step 0, or where a resume starts
                self.val_plot.set_series("fine-tuned", self.PSNR_COLOR, self._psnr)
            if p.phase == "training":
                self._psnr.append((p.step, v["psnr"]))
                self.val_plot.set_series("fine-tuned", self.PSNR_COLOR, self._psnr)
            self._show_metrics(v)
        if p.preview is not None:
            pv = p.preview
            self.crop_input.set_image(pv["input"], f"Input ({pv['name']})")
            self.crop_output.set_image(
                pv["output"], "Base model" if p.phase == "validating" and p.step == 0
                else f"Fine-tuned, step {p.step}",
            )  # fmt: skip
            self.crop_target.set_image(pv.get("target"), "Target")

    def _show_metrics(self, now: dict[str, Any]) -> None:
        before = self._before or now

        def one(v: dict[str, Any]) -> str:
            s = f"{v['psnr']:.2f} dB"
            return s + (f" / SSIM {v['ssim']:.4f}" if v.get("ssim") is not None else "")

        text = f"Photos set aside ({now.get('photos', '?')}): base model {one(before)}"
        if now is not before:
            d = now["psnr"] - before["psnr"]
            text += f"  →  fine-tuned {one(now)}  ({d:+.2f} dB)"
        if before.get("input_psnr") is not None:
            text += f"  ·  input {before['input_psnr']:.2f} dB"
        if self.mode in ("noisy", "noisy_raw"):
            text += ("\nSelf-supervised PSNR: measured against the noisy files themselves "
                     "(true error plus the noise; higher is better).")  # fmt: skip
        self.metrics_label.setText(text)

    def _on_result_ready(self, result: Any) -> None:
        self._result = result
        self.progress.setRange(0, max(1, result.steps))
        self.progress.setValue(result.steps)
        extra = result.card_extra
        self.noise_plot.set_profile(extra.get("noise_profile"))
        if extra.get("display_name"):
            self.name_edit.setText(extra["display_name"])  # "Canon EOS R6, ISO 3200-12800"
        left = ""
        if result.left_out:  # damaged or too small: named here, where the result is read
            from deconv_gui.logs import as_sentences
            from deconv_gui.training.finetune.sources import left_out_text

            left = " " + as_sentences([left_out_text(result.left_out)])
        if result.refused:  # the guard's verdict, in plain words
            self._show_error(f"Done in {_fmt_time(result.elapsed_s)}. {result.message}{left}")
        else:
            self.status_label.setStyleSheet("")
            self.status_label.setText(
                f"Done in {_fmt_time(result.elapsed_s)}. {result.message}{left} Name it and "
                "save it as a new model (the base model is unchanged)."
            )
        self._update_buttons()

    def _on_failed(self, message: str, details: str) -> None:
        self._show_error(message)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)

    def _on_cancelled(self) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.status_label.setText(
            "Cancelled. What was learnt is kept: starting the same job again continues it."
        )

    def _on_busy_changed(self, busy: bool) -> None:
        if not busy:
            self._running.set()
        self._update_buttons()
        self.busy_changed.emit(busy)

    def _show_error(self, message: str) -> None:
        self.status_label.setStyleSheet("color: #c0392b")
        self.status_label.setText(message)
