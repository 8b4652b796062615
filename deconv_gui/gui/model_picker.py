"""`ModelPicker`: one compact drop-down of the models, grouped by what they do.

Groups follow `models.registry.PICKER_GROUPS` ("Denoise", "Upscale", "Sharpen", "JPEG
artifacts", "Camera RAW", "Classic methods", "Your models"); each model is listed by its
plain name (`plain_name`: "Denoise - camera noise", "Upscale x2"), the architecture only in
its card (the tooltip). A task the app knows but has no model for yet (the JPEG artifact
remover before its weights ship, the RAW denoiser) is listed greyed out, saying why. Retired
models (`retired_reason`: a newer one measures better and is no slower) are left out unless
one is the current choice.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from deconv_gui.gui.model_card import card_html
from deconv_gui.models.registry import (
    PICKER_GROUPS,
    ModelRegistry,
    ModelSpec,
    picker_group,
    picker_order,
    plain_name,
    retired_reason,
)

ID_ROLE = Qt.ItemDataRole.UserRole + 1
INDENT_ROLE = Qt.ItemDataRole.UserRole + 2
#: tasks listed even without a model, and what the greyed-out entry says
MISSING = {
    "jpeg": "Remove JPEG artifacts (not installed yet)",
    "raw-denoise": "RAW denoise (for camera RAW files, coming)",
}


class _IndentDelegate(QStyledItemDelegate):
    """Indents the entries under their group title in the open list."""

    def paint(self, painter, option, index) -> None:  # noqa: ANN001 - Qt API
        if index.data(INDENT_ROLE):
            option = QStyleOptionViewItem(option)
            option.rect.adjust(16, 0, 0, 0)
        super().paint(painter, option, index)


class ModelPicker(QComboBox):
    """The model drop-down. ``model_changed(spec | None)`` when the choice changes."""

    model_changed = Signal(object)

    def __init__(self, registry: ModelRegistry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._registry = registry
        self._retired_shown = ""  # a retired model chosen by id (a recipe, the last session)
        self.setModel(QStandardItemModel(self))
        self.setMaxVisibleItems(24)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(16)
        self.setItemDelegate(_IndentDelegate(self))
        self.currentIndexChanged.connect(lambda _i: self.model_changed.emit(self.current_spec()))
        self.set_registry(registry)

    def set_registry(self, registry: ModelRegistry) -> None:
        """List `registry`'s models, keeping the one chosen when it is still there."""
        keep = self.current_id()
        self._registry = registry
        self.blockSignals(True)
        model: QStandardItemModel = self.model()  # type: ignore[assignment]
        model.clear()
        bold = QFont(self.font())
        bold.setWeight(QFont.Weight.DemiBold)
        for key, title in PICKER_GROUPS:
            # retired models stay out of the list, unless one is the current choice (a
            # recipe or preset that names it): then it is listed, marked, so it shows
            specs = [
                s
                for s in registry
                if picker_group(s) == key
                and (s.id in (keep, self._retired_shown) or retired_reason(s) is None)
            ]
            missing = MISSING.get(key) if not specs else None
            if not specs and missing is None:
                continue
            head = QStandardItem(title)
            head.setFlags(Qt.ItemFlag.NoItemFlags)
            head.setFont(bold)
            model.appendRow(head)
            if missing is not None:
                item = QStandardItem(missing)
                item.setFlags(Qt.ItemFlag.NoItemFlags)
                item.setData(True, INDENT_ROLE)
                model.appendRow(item)
                continue
            specs.sort(key=picker_order)
            for spec in specs:
                shown = plain_name(spec)
                if retired_reason(spec) is not None:
                    shown += " (retired)"
                item = QStandardItem(shown)
                item.setData(spec.id, ID_ROLE)
                item.setData(True, INDENT_ROLE)
                item.setToolTip(card_html(spec, short=True))
                model.appendRow(item)
        self.blockSignals(False)
        if not (keep and self.select_model(keep)):
            self._select_first()
        self.model_changed.emit(self.current_spec())

    def _select_first(self) -> None:
        for i in range(self.count()):
            if self.itemData(i, ID_ROLE):
                self.setCurrentIndex(i)
                return
        self.setCurrentIndex(-1)

    def current_id(self) -> str:
        return str(self.currentData(ID_ROLE) or "")

    def current_spec(self) -> ModelSpec | None:
        mid = self.current_id()
        return self._registry.get(mid) if mid and mid in self._registry else None

    def select_model(self, model_id: str) -> bool:
        i = self.findData(model_id, ID_ROLE)
        if (
            i < 0
            and model_id in self._registry
            and model_id != self._retired_shown
            and retired_reason(self._registry.get(model_id)) is not None
        ):  # not listed because retired: list it (marked) now that it is asked for
            self._retired_shown = model_id
            self.set_registry(self._registry)
            i = self.findData(model_id, ID_ROLE)
        if i < 0:
            return False
        self.setCurrentIndex(i)
        return True

    def entries(self) -> list[tuple[str, str, bool]]:
        """What the list shows: (text, model id or "", selectable), in order."""
        out = []
        for i in range(self.count()):
            item = self.model().item(i)  # type: ignore[attr-defined]
            out.append((item.text(), str(item.data(ID_ROLE) or ""), item.isEnabled()))
        return out
