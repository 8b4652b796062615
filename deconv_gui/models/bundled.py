"""Bundled networks (resources/models/*.safetensors + *.json cards). Filled in by the training work."""

from __future__ import annotations

from deconv_gui.models.registry import ModelSpec


def bundled_specs() -> list[ModelSpec]:
    return []
