"""Tiny versions of the app's networks for tests (card + safetensors, bundled style).

Shared by the training, fine-tune and fine-tune panel tests: a RED-UNet with 8/16 channels
(denoise with a noise-level input, or deblur without) and an FSRCNN x2 with 8 channels, each
a few thousand parameters so a training step takes milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from deconv_gui.models.networks import build_network
from deconv_gui.training.export import save_weights, write_card

NOISE_STRENGTH = {"label": "Noise level", "minimum": 0, "maximum": 75, "default": 25, "auto": True}
RAW_STRENGTH = {"label": "Noise level", "minimum": 10, "maximum": 400, "default": 100, "auto": True,
                "unit": "% of measured"}  # fmt: skip


def tiny_architecture(task: str) -> dict[str, Any]:
    if task == "upscale":
        return {"name": "fsrcnnplus", "hparams": {"scale": 2, "channels": 8, "blocks": 1}}
    if task == "raw-denoise":  # packed Bayer planes + a per-photosite noise map
        return {
            "name": "redunet",
            "hparams": {
                "channels": [8, 16],
                "enc_blocks": 1,
                "mid_blocks": 1,
                "dec_blocks": 1,
                "noise_map": True,
                "in_ch": 4,
                "map_ch": 4,
            },
        }
    return {
        "name": "redunet",
        "hparams": {
            "channels": [8, 16],
            "enc_blocks": 1,
            "mid_blocks": 1,
            "dec_blocks": 1,
            "noise_map": task == "denoise",
        },
    }


def tiny_card(task: str, model_id: str | None = None) -> dict[str, Any]:
    arch = tiny_architecture(task)
    return {
        "id": model_id or f"tiny-{task}",
        "name": f"Tiny {task}",
        "task": task,
        "scale": 2 if task == "upscale" else 1,
        "architecture": arch,
        "receptive_field": 12,
        "pad_multiple": 4 if arch["name"] == "redunet" else 1,
        "fp16": False,
        "strength": dict(NOISE_STRENGTH) if task == "denoise" else None,
        **({"input": "bayer", "strength": dict(RAW_STRENGTH)} if task == "raw-denoise" else {}),
    }


def write_tiny_model(folder: Path, task: str, model_id: str | None = None) -> Path:
    """Write ``<id>.safetensors`` + ``<id>.json`` (seeded weights) into `folder`; returns
    the card's path (load it with ``bundled.spec_from_card``)."""
    card = tiny_card(task, model_id)
    torch.manual_seed(0)
    net = build_network(card["architecture"]["name"], card["architecture"]["hparams"])
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(net, folder / f"{card['id']}.safetensors", fp16=False)
    return write_card(card, folder / f"{card['id']}.json")
