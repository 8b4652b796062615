"""User-imported and fine-tuned models from the user library. Filled in by the import work."""

from __future__ import annotations

from deconv_gui.models.registry import ModelSpec


def user_specs() -> list[ModelSpec]:
    return []
