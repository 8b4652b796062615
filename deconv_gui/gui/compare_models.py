"""`CompareModelsDialog`: up to four models run on the same region of the photo, shown side
by side, each labelled with its name and time, and its PSNR/SSIM when the photo has a
reference (a clean photo or Simulate's original), as Topaz's comparison view does.

The region is the preview region (`recipe_run.preview_box` of the part in view); each model
runs as a one-step recipe through `recipe_run.preview_job` in a worker thread, one after
another. `region_scores(result, reference, box, input_size)` scores a result's region.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from deconv_gui.core import metrics
from deconv_gui.core.image import Photo
from deconv_gui.core.rawpipe import raw_of, works_on_mosaic
from deconv_gui.core.recipe import Recipe, RecipeStep
from deconv_gui.core.spec import LoadOptions
from deconv_gui.gui.compare_view import CHECKER_SQUARE
from deconv_gui.gui.display import over_checker, to_rgb8
from deconv_gui.gui.model_picker import ModelPicker
from deconv_gui.gui.recipe_run import PreviewOutput, preview_job
from deconv_gui.gui.runner import TaskQueue
from deconv_gui.models.registry import ModelRegistry, ModelSpec, plain_name, retired_reason

#: tasks compared with each other on a camera RAW photo
DENOISERS = frozenset({"denoise", "raw-denoise"})

SLOTS = 4


@dataclass(frozen=True)
class Scores:
    psnr: float
    ssim: float


def region_scores(
    result: np.ndarray,
    reference: np.ndarray | None,
    box: tuple[int, int, int, int],
    input_size: tuple[int, int],
) -> Scores | None:
    """PSNR/SSIM of a result of region ``box`` (input pixels; ``input_size`` = width,
    height) against the same region of ``reference`` (at its own size); None without a
    reference or when the sizes do not match (a model of another scale)."""
    if reference is None:
        return None
    f = reference.shape[0] / input_size[1]
    y0, y1, x0, x1 = (round(v * f) for v in box)
    ref = reference[y0:y1, x0:x1]
    if ref.shape != result.shape or min(ref.shape[:2]) < 11:
        return None
    return Scores(float(metrics.psnr(result, ref)), float(metrics.ssim(result, ref)))


def _pixmap(rgb: np.ndarray, alpha: np.ndarray | None = None) -> QPixmap:
    if alpha is not None:  # transparency over the viewer's checkerboard
        rgb = over_checker(rgb, alpha, CHECKER_SQUARE)
    u8 = np.ascontiguousarray(to_rgb8(rgb))
    h, w = u8.shape[:2]
    return QPixmap.fromImage(QImage(u8.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy())


class ResultPane(QWidget):
    """One model's picture and its caption."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.picture = QLabel(self)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(160, 120)
        self.picture.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.picture.setStyleSheet("background: rgb(50, 50, 52); color: rgb(200, 200, 200);")
        self.caption = QLabel(" ", self)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setWordWrap(True)
        lay.addWidget(self.picture, 1)
        lay.addWidget(self.caption)
        self._pixmap: QPixmap | None = None
        self.actual = True

    def show_result(self, pixmap: QPixmap | None, caption: str, placeholder: str = "") -> None:
        self._pixmap = pixmap
        self.caption.setText(caption)
        self.picture.setText("" if pixmap else placeholder)
        self._rescale()

    def set_actual(self, on: bool) -> None:
        self.actual = on
        self._rescale()

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt API
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is None:
            self.picture.setPixmap(QPixmap())
            return
        size = self.picture.size()
        pm = self._pixmap
        if self.actual and (pm.width() > size.width() or pm.height() > size.height()):
            w, h = min(pm.width(), size.width()), min(pm.height(), size.height())
            self.picture.setPixmap(pm.copy((pm.width() - w) // 2, (pm.height() - h) // 2, w, h))
            return
        mode = (
            Qt.TransformationMode.SmoothTransformation
            if self._pixmap.width() > size.width()
            else Qt.TransformationMode.FastTransformation
        )
        self.picture.setPixmap(self._pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, mode))


class CompareModelsDialog(QDialog):
    """Pick up to four models and compare them on one region (see the module doc).
    ``compared()`` once every chosen model has shown its result."""

    compared = Signal()

    def __init__(
        self,
        registry: ModelRegistry,
        photo: Photo,
        box: tuple[int, int, int, int],
        options: LoadOptions,
        *,
        reference: np.ndarray | None = None,
        first: ModelSpec | None = None,
        alpha: np.ndarray | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare Models")
        self.resize(900, 700)
        self._registry, self._photo, self._box = registry, photo, box
        self._options, self._reference = options, reference
        self._alpha = alpha  # the photo's transparency (H x W, 0-1), shown in the panes
        self._queue = TaskQueue(self)
        self._pending = 0
        self.results: dict[int, tuple[str, PreviewOutput, Scores | None]] = {}
        y0, y1, x0, x1 = box
        lay = QVBoxLayout(self)
        where = f"The same {x1 - x0} × {y1 - y0} px region (the part in view) with each model."
        if reference is not None:
            where += " Numbers: against the reference (higher is better)."
        intro = QLabel(where)
        intro.setWordWrap(True)
        lay.addWidget(intro)
        pick = QGridLayout()
        self.checks: list[QCheckBox] = []
        self.pickers: list[ModelPicker] = []
        initial = self._initial_models(first)
        spares = iter(self._spare_models(initial))
        for i, spec in enumerate(initial):
            check = QCheckBox(f"{i + 1}")
            check.setChecked(spec is not None)
            picker = ModelPicker(registry, self)
            # an empty slot shows another model to tick, not the list's first in every one
            shown = spec if spec is not None else next(spares, None)
            if shown is not None:
                picker.select_model(shown.id)
            pick.addWidget(check, i // 2, (i % 2) * 2)
            pick.addWidget(picker, i // 2, (i % 2) * 2 + 1)
            self.checks.append(check)
            self.pickers.append(picker)
        pick.setColumnStretch(1, 1)
        pick.setColumnStretch(3, 1)
        lay.addLayout(pick)
        row = QHBoxLayout()
        self.actual_check = QCheckBox("Actual pixels")
        self.actual_check.setToolTip("Show the middle of each result at 100 % (else fit)")
        self.actual_check.setChecked(True)
        self.actual_check.toggled.connect(lambda on: [p.set_actual(on) for p in self.panes])
        row.addWidget(self.actual_check)
        self.status = QLabel(" ")
        self.compare_button = QPushButton("Compare")
        self.compare_button.clicked.connect(self.run)
        row.addWidget(self.status, 1)
        row.addWidget(self.compare_button)
        lay.addLayout(row)
        grid = QGridLayout()
        self.panes = [ResultPane(self) for _ in range(SLOTS)]
        for i, pane in enumerate(self.panes):
            grid.addWidget(pane, i // 2, i % 2)
        lay.addLayout(grid, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.finished.connect(lambda _r: self._queue.shutdown())

    def _initial_models(self, first: ModelSpec | None) -> list[ModelSpec | None]:
        """`first`, then the other current models of its task. On a camera RAW photo the
        RAW denoiser and the photo denoisers are one family (which does this photo better
        is the question); elsewhere the RAW denoiser cannot run."""
        is_raw = raw_of(self._photo) is not None
        tasks = {first.task} if first is not None else None
        if first is not None and works_on_mosaic(first) and not is_raw:
            first, tasks = None, {"denoise"}  # e.g. Simulate's copy of a RAW photo
        elif is_raw and tasks is not None and tasks & DENOISERS:
            tasks = set(DENOISERS)
        same = [
            s
            for s in self._registry
            if (tasks is None or s.task in tasks)
            and retired_reason(s) is None
            and (is_raw or not works_on_mosaic(s))
        ]
        chosen: list[ModelSpec | None] = [first] if first is not None else []
        chosen += [s for s in same if first is None or s.id != first.id]
        chosen = chosen[:SLOTS]
        return chosen + [None] * (SLOTS - len(chosen))

    def _spare_models(self, chosen: list[ModelSpec | None]) -> list[ModelSpec]:
        """Models for the slots left unticked: the other current models this photo can
        take, each once."""
        is_raw = raw_of(self._photo) is not None
        used = {s.id for s in chosen if s is not None}
        return [
            s
            for s in self._registry
            if s.id not in used and retired_reason(s) is None and (is_raw or not works_on_mosaic(s))
        ]

    def chosen(self) -> list[tuple[int, ModelSpec]]:
        out = []
        for i, (check, picker) in enumerate(zip(self.checks, self.pickers, strict=True)):
            spec = picker.current_spec()
            if check.isChecked() and spec is not None:
                out.append((i, spec))
        return out

    def run(self) -> None:
        """Run every chosen model on the region (one after another, in a worker)."""
        self._queue.cancel()
        self.results.clear()
        chosen = self.chosen()
        self._pending = len(chosen)
        for i, pane in enumerate(self.panes):
            pane.show_result(None, " ", "Waiting…" if any(j == i for j, _ in chosen) else "")
        self.status.setText(f"Running {len(chosen)} models…" if chosen else "Choose a model.")
        for i, spec in chosen:
            self._submit(i, spec)

    def _submit(self, i: int, spec: ModelSpec) -> None:
        recipe = Recipe((RecipeStep(spec.id),))
        photo, box, options = self._photo, self._box, self._options
        started = [0.0]

        def job():  # noqa: ANN202 - a generator job
            started[0] = time.monotonic()
            return preview_job(recipe, lambda _m: spec, options, photo, box, cache=None,
                               colour=None)  # fmt: skip

        def done(out: PreviewOutput) -> None:
            seconds = time.monotonic() - started[0]
            h, w = photo.rgb.shape[:2]
            scores = region_scores(out.rgb, self._reference, box, (w, h))
            self.results[i] = (spec.id, out, scores)
            caption = f"<b>{plain_name(spec)}</b> · {seconds:.1f} s"
            if scores is not None:
                caption += f"<br>PSNR {scores.psnr:.1f} dB · SSIM {scores.ssim:.3f}"
            self.panes[i].show_result(_pixmap(out.rgb, self._alpha_over(out.rgb)), caption)
            self._one_done()

        def failed(message: str, _details: str) -> None:
            self.panes[i].show_result(None, f"<b>{plain_name(spec)}</b>", f"Failed: {message}")
            self._one_done()

        self._queue.submit(job, on_result=done, on_error=failed)

    def _alpha_over(self, result: np.ndarray) -> np.ndarray | None:
        """The photo's transparency over the region, at the size of a model's ``result`` of
        it (an upscaler's is larger), or None for an opaque photo."""
        if self._alpha is None:
            return None
        y0, y1, x0, x1 = self._box
        a = np.ascontiguousarray(self._alpha[y0:y1, x0:x1], dtype=np.float32)
        h, w = result.shape[:2]
        return a if a.shape == (h, w) else cv2.resize(a, (w, h), interpolation=cv2.INTER_CUBIC)

    def _one_done(self) -> None:
        self._pending -= 1
        if self._pending <= 0:
            self.status.setText("Done. Choose other models and Compare again.")
            self.compared.emit()

    def shutdown(self) -> None:
        self._queue.shutdown()
