"""`RestorePanel`: pick a model and its settings, run and cancel, watch the progress."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSlider,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from deconv_gui.core.tiling import TileProgress
from deconv_gui.gui.model_card import ModelCardDialog, card_html
from deconv_gui.gui.theme import make_accent_button, section_label
from deconv_gui.models.registry import LoadOptions, ModelRegistry, ModelSpec, card_order

if TYPE_CHECKING:
    from deconv_gui.gui.batch import BatchProgress
    from deconv_gui.gui.preferences import Preferences

GROUPS = (
    ("denoise", "Denoise"),
    ("upscale", "Upscale"),
    ("deblur", "Deblur"),
    ("restore", "Restore"),
    ("imported", "Imported"),
    ("finetuned", "Fine-tuned"),
)
TILE_CHOICES = (0, 256, 384, 512, 768, 1024, 1536, 2048)  # 0 = Auto
SPEC_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass(frozen=True)
class RunSettings:
    """What a run uses: the chosen model, its options and the tile size (None = auto)."""

    spec: ModelSpec
    options: LoadOptions
    tile_size: int | None = None


def group_of(spec: ModelSpec) -> str:
    if spec.kind in ("imported", "finetuned"):
        return spec.kind
    return spec.task


class RestorePanel(QWidget):
    """Model list grouped by task, its settings, Run/Cancel and the progress of a run."""

    model_changed = Signal(object)  # ModelSpec | None
    run_requested = Signal()
    cancel_requested = Signal()
    settings_changed = Signal()
    remove_requested = Signal(str)  # model id of an imported / fine-tuned model

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
        self._strength_scale = 1.0
        #: float16 on GPUs / bfloat16 on fast-bf16 CPUs for models that allow it (preference)
        self.allow_reduced_precision = True

        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 10, 12, 10)
        lay.setSpacing(6)

        head = QHBoxLayout()
        head.addWidget(section_label("Model"))
        head.addStretch(1)
        self.info_button = QToolButton(self)
        self.info_button.setText("Model card…")
        self.info_button.setToolTip(
            "Show the model card: training data, parameters, measured quality"
        )
        self.info_button.setAutoRaise(True)
        self.info_button.clicked.connect(self.show_model_card)
        head.addWidget(self.info_button)
        lay.addLayout(head)

        self.model_tree = QTreeWidget(self)
        self.model_tree.setHeaderHidden(True)
        self.model_tree.setRootIsDecorated(False)
        self.model_tree.setIndentation(10)
        self.model_tree.setUniformRowHeights(True)
        self.model_tree.setMinimumHeight(120)
        self.model_tree.setSizeAdjustPolicy(QTreeWidget.SizeAdjustPolicy.AdjustToContents)
        self.model_tree.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.model_tree.currentItemChanged.connect(self._on_current_item_changed)
        self.model_tree.itemDoubleClicked.connect(lambda *_: self.show_model_card())
        self.model_tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.model_tree.customContextMenuRequested.connect(self._on_tree_menu)
        lay.addWidget(self.model_tree)

        form = QFormLayout()
        form.setContentsMargins(0, 4, 0, 0)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(6)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.strength_label = QLabel("Strength")
        self.strength_row = QWidget(self)
        srow = QHBoxLayout(self.strength_row)
        srow.setContentsMargins(0, 0, 0, 0)
        self.strength_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.strength_slider.setRange(0, 100)
        self.strength_value = QLabel("0")
        self.strength_value.setMinimumWidth(34)
        self.strength_value.setAlignment(
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        )
        self.strength_auto = QCheckBox("Auto")
        self.strength_auto.setToolTip("Let the model estimate the value from the photo")
        srow.addWidget(self.strength_slider, 1)
        srow.addWidget(self.strength_value)
        srow.addWidget(self.strength_auto)
        self.strength_slider.valueChanged.connect(self._on_strength_moved)
        self.strength_auto.toggled.connect(self._on_auto_toggled)
        form.addRow(self.strength_label, self.strength_row)

        self.kernel_label = QLabel("Blur kernel")
        self.kernel_edit = QLineEdit(self)
        self.kernel_edit.setPlaceholderText("gaussian:1.5")
        self.kernel_edit.setToolTip(
            "Blur to undo: gaussian:SIGMA, motion:LENGTH:ANGLE or disk:RADIUS (pixels)"
        )
        self.kernel_edit.textChanged.connect(lambda *_: self.settings_changed.emit())
        form.addRow(self.kernel_label, self.kernel_edit)

        self.device_combo = QComboBox(self)
        self.device_combo.addItem("Auto", "auto")
        for d in devices:
            self.device_combo.addItem(_device_label(d), d)
        self.device_combo.setToolTip("Where the model runs: Auto picks a GPU when there is one")
        self.device_combo.currentIndexChanged.connect(lambda *_: self.settings_changed.emit())
        form.addRow("Device", self.device_combo)

        self.tile_combo = QComboBox(self)
        for t in TILE_CHOICES:
            self.tile_combo.addItem("Auto" if t == 0 else f"{t} px", t)
        self.tile_combo.setToolTip(
            "Photos are processed in tiles; smaller tiles use less memory. Auto fits the device."
        )
        self.tile_combo.currentIndexChanged.connect(lambda *_: self.settings_changed.emit())
        form.addRow("Tile size", self.tile_combo)
        lay.addLayout(form)

        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        self.run_button = QPushButton("Run", self)
        self.run_button.setToolTip("Restore the photo with this model (Ctrl+R)")
        self.run_button.setDefault(True)
        make_accent_button(self.run_button)
        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop after the current tile (Esc)")
        self.cancel_button.setMinimumHeight(32)
        self.cancel_button.clicked.connect(self.cancel_requested)
        buttons.addWidget(self.run_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        lay.addSpacing(4)
        lay.addLayout(buttons)

        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(6)
        self.progress_label = QLabel(" ")
        self.progress_label.setEnabled(False)
        lay.addWidget(self.progress)
        lay.addWidget(self.progress_label)

        self._populate()
        self._update_buttons()

    # ---------------------------------------------------------------- models
    def _populate(self) -> None:
        tree = self.model_tree
        tree.clear()
        bold = QFont(tree.font())
        bold.setWeight(QFont.Weight.DemiBold)
        first_item = None
        for key, title in GROUPS:
            specs = [s for s in self._registry if group_of(s) == key]
            if not specs:
                continue
            kind_rank = {"bundled": 0, "finetuned": 1, "imported": 2, "classical": 3}
            specs.sort(key=lambda s: (kind_rank.get(s.kind, 9), card_order(s)))
            top = QTreeWidgetItem([title])
            top.setFont(0, bold)
            top.setFlags(Qt.ItemFlag.ItemIsEnabled)
            top.setSizeHint(0, QSize(0, 24))
            tree.addTopLevelItem(top)
            for spec in specs:
                item = QTreeWidgetItem([spec.name])
                item.setData(0, SPEC_ROLE, spec.id)
                item.setToolTip(0, card_html(spec, short=True))
                top.addChild(item)
                if first_item is None:
                    first_item = item
            top.setExpanded(True)
        if first_item is not None:
            tree.setCurrentItem(first_item)
        else:
            self._apply_spec(None)

    def set_registry(self, registry: ModelRegistry, select: str = "") -> None:
        """List the models of `registry`; choose `select` (else keep the model chosen)."""
        current = self.current_spec()
        self._registry = registry
        self._populate()
        if select and select in registry:
            self.select_model(select)
        elif current is not None and current.id in registry:
            self.select_model(current.id)

    def current_spec(self) -> ModelSpec | None:
        item = self.model_tree.currentItem()
        model_id = item.data(0, SPEC_ROLE) if item is not None else None
        if model_id and model_id in self._registry:
            return self._registry.get(model_id)
        return None

    def select_model(self, model_id: str) -> bool:
        it = self._find_item(model_id)
        if it is None:
            return False
        self.model_tree.setCurrentItem(it)
        return True

    def _find_item(self, model_id: str) -> QTreeWidgetItem | None:
        for i in range(self.model_tree.topLevelItemCount()):
            top = self.model_tree.topLevelItem(i)
            for j in range(top.childCount()):
                if top.child(j).data(0, SPEC_ROLE) == model_id:
                    return top.child(j)
        return None

    def _on_tree_menu(self, pos) -> None:
        item = self.model_tree.itemAt(pos)
        model_id = item.data(0, SPEC_ROLE) if item is not None else None
        if not model_id or model_id not in self._registry:
            return
        spec = self._registry.get(model_id)
        menu = QMenu(self)
        card = menu.addAction("Model card…")
        remove = None
        if spec.kind in ("imported", "finetuned"):
            remove = menu.addAction("Remove from library…")
        chosen = menu.exec(self.model_tree.viewport().mapToGlobal(pos))
        if chosen is card:
            self.select_model(model_id)
            self.show_model_card()
        elif remove is not None and chosen is remove:
            self.remove_requested.emit(model_id)

    def _on_current_item_changed(
        self, item: QTreeWidgetItem | None, previous: QTreeWidgetItem | None
    ) -> None:
        if item is not None and item.data(0, SPEC_ROLE) is None:
            # a group header: move to its first model
            if item.childCount():
                self.model_tree.setCurrentItem(item.child(0))
            elif previous is not None:
                self.model_tree.setCurrentItem(previous)
            return
        spec = self.current_spec()
        self._apply_spec(spec)
        self.model_changed.emit(spec)

    def _apply_spec(self, spec: ModelSpec | None) -> None:
        st = spec.strength if spec else None
        self.strength_label.setVisible(st is not None)
        self.strength_row.setVisible(st is not None)
        if st is not None:
            self.strength_label.setText(st.label)
            tip = st.help + (f" ({st.unit})" if st.unit else "")
            self.strength_row.setToolTip(tip)
            span = st.maximum - st.minimum
            steps = int(span) if span == int(span) and span <= 200 else 100
            self._strength_scale = span / steps if steps else 1.0
            self.strength_slider.blockSignals(True)
            self.strength_slider.setRange(0, max(1, steps))
            self.strength_slider.setValue(
                round((st.default - st.minimum) / (self._strength_scale or 1))
            )
            self.strength_slider.blockSignals(False)
            self.strength_auto.setVisible(st.auto)
            self.strength_auto.blockSignals(True)
            self.strength_auto.setChecked(st.auto)
            self.strength_auto.blockSignals(False)
            self._on_auto_toggled(self.strength_auto.isChecked())
        has_kernel = bool(spec and "kernel" in spec.params)
        self.kernel_label.setVisible(has_kernel)
        self.kernel_edit.setVisible(has_kernel)
        self.info_button.setEnabled(spec is not None)
        self._update_buttons()

    def _on_strength_moved(self, _value: int) -> None:
        v = self.strength()
        self.strength_value.setText("—" if v is None else f"{v:g}")
        self.settings_changed.emit()

    def _on_auto_toggled(self, on: bool) -> None:
        self.strength_slider.setEnabled(not on)
        self._on_strength_moved(self.strength_slider.value())

    def strength(self) -> float | None:
        """The chosen strength, None for Auto (or a model without one)."""
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
        if value is None:
            self.strength_auto.setChecked(spec.strength.auto)
            return
        self.strength_auto.setChecked(False)
        self.strength_slider.setValue(
            round((value - spec.strength.minimum) / (self._strength_scale or 1))
        )

    def show_model_card(self) -> None:
        """Open the chosen model's card (not blocking)."""
        spec = self.current_spec()
        if spec is not None:
            dlg = ModelCardDialog(spec, self)
            dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dlg.open()

    # ---------------------------------------------------------------- options
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
        """The blur kernel typed for a model that takes one ("" when none)."""
        return self.kernel_edit.text().strip()

    def suggest_kernel(self, kernel: str) -> None:
        """Fill in `kernel` when the chosen model takes one and none is typed (e.g. the blur
        of a simulated degradation, so that deblurring undoes it)."""
        spec = self.current_spec()
        if kernel and spec is not None and "kernel" in spec.params and not self.kernel():
            self.kernel_edit.setText(kernel)

    def apply_preferences(self, prefs: Preferences) -> None:
        """Take the run settings of the preferences (device, tile size, precision)."""
        self.set_device(prefs.device)
        self.set_tile_size(prefs.tile_size)
        self.allow_reduced_precision = prefs.reduced_precision

    def store_preferences(self, prefs: Preferences) -> None:
        """Remember the device, the tile size and the model chosen."""
        prefs.device = self.device()
        prefs.tile_size = self.tile_size() or 0
        spec = self.current_spec()
        if spec is not None:
            prefs.last_model = spec.id

    def run_settings(self) -> RunSettings | None:
        """The chosen model with its options, or None when no model is chosen."""
        spec = self.current_spec()
        if spec is None:
            return None
        return RunSettings(spec, self.load_options(), self.tile_size())

    def load_options(self) -> LoadOptions:
        spec = self.current_spec()
        params: dict[str, Any] = {}
        if spec is not None and "kernel" in spec.params and self.kernel():
            params["kernel"] = self.kernel()
        return LoadOptions(
            device=self.device(),
            strength=self.strength(),
            allow_fp16=self.allow_reduced_precision,
            params=params,
        )

    # ---------------------------------------------------------------- run state
    def set_can_run(self, can: bool) -> None:
        self._can_run = can
        self._update_buttons()

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.model_tree.setEnabled(not busy)
        for w in (self.strength_row, self.kernel_edit, self.device_combo, self.tile_combo):
            w.setEnabled(not busy)
        if busy:
            self._t_first_tile = None
            self.progress.setRange(0, 0)  # busy indicator until the first tile
            self.progress_label.setText("Loading the model…")
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.run_button.setEnabled(
            self._can_run and not self._busy and self.current_spec() is not None
        )
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
        tooltip."""
        self.show_progress(
            tp.done,
            tp.total,
            detail=f"Tiles of {tp.tile_size} px on {tp.device or 'the CPU'}"
            + (f" in {tp.precision}" if tp.precision else "")
            + (f"\n{tp.message}" if tp.message else ""),
        )

    def show_batch_progress(self, bp: BatchProgress) -> None:
        self.show_progress(bp.index + (1 if bp.finished else 0), bp.total, unit="photos (batch)")

    def show_done(self, seconds: float, size: tuple[int, int]) -> None:
        """A run finished in `seconds` with a result of `size` (width, height)."""
        self.show_message(
            f"Done in {format_duration(seconds)}  ·  {size[0]} × {size[1]}", done=True
        )

    def show_message(self, text: str, *, done: bool | None = None) -> None:
        self.progress_label.setText(text)
        if done is not None:
            self.progress.setRange(0, 1)
            self.progress.setValue(1 if done else 0)


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
