"""The one explicit list of models the app knows: `default_registry()`."""

from __future__ import annotations

from deconv_gui.models import bundled, classical, imported
from deconv_gui.models.registry import ModelRegistry


def default_registry() -> ModelRegistry:
    """Bundled networks, classical baselines, then the user's imported/fine-tuned models."""
    reg = ModelRegistry()
    for spec in bundled.bundled_specs():
        reg.register(spec)
    for spec in classical.classical_specs():
        reg.register(spec)
    for spec in imported.user_specs():
        reg.register(spec, replace=True)
    return reg
