"""The restore panel's recipe: its steps (add, remove, reorder, select, edit) and recipe
files. `RecipeSteps` is a mixin of `RestorePanel`, which owns the widgets it uses
(`step_list`, the step buttons, `picker`, `blur`, `amount`, `detail`) and the state
(`_steps`, `_index`, `_registry`, `_loading`, `_busy`)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFileDialog, QListWidgetItem

from deconv_gui.core.recipe import (
    Recipe,
    RecipeError,
    RecipeStep,
    load_recipe,
    save_recipe,
    unknown_params,
)
from deconv_gui.gui.panel_widgets import step_summary
from deconv_gui.models.registry import ModelSpec, plain_description

if TYPE_CHECKING:
    from deconv_gui.models.registry import ModelRegistry

MAX_STEPS = 6


class RecipeSteps:
    """The recipe part of `RestorePanel` (see the module doc)."""

    _steps: list[RecipeStep]
    _index: int
    _registry: ModelRegistry
    _loading: bool
    _busy: bool

    def recipe(self) -> Recipe | None:
        """The steps as a `Recipe` (None when no step has a model)."""
        steps = tuple(s for s in self._steps if s.model and s.model in self._registry)
        return Recipe(steps) if steps else None

    def steps(self) -> list[RecipeStep]:
        return list(self._steps)

    def selected_step(self) -> int:
        return self._index

    def set_recipe(self, recipe: Recipe | None) -> None:
        """Show `recipe`'s steps (None: one step with the picker's first model). Steps whose
        model is not installed are left out, with a notice."""
        if recipe is None:
            spec = self.picker.current_spec()
            self._steps = [self._new_step(spec)] if spec is not None else []
        else:
            missing = [s.model for s in recipe.steps if s.model not in self._registry]
            self._steps = [s for s in recipe.steps if s.model in self._registry]
            if missing:
                self.notice.emit(f"Not installed, left out: {', '.join(missing)}", "warning", 8000)
            if not self._steps:
                spec = self.picker.current_spec()
                self._steps = [self._new_step(spec)] if spec is not None else []
        self._index = 0
        self._refresh_list()
        self._load_step()
        self.recipe_changed.emit()

    def add_step(self) -> None:
        if len(self._steps) >= MAX_STEPS:
            return
        spec = self.current_spec() or self.picker.current_spec()
        if spec is None:
            return
        self._steps.insert(self._index + 1, self._new_step(spec))
        self._index += 1
        self._refresh_list()
        self._load_step()
        self.recipe_changed.emit()

    def remove_step(self) -> None:
        if len(self._steps) <= 1:
            return
        del self._steps[self._index]
        self._index = min(self._index, len(self._steps) - 1)
        self._refresh_list()
        self._load_step()
        self.recipe_changed.emit()

    def move_step(self, delta: int) -> None:
        j = self._index + delta
        if not 0 <= j < len(self._steps):
            return
        s = self._steps
        s[self._index], s[j] = s[j], s[self._index]
        self._index = j
        self._refresh_list()
        self._load_step()
        self.recipe_changed.emit()

    def select_step(self, index: int) -> None:
        self.step_list.setCurrentRow(index)

    def _new_step(self, spec: ModelSpec | None) -> RecipeStep:
        if spec is None:
            return RecipeStep("")
        st = spec.strength
        strength = None if st is None or st.auto else st.default
        params = {"kernel": self.blur.spec()} if "kernel" in spec.params else {}
        return RecipeStep(spec.id, strength, params=params)

    def _refresh_list(self) -> None:
        lst = self.step_list
        lst.blockSignals(True)
        lst.clear()
        for i, step in enumerate(self._steps, 1):
            spec = self._registry.get(step.model) if step.model in self._registry else None
            item = QListWidgetItem(f"{i}.  {step_summary(spec, step)}")
            if spec is not None:
                item.setToolTip(plain_description(spec))
            lst.addItem(item)
        lst.setCurrentRow(self._index)
        lst.blockSignals(False)
        n = len(self._steps)
        self.remove_button.setEnabled(n > 1 and not self._busy)
        self.up_button.setEnabled(self._index > 0 and not self._busy)
        self.down_button.setEnabled(self._index < n - 1 and not self._busy)
        self.add_button.setEnabled(n < MAX_STEPS and n > 0 and not self._busy)

    def _on_step_selected(self, row: int) -> None:
        if 0 <= row < len(self._steps) and row != self._index:
            self._index = row
            self._refresh_list()
            self._load_step()

    def _load_step(self) -> None:
        """Fill the controls from the selected step."""
        step = self._steps[self._index] if self._steps else None
        spec = self.current_spec()
        self._loading = True
        try:
            if spec is not None:
                self.picker.select_model(spec.id)
            self._apply_spec(spec)
            if step is not None and spec is not None:
                if spec.strength is not None:
                    self._show_strength(step.strength)
                if "kernel" in step.params:
                    self.blur.set_spec(str(step.params["kernel"]))
                self.amount.set_value(step.amount)
                self.detail.set_value(step.detail)
        finally:
            self._loading = False
        self.model_changed.emit(spec)
        self._update_buttons()

    def _edit_step(self, **changes: Any) -> None:
        if self._loading or not self._steps:
            return
        self._steps[self._index] = replace(self._steps[self._index], **changes)
        self._refresh_list()
        self.recipe_changed.emit()

    def save_recipe_dialog(self) -> str:
        recipe = self.recipe()
        if recipe is None:
            return ""
        path, _ = QFileDialog.getSaveFileName(
            self, "Save Recipe", self.recipe_dir, "Recipes (*.json)"
        )
        if path:
            self.save_recipe_to(path)
        return path

    def save_recipe_to(self, path: str) -> bool:
        recipe = self.recipe()
        if recipe is None:
            return False
        try:
            save_recipe(recipe, path)
        except RecipeError as exc:
            self.notice.emit(str(exc), "error", 0)
            return False
        self.notice.emit(f"Recipe saved to {path}", "info", 5000)
        return True

    def load_recipe_dialog(self) -> str:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load Recipe", self.recipe_dir, "Recipes (*.json)"
        )
        if path:
            self.load_recipe_from(path)
        return path

    def load_recipe_from(self, path: str) -> bool:
        try:
            recipe = load_recipe(path)
        except RecipeError as exc:
            self.notice.emit(str(exc), "error", 0)
            return False
        for i, st in enumerate(recipe.steps, 1):
            spec = self._registry.get(st.model) if st.model in self._registry else None
            wrong = unknown_params(st, spec.params) if spec is not None else None
            if wrong:
                self.notice.emit(f"Step {i} ({st.model}) of the recipe: {wrong}", "error", 0)
                return False
        self.set_recipe(recipe)
        return True

    # ================================================================ suggestion
