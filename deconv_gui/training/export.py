"""Export a trained network as ``<id>.safetensors`` (fp16 storage) plus a ``<id>.json`` card."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from deconv_gui.models.networks import count_params


def describe_loss(config: dict[str, Any]) -> str:
    """The loss a config trains with, in words (for the card and each session's record)."""
    tail = float(config.get("mse_tail", 0.0))
    if config.get("loss") == "raw":
        base = "charbonnier on the linear mosaic + on a gamma-compressed copy"
        w = float(config.get("tail_tone_weight", 1.0))
        mse = f"MSE on the linear mosaic + {w:g}x on a gamma-compressed copy"
    else:
        base, mse = "charbonnier", "MSE"
    if tail >= 1.0:
        return mse
    return f"{base}, then {mse} for the last {tail:.0%}" if tail else base


def save_weights(module: nn.Module, path: str | Path, *, fp16: bool = True) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if fp16 else torch.float32
    sd = {k: v.detach().to("cpu", dtype).contiguous() for k, v in module.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(sd, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, path)
    return path


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def load_card(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        return {}
    return json.loads(p.read_text(encoding="utf-8"))


def write_card(card: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _validation_note(config: dict[str, Any]) -> str:
    holdout = int(config.get("data", {}).get("holdout", 0) or 0)
    held_val = [v for v in config.get("val", []) if v.get("folder") == "holdout"]
    if holdout and held_val:
        n = min(holdout, min(int(v.get("max_images") or holdout) for v in held_val))
        return (
            f"learning-curve PSNR is on {n} of {holdout} training-folder images held out of "
            "training (monitoring only: the last weights are shipped; the test sets are used "
            "only for the final evaluation)"
        )
    return (
        "learning-curve PSNR is on the first few test images (monitoring only: the last "
        "weights are shipped, no selection on the test set)"
    )


def _gpu(session: dict[str, Any]) -> str | None:
    """The GPU a session trained on: its ``gpu`` (since 2026-12-04), else read from the
    machine text of the records before (`train.describe_machine`: "NAME (CUDA), ...")."""
    if "gpu" in session:
        return str(session["gpu"]) if session["gpu"] else None
    machine = str(session.get("machine", ""))
    return machine.split(" (CUDA)")[0] if "(CUDA)" in machine else None


def _hardware(sessions: list[dict[str, Any]]) -> str:
    """What trained the model: "CPU", or the GPUs and for how many of its sessions."""
    gpus = [g for g in map(_gpu, sessions) if g is not None]
    if not gpus:
        return "CPU"
    names = ", ".join(sorted(set(gpus)))
    if len(gpus) == len(sessions):
        return names
    return f"CPU; {names} for {len(gpus)} of its {len(sessions)} sessions"


def make_card(
    config: dict[str, Any],
    module: nn.Module,
    *,
    sessions: list[dict[str, Any]],
    evaluation: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The model card: identity, architecture (enough to rebuild the module), tiling facts,
    training data and history (all sessions, each with its learning curve) and measured
    scores with the commands that produced them."""
    arch = config["architecture"]
    data = list(config.get("data", {}).get("folders", []))
    for s in sessions:  # a session may have trained on some of them, or on others
        data += [f for f in s.get("data", []) if f not in data]
    rf_fn = getattr(module, "receptive_field", None)
    rf = int(rf_fn()) if callable(rf_fn) else 16
    card: dict[str, Any] = {
        "id": config["id"],
        "name": config["name"],
        "task": config["task"],
        "scale": int(config.get("scale", 1)),
        "description": config.get("description", ""),
        "architecture": {
            "name": arch["name"],
            "hparams": dict(getattr(module, "hparams", arch.get("hparams", {}))),
        },
        "params": count_params(module),
        "receptive_field": rf,
        "pad_multiple": int(getattr(module, "pad_multiple", 1)),
        "fp16": bool(config.get("fp16", True)),
        "storage_dtype": "float16",
        "strength": config.get("strength"),
        "training": {
            "data": data,
            "data_note": "../shared/data/train only (BSD200 + T91); never the test sets",
            "degradation": config.get("degradation", {}),
            "patch": config.get("patch"),
            "batch": config.get("batch"),
            "optimizer": config.get("optimizer", {}),
            "schedule": config.get("schedule", {}),
            "loss": describe_loss(config),
            "hardware": _hardware(sessions),
            "steps": int(sum(s.get("steps", 0) for s in sessions)),
            "wall_minutes": round(sum(s.get("wall_minutes", 0.0) for s in sessions), 1),
            "sessions": sessions,
            "validation_note": _validation_note(config),
        },
        "evaluation": evaluation or [],
    }
    for key in ("cpu_tile", "order"):  # optional run-time hints (see resources/models/README)
        if config.get(key) is not None:
            card[key] = int(config[key])
    if config.get("retired"):  # why a newer model replaced it (`registry.retired_reason`)
        card["retired"] = str(config["retired"])
    if config.get("display_name"):  # what the app lists it as (plain words)
        card["display_name"] = str(config["display_name"])
    if config.get("input"):  # what the model takes: "bayer" (a camera's raw mosaic), ...
        card["input"] = str(config["input"])
    if config.get("wiener_nsr"):  # known-kernel deblur: Wiener at this NSR, then the network
        card["wiener_nsr"] = float(config["wiener_nsr"])
        card["options"] = ["kernel"]  # what the model takes besides the photo
    if extra:
        card.update(extra)
    return card
