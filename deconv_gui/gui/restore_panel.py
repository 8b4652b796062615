"""`RestorePanel`: the suggestion, the steps of the recipe, the chosen step's model and
settings (strength, blur, Amount, Detail), Preview / Run / Cancel and the progress of a run.

A single model is a one-step recipe: the panel always edits a `Recipe` (`recipe()`), whose
selected step the controls below the list show. Everything is in plain words: models by
what they do (`ModelPicker`), blur by its kind (`BlurControls`); the model-specific area
has a fixed height (the model's description, or the blur controls), so nothing jumps when
another model is chosen.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSlider,
    QStackedWidget,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from deconv_gui.core.pipeline import AutoSetting
from deconv_gui.core.recipe import Recipe, RecipeStep
from deconv_gui.core.tiling import TileProgress
from deconv_gui.gui.blur_controls import BlurControls
from deconv_gui.gui.model_card import ModelCardDialog
from deconv_gui.gui.model_picker import ModelPicker
from deconv_gui.gui.panel_widgets import (
    ModelNotes,
    PercentSlider,
    StepList,
    SuggestionBanner,
    measured_lines,
)
from deconv_gui.gui.recipe_steps import MAX_STEPS, RecipeSteps
from deconv_gui.gui.theme import make_accent_button, section_label
from deconv_gui.models.registry import (
    LoadOptions,
    ModelRegistry,
    ModelSpec,
    StrengthSpec,
    plain_description,
)

if TYPE_CHECKING:
    from deconv_gui.gui.batch import BatchProgress
    from deconv_gui.gui.preferences import Preferences

TILE_CHOICES = (0, 256, 384, 512, 768, 1024, 1536, 2048)  # 0 = Auto


@dataclass(frozen=True)
class RunSettings:
    """What a run uses: the chosen model with its options and the tile size (None = auto),
    and the whole ``recipe`` (for a one-step recipe, ``spec`` and ``options`` are its step;
    for several, ``spec`` is the last step's model and ``options`` the device and
    precision)."""

    spec: ModelSpec
    options: LoadOptions
    tile_size: int | None = None
    recipe: Recipe | None = None


class RestorePanel(RecipeSteps, QWidget):
    """The recipe editor with Run, Preview and Cancel (see the module doc).

    Signals: ``model_changed(spec | None)`` (the selected step's model),
    ``recipe_changed()`` (any step changed), ``run_requested()``, ``preview_requested()``,
    ``cancel_requested()``, ``compare_requested()``, ``suggestion_requested()`` ("Apply
    suggestion"), ``settings_changed()`` (device, tile size), ``remove_requested(model_id)``,
    ``reveal_requested()`` ("Show in folder") and ``notice(text, kind, timeout_ms)``.
    """

    model_changed = Signal(object)
    recipe_changed = Signal()
    run_requested = Signal()
    preview_requested = Signal()
    cancel_requested = Signal()
    compare_requested = Signal()
    suggestion_requested = Signal()
    settings_changed = Signal()
    remove_requested = Signal(str)
    reveal_requested = Signal()
    notice = Signal(str, str, int)

    def __init__(
        self,
        registry: ModelRegistry,
        devices: list[str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._registry = registry
        self._busy = False
        self._can_run = False
        self._t_first_tile: float | None = None
        self._first_done = 0
        self._strength_scale = 1.0
        self._steps: list[RecipeStep] = []
        self._index = 0
        #: what Auto measured in the photo's last run, per model (`show_measured`)
        self._measured: dict[str, AutoSetting] = {}
        self._loading = False  # the controls are being filled from a step
        #: float16 on GPUs / bfloat16 on fast-bf16 CPUs for models that allow it (preference)
        self.allow_reduced_precision = True
        self.extra_quality = False  # eight flipped passes per tile (`core.runner`)
        self.recipe_dir = ""

        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 8, 12, 8)
        lay.setSpacing(4)

        self.banner = SuggestionBanner(self)
        self.banner.apply_requested.connect(self.suggestion_requested)
        lay.addWidget(self.banner)

        # ---- steps
        head = QHBoxLayout()
        head.addWidget(section_label("Steps"))
        head.addStretch(1)
        self.add_button = self._tool("+", "Add a step after the selected one", self.add_step)
        self.remove_button = self._tool("−", "Remove the selected step", self.remove_step)
        self.up_button = self._tool("↑", "Move the step earlier", lambda: self.move_step(-1))
        self.down_button = self._tool("↓", "Move the step later", lambda: self.move_step(1))
        self.recipe_button = QToolButton(self)
        self.recipe_button.setText("Recipe")
        self.recipe_button.setToolTip("Save these steps as a recipe file, or load one")
        self.recipe_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.recipe_button)
        menu.addAction("Save Recipe…", self.save_recipe_dialog)
        menu.addAction("Load Recipe…", self.load_recipe_dialog)
        self.recipe_button.setMenu(menu)
        for b in (self.add_button, self.remove_button, self.up_button, self.down_button):
            head.addWidget(b)
        head.addWidget(self.recipe_button)
        lay.addLayout(head)
        self.step_list = StepList(self)
        self.step_list.setAccessibleName("Steps of the recipe")
        self.step_list.setUniformItemSizes(True)
        row_h = self.step_list.fontMetrics().height() + 8
        self.step_list.setMinimumHeight(row_h * 2 + 6)
        self.step_list.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.step_list.setMaximumHeight(row_h * MAX_STEPS + 6)
        self.step_list.currentRowChanged.connect(self._on_step_selected)
        lay.addWidget(self.step_list, 1)

        # ---- the selected step
        form = QFormLayout()
        form.setContentsMargins(0, 2, 0, 0)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(3)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        model_row = QHBoxLayout()
        model_row.setSpacing(4)
        self.picker = ModelPicker(registry, self)
        self.picker.setAccessibleName("Model")
        self.picker.model_changed.connect(self._on_model_picked)
        self.info_button = QToolButton(self)
        self.info_button.setIcon(
            self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxInformation)
        )
        self.info_button.setToolTip("Model card: what it is, how it was trained, what it measured")
        self.info_button.setAutoRaise(True)
        self.info_button.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.info_button.customContextMenuRequested.connect(self._on_info_menu)
        self.info_button.clicked.connect(self.show_model_card)
        model_row.addWidget(self.picker, 1)
        model_row.addWidget(self.info_button)
        form.addRow("Model", model_row)

        self.strength_label = QLabel("Strength")
        self.strength_row = QWidget(self)
        srow = QHBoxLayout(self.strength_row)
        srow.setContentsMargins(0, 0, 0, 0)
        self.strength_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.strength_slider.setRange(0, 100)
        self.strength_value = QLabel("—")
        self.strength_value.setMinimumWidth(34)
        self.strength_value.setAlignment(
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        )
        self.strength_auto = QCheckBox("Auto")
        self.strength_auto.setToolTip("Let the model measure the value on the photo")
        keep = self.strength_auto.sizePolicy()
        keep.setRetainSizeWhenHidden(True)  # the row keeps its height for every model
        self.strength_auto.setSizePolicy(keep)
        srow.addWidget(self.strength_slider, 1)
        srow.addWidget(self.strength_value)
        srow.addWidget(self.strength_auto)
        self.strength_slider.valueChanged.connect(self._on_strength_moved)
        self.strength_auto.toggled.connect(self._on_auto_toggled)
        form.addRow(self.strength_label, self.strength_row)

        self.amount = PercentSlider(100, "How much of the result to use: 0 % is the input")
        self.amount.changed.connect(lambda v: self._edit_step(amount=v))
        form.addRow("Amount", self.amount)
        self.detail = PercentSlider(0, "Give back fine detail (texture, edges) the model removed")
        self.detail.changed.connect(lambda v: self._edit_step(detail=v))
        form.addRow("Detail", self.detail)
        lay.addLayout(form)

        # model-specific area of fixed height: the description, or the blur controls
        self.options = QStackedWidget(self)
        self.about_label = QLabel(self)
        self.about_label.setWordWrap(True)
        self.about_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.about_label.setEnabled(False)
        self.blur = BlurControls(self)
        self.blur.changed.connect(self._on_kernel_changed)
        self.options.addWidget(self.about_label)
        self.options.addWidget(self.blur)
        self.options.setFixedHeight(self.blur.sizeHint().height())
        lay.addWidget(self.options)

        # ---- run
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        self.preview_button = QPushButton("Preview", self)
        self.preview_button.setToolTip(
            "Process only the part in view first (up to 512 px): shown within about a second"
        )
        self.preview_button.setMinimumHeight(32)
        self.preview_button.clicked.connect(self.preview_requested)
        self.run_button = QPushButton("Run", self)
        self.run_button.setToolTip("Restore the whole photo with these steps (Ctrl+R)")
        self.run_button.setDefault(True)
        make_accent_button(self.run_button)
        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop after the current tile (Esc)")
        self.cancel_button.setMinimumHeight(32)
        self.cancel_button.clicked.connect(self.cancel_requested)
        buttons.addWidget(self.preview_button, 1)
        buttons.addWidget(self.run_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        lay.addSpacing(2)
        lay.addLayout(buttons)
        row = QHBoxLayout()
        self.live_check = QCheckBox("Live preview")
        self.live_check.setToolTip("Preview the part in view again whenever a setting changes")
        self.live_check.setChecked(True)
        self.compare_button = QPushButton("Compare models…", self)
        self.compare_button.setToolTip("Up to four models on the same region, side by side")
        self.compare_button.clicked.connect(self.compare_requested)
        row.addWidget(self.live_check)
        row.addStretch(1)
        row.addWidget(self.compare_button)
        lay.addLayout(row)

        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(6)
        self.progress_label = QLabel(" ")
        self.progress_label.setEnabled(False)
        self.progress_label.setWordWrap(True)
        self.saved_label = QLabel(" ")
        self.saved_label.setTextFormat(Qt.TextFormat.RichText)
        self.saved_label.setWordWrap(True)
        self.saved_label.linkActivated.connect(lambda _link: self.reveal_requested.emit())
        self.saved_label.setVisible(False)  # under Run: showing it moves nothing above
        lay.addWidget(self.progress)
        lay.addWidget(self.progress_label)
        lay.addWidget(self.saved_label)

        # ---- device and tiles, folded away
        self.more_button = QToolButton(self)
        self.more_button.setText("Device and tiles")
        self.more_button.setCheckable(True)
        self.more_button.setAutoRaise(True)
        self.more_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.more_button.setArrowType(Qt.ArrowType.RightArrow)
        lay.addWidget(self.more_button)
        self.more = QWidget(self)
        more_form = QFormLayout(self.more)
        more_form.setContentsMargins(0, 0, 0, 0)
        self.device_combo = QComboBox(self)
        self.device_combo.addItem("Auto", "auto")
        for d in devices:
            self.device_combo.addItem(_device_label(d), d)
        self.device_combo.setToolTip("Where the model runs: Auto picks a GPU when there is one")
        self.device_combo.currentIndexChanged.connect(lambda *_: self.settings_changed.emit())
        more_form.addRow("Device", self.device_combo)
        self.tile_combo = QComboBox(self)
        for t in TILE_CHOICES:
            self.tile_combo.addItem("Auto" if t == 0 else f"{t} px", t)
        self.tile_combo.setToolTip(
            "Photos are processed in tiles; smaller tiles use less memory. Auto fits the device."
        )
        self.tile_combo.currentIndexChanged.connect(lambda *_: self.settings_changed.emit())
        more_form.addRow("Tile size", self.tile_combo)
        self.more.setVisible(False)
        self.more_button.toggled.connect(self._on_more_toggled)
        lay.addWidget(self.more)
        self.notes = ModelNotes(self)
        lay.addWidget(self.notes, 2)

        self.set_recipe(None)
        self._update_buttons()

    def _tool(self, text: str, tip: str, slot) -> QToolButton:  # noqa: ANN001
        b = QToolButton(self)
        b.setText(text)
        b.setToolTip(tip)
        b.setAutoRaise(True)
        b.clicked.connect(slot)
        return b

    def _on_more_toggled(self, on: bool) -> None:
        self.more.setVisible(on)
        self.more_button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    # ================================================================ models
    def set_registry(self, registry: ModelRegistry, select: str = "") -> None:
        """List the models of `registry`; choose `select` for the selected step (else keep
        the steps whose models are still there)."""
        self._registry = registry
        self._loading = True
        self.picker.set_registry(registry)
        self._loading = False
        self._steps = [s for s in self._steps if s.model in registry]
        if not self._steps:
            spec = self.picker.current_spec()
            self._steps = [self._new_step(spec)] if spec is not None else []
        self._index = min(self._index, max(0, len(self._steps) - 1))
        if select and select in registry:
            self.select_model(select)
        else:
            self._refresh_list()
            self._load_step()

    def current_spec(self) -> ModelSpec | None:
        """The selected step's model."""
        if not self._steps:
            return None
        mid = self._steps[self._index].model
        return self._registry.get(mid) if mid in self._registry else None

    def select_model(self, model_id: str) -> bool:
        """Use `model_id` for the selected step."""
        if model_id not in self._registry:
            return False
        if not self.picker.select_model(model_id):
            return False
        if self.current_spec() is None or self.current_spec().id != model_id:
            self._on_model_picked(self._registry.get(model_id))
        return True

    def _on_model_picked(self, spec: ModelSpec | None) -> None:
        if self._loading:
            return
        if spec is None:
            return
        if not self._steps:
            self._steps = [self._new_step(spec)]
            self._index = 0
        elif self._steps[self._index].model != spec.id:
            old = self._steps[self._index]
            new = self._new_step(spec)
            self._steps[self._index] = replace(new, amount=old.amount, detail=old.detail)
        self._refresh_list()
        self._load_step()
        self.recipe_changed.emit()

    def _on_info_menu(self, pos) -> None:  # noqa: ANN001 - Qt API
        spec = self.current_spec()
        if spec is None:
            return
        menu = QMenu(self)
        card = menu.addAction("Model card…")
        remove = None
        if spec.kind in ("imported", "finetuned"):
            remove = menu.addAction("Remove from library…")
        chosen = menu.exec(self.info_button.mapToGlobal(pos))
        if chosen is card:
            self.show_model_card()
        elif remove is not None and chosen is remove:
            self.remove_requested.emit(spec.id)

    def _apply_spec(self, spec: ModelSpec | None) -> None:
        st = spec.strength if spec else None
        self.strength_row.setEnabled(st is not None and not self._busy)
        self.strength_label.setEnabled(st is not None)
        self.strength_auto.setVisible(bool(st and st.auto))
        if st is None:
            self.strength_label.setText("Strength")
            self.strength_row.setToolTip("This model has no strength to set")
            self.strength_value.setText("—")
        else:
            self.strength_label.setText(st.label)
            tip = st.help + (f" ({st.unit})" if st.unit else "")
            self.strength_row.setToolTip(tip)
            steps, self._strength_scale = slider_steps(st.minimum, st.maximum)
            self.strength_slider.blockSignals(True)
            self.strength_slider.setRange(0, max(1, steps))
            self.strength_slider.blockSignals(False)
            self._place_slider(st.default, st)
        has_kernel = bool(spec and "kernel" in spec.params)
        self.options.setCurrentWidget(self.blur if has_kernel else self.about_label)
        self.about_label.setText(plain_description(spec) if spec is not None else "")
        self.notes.set_lines(measured_lines(spec))
        self.info_button.setEnabled(spec is not None)

    def _show_strength(self, value: float | None) -> None:
        spec = self.current_spec()
        if spec is None or spec.strength is None:
            return
        st = spec.strength
        auto = value is None and st.auto
        self.strength_auto.blockSignals(True)
        self.strength_auto.setChecked(auto)
        self.strength_auto.blockSignals(False)
        if value is not None:
            self._place_slider(value, st)
        self.strength_slider.setEnabled(not auto)
        self._show_strength_value()

    def _place_slider(self, value: float, st: StrengthSpec) -> None:
        """Put the strength slider at `value` (the slider keeps it within its range) without
        counting as an edit."""
        self.strength_slider.blockSignals(True)
        self.strength_slider.setValue(round((value - st.minimum) / (self._strength_scale or 1)))
        self.strength_slider.blockSignals(False)

    def _show_strength_value(self) -> None:
        """The value beside the slider. On Auto: what Auto measured in the photo's last run
        (the slider stands there, so unticking Auto starts from it), nothing before one."""
        v = self.strength()
        spec = self.current_spec()
        chosen = self._measured.get(spec.id) if spec is not None and v is None else None
        tip = ""
        st = spec.strength if spec is not None else None
        percent = " %" if st is not None and st.unit.startswith("%") else ""  # "% of measured"
        if chosen is not None and st is not None:
            self._place_slider(chosen.strength, st)
            tip = f"Auto in this photo's last run: {chosen.text()}"
            self.strength_value.setText(chosen.number(chosen.strength) + percent)
        else:  # nothing on Auto before a run: the box says Auto
            self.strength_value.setText("" if v is None else f"{v:g}{percent}")
        self.strength_value.setToolTip(tip)

    def show_measured(self, settings: Sequence[AutoSetting]) -> None:
        """What Auto chose in the photo's last run (`core.pipeline.auto_settings` of its
        result; empty for none): shown beside the slider of a step on Auto."""
        self._measured = {a.model: a for a in settings}
        if self.strength() is None:
            self._show_strength_value()

    def _on_strength_moved(self, _value: int) -> None:
        self._show_strength_value()
        self._edit_step(strength=self.strength())

    def _on_auto_toggled(self, on: bool) -> None:
        self.strength_slider.setEnabled(not on)
        self._show_strength_value()
        self._edit_step(strength=self.strength())

    def _on_kernel_changed(self) -> None:
        spec = self.current_spec()
        if spec is not None and "kernel" in spec.params and self._steps:
            params = dict(self._steps[self._index].params, kernel=self.blur.spec())
            self._edit_step(params=params)

    def strength(self) -> float | None:
        """The selected step's strength from the controls, None for Auto (or none)."""
        spec = self.current_spec()
        if spec is None or spec.strength is None:
            return None
        if spec.strength.auto and self.strength_auto.isChecked():
            return None
        v = spec.strength.minimum + self.strength_slider.value() * self._strength_scale
        return round(v, 4)

    def set_strength(self, value: float | None) -> None:
        spec = self.current_spec()
        if spec is None or spec.strength is None:
            return
        if value is None and not spec.strength.auto:
            value = spec.strength.default
        self._show_strength(value)
        self._edit_step(strength=self.strength())

    def show_model_card(self) -> None:
        """Open the chosen model's card (not blocking)."""
        spec = self.current_spec()
        if spec is not None:
            dlg = ModelCardDialog(spec, self)
            dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dlg.open()

    # ================================================================ recipe files
    def show_suggestion(self, text: str, *, can_apply: bool) -> None:
        self.banner.show_text(text, can_apply=can_apply)

    # ================================================================ options
    def device(self) -> str:
        return str(self.device_combo.currentData() or "auto")

    def set_device(self, device: str) -> None:
        i = self.device_combo.findData(device)
        self.device_combo.setCurrentIndex(i if i >= 0 else 0)

    def tile_size(self) -> int | None:
        t = int(self.tile_combo.currentData() or 0)
        return t or None

    def set_tile_size(self, size: int | None) -> None:
        size = int(size or 0)
        i = self.tile_combo.findData(size)
        if i < 0:
            self.tile_combo.addItem(f"{size} px", size)
            i = self.tile_combo.count() - 1
        self.tile_combo.setCurrentIndex(i)

    def kernel(self) -> str:
        """The blur kernel of the selected step ("" when its model takes none)."""
        spec = self.current_spec()
        if spec is None or "kernel" not in spec.params or not self._steps:
            return ""
        return str(self._steps[self._index].params.get("kernel", ""))

    def suggest_kernel(self, kernel: str) -> None:
        """Use `kernel` for the steps that take one (e.g. the blur of a simulated
        degradation, so that deblurring undoes it)."""
        if not kernel:
            return
        changed = False
        for i, step in enumerate(self._steps):
            spec = self._registry.get(step.model) if step.model in self._registry else None
            if spec is not None and "kernel" in spec.params and step.params.get("kernel") != kernel:
                self._steps[i] = replace(step, params=dict(step.params, kernel=kernel))
                changed = True
        if changed:
            self._refresh_list()
            self._load_step()
            self.recipe_changed.emit()

    def apply_preferences(self, prefs: Preferences) -> None:
        """Take the run settings of the preferences (device, tile size, precision)."""
        self.set_device(prefs.device)
        self.set_tile_size(prefs.tile_size)
        self.allow_reduced_precision = prefs.reduced_precision
        self.extra_quality = prefs.extra_quality

    def store_preferences(self, prefs: Preferences) -> None:
        """Remember the device, the tile size and the model chosen."""
        prefs.device = self.device()
        prefs.tile_size = self.tile_size() or 0
        spec = self.current_spec()
        if spec is not None:
            prefs.last_model = spec.id

    def base_options(self) -> LoadOptions:
        """Device, precision and quality (each step brings its strength and params)."""
        return LoadOptions(
            device=self.device(),
            allow_fp16=self.allow_reduced_precision,
            ensemble=self.extra_quality,
        )

    def run_settings(self) -> RunSettings | None:
        """The recipe with its options, or None when no model is chosen."""
        recipe = self.recipe()
        if recipe is None:
            return None
        last = recipe.steps[-1]
        spec = self._registry.get(last.model)
        if len(recipe.steps) == 1:
            options = replace(self.base_options(), strength=last.strength, params=dict(last.params))
        else:
            options = self.base_options()
        return RunSettings(spec, options, self.tile_size(), recipe)

    def load_options(self) -> LoadOptions:
        """The selected step's options (device, precision, strength, params)."""
        step = self._steps[self._index] if self._steps else RecipeStep("")
        return replace(self.base_options(), strength=step.strength, params=dict(step.params))

    # ================================================================ run state
    def set_can_run(self, can: bool) -> None:
        self._can_run = can
        self._update_buttons()

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        for w in (self.picker, self.step_list, self.device_combo, self.tile_combo, self.blur):
            w.setEnabled(not busy)
        self.strength_row.setEnabled(
            not busy and bool(self.current_spec() and self.current_spec().strength)
        )
        if busy:
            self._t_first_tile = None
            self.progress.setRange(0, 0)  # busy indicator until the first tile
            self.progress_label.setText("Loading the model…")
        self._refresh_list()
        self._update_buttons()

    def _update_buttons(self) -> None:
        ok = self._can_run and not self._busy and self.recipe() is not None
        self.run_button.setEnabled(ok)
        self.preview_button.setEnabled(ok)
        self.compare_button.setEnabled(self._can_run and not self._busy)
        self.cancel_button.setEnabled(self._busy)

    def show_progress(
        self, done: int, total: int, *, unit: str = "tiles", detail: str | None = None
    ) -> None:
        """`done` of `total` units, with the time left; ``detail`` becomes the tooltip."""
        if detail is not None:
            self.progress_label.setToolTip(detail)
        now = time.monotonic()
        if self._t_first_tile is None:
            self._t_first_tile = now
            self._first_done = done
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        text = f"{done} / {total} {unit}"
        counted = done - self._first_done
        elapsed = now - self._t_first_tile
        if counted > 0 and done < total and elapsed > 0.3:
            eta = elapsed / counted * (total - done)
            text += f"  ·  about {format_duration(eta)} left"
        self.progress_label.setText(text)

    def show_tile_progress(self, tp: TileProgress) -> None:
        """A tile of the run finished: tiles done and time left; where and how it runs in the
        tooltip (and the step, for several)."""
        self.show_progress(
            tp.done,
            tp.total,
            unit="tiles"
            + (f" ({tp.message.split(':')[0]})" if tp.message.startswith("step") else ""),
            detail=f"Tiles of {tp.tile_size} px on {tp.device or 'the CPU'}"
            + (f" in {tp.precision}" if tp.precision else "")
            + (f", {tp.passes} passes each (Extra quality)" if tp.passes > 1 else "")
            + (f"\n{tp.message}" if tp.message else ""),
        )

    def show_batch_progress(self, bp: BatchProgress) -> None:
        self.show_progress(bp.index + (1 if bp.finished else 0), bp.total, unit="photos (batch)")

    def show_done(
        self, seconds: float, size: tuple[int, int], auto: Sequence[AutoSetting] = ()
    ) -> None:
        """A run finished in `seconds` with a result of `size` (width, height), with what
        Auto chose in its steps."""
        # each setting on one line when the label wraps ("JPEG quality 75" together)
        said = ", ".join(a.text().replace(" ", "\u00a0") for a in auto)
        chose = f"  ·  Auto: {said}" if auto else ""
        self.show_message(
            f"Done in {format_duration(seconds)}  ·  {size[0]} × {size[1]}{chose}", done=True
        )
        self.show_measured(auto)

    def show_message(self, text: str, *, done: bool | None = None) -> None:
        self.progress_label.setText(text)
        if done is not None:
            self.progress.setRange(0, 1)
            self.progress.setValue(1 if done else 0)

    def show_saved(self, path: str | None) -> None:
        """Where the result shown was saved, with a "Show in folder" link (None: clear)."""
        self.saved_label.setVisible(bool(path))
        if not path:
            self.saved_label.setText(" ")
            return
        from html import escape
        from pathlib import Path

        p = Path(path)
        self.saved_label.setText(
            f"Saved as <b>{escape(p.name)}</b> in {escape(str(p.parent))} · "
            f"<a href='reveal'>Show in folder</a>"
        )
        self.saved_label.setToolTip(str(p))


#: a strength slider has at least this many positions (`slider_steps`)
MIN_SLIDER_STEPS = 50


def slider_steps(minimum: float, maximum: float) -> tuple[int, float]:
    """(positions - 1, step) of a strength slider from `minimum` to `maximum`: the coarsest
    round step (1, 2 or 5 times a power of ten) that still gives MIN_SLIDER_STEPS positions
    and ends on `maximum`, so every position is a round number (the RAW denoiser's 10-400 %
    goes in 5 % steps through 100 %; it went in 3.9 % steps, 99.7 % beside 103.6 %); 100
    even steps where no round step fits."""
    span = maximum - minimum
    if not span > 0:
        return 1, 0.0
    exponent = math.floor(math.log10(span / MIN_SLIDER_STEPS))
    for power in (exponent + 1, exponent):
        for mantissa in (5, 2, 1):
            step = mantissa * 10.0**power
            steps = round(span / step)
            if steps >= MIN_SLIDER_STEPS and math.isclose(steps * step, span, rel_tol=1e-9):
                return steps, step
    return 100, span / 100


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{m}:{s:02d} min"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def _device_label(device: str) -> str:
    try:
        from deconv_gui.core.devices import describe_device

        return describe_device(device)
    except Exception:
        return device.upper()
