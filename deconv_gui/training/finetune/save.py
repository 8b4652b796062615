"""Save a fine-tuned network into the user model library.

`save_finetuned(result, name)` writes ``weights.safetensors`` + ``card.json`` (kind
"finetuned", loader "deconv") through `deconv_gui.models.library.add_model` (atomic: a
hidden temporary folder, flushed, renamed into place), where
`deconv_gui.models.imported.user_specs` (and so `catalog.default_registry`) finds it. The
card records the base model, the data, the held-out scores and the verdict. A result the
guard refused is not written unless ``force=True``. The base model is never modified.
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deconv_gui.training.finetune.guard import WorseModelError
from deconv_gui.training.finetune.sources import MODE_LABELS, VAL_CROP

if TYPE_CHECKING:
    from deconv_gui.models.registry import ModelSpec
    from deconv_gui.training.finetune.job import FinetuneResult


def save_finetuned(result: FinetuneResult, name: str, *, force: bool = False) -> ModelSpec:
    """Write the fine-tuned network into the user model library and return its spec (kind
    "finetuned"). It shows up in `catalog.default_registry()` from now on.

    Raises `WorseModelError` (a `DeconvError`; nothing written) when the guard refused the
    result, unless ``force``; `ModelError` for a bad name or a library that cannot be
    written."""
    from deconv_gui.models import imported
    from deconv_gui.models.library import add_model, check_name

    display = check_name(name)
    if result.refused and not force:
        raise WorseModelError(result.message)

    def write_files(folder: Path) -> dict[str, Any]:
        from deconv_gui.training.export import save_weights

        weights = save_weights(result.module, folder / "weights.safetensors", fp16=False)
        sha = hashlib.sha256(weights.read_bytes()).hexdigest()
        return _card(result, display, weights.name, sha, weights.stat().st_size)

    return imported.spec_from_card(add_model(display, write_files))


def _card(result: FinetuneResult, name: str, file: str, sha: str, size: int) -> dict[str, Any]:
    from deconv_gui import __version__
    from deconv_gui.models import imported

    base = result.base_card
    now = _dt.datetime.now(_dt.timezone.utc)
    b, a = result.before, result.after
    label = MODE_LABELS[result.data.mode]
    ft = {
        "base_model": {"id": result.base_id, "name": result.base_name, "kind": result.base_kind},
        "mode": result.data.mode,
        "mode_label": label,
        "objective": result.settings.get("objective"),
        "data": result.data.describe(),
        "degrade": result.data.degrade,
        "train_photos": result.train_count,
        **({"left_out": list(result.left_out)} if result.left_out else {}),
        "val_photos": result.val_count,
        # what the held-out numbers (and the keep-or-refuse verdict) were measured on
        "val_measured_on": (
            f"the central {VAL_CROP} x {VAL_CROP} px (at most) of each of the "
            f"{result.val_count} held-out photo(s)"
        ),
        "steps": result.steps,
        "val_metric": b.get("metric"),
        "val_psnr_before": b.get("psnr"),
        "val_psnr_after": a.get("psnr"),
        "val_ssim_before": b.get("ssim"),
        "val_ssim_after": a.get("ssim"),
        "val_input_psnr": b.get("input_psnr"),
        "verdict": result.verdict.as_dict(),
        "device": result.device,
        "minutes": round(result.elapsed_s / 60.0, 2),
        "date": now.date().isoformat(),
        **{k: result.settings[k] for k in ("batch", "patch", "lr", "seed")},
        "precision": result.settings.get("precision", "fp32"),
    }
    gain = (
        f"{ft['val_psnr_before']:.2f} -> {ft['val_psnr_after']:.2f} dB"
        if ft["val_psnr_before"] is not None and ft["val_psnr_after"] is not None
        else "n/a"
    )
    return {
        "format": imported.CARD_FORMAT,
        "name": name,
        "task": base["task"],
        "scale": int(base.get("scale", 1)),
        "kind": "finetuned",
        "loader": "deconv",
        "description": (
            f"{result.base_name} fine-tuned on {result.train_count} of your photos "
            f"({label.lower()}, {result.steps} steps; held-out {ft['val_metric']} on the "
            f"centre of {result.val_count} photo(s): {gain})."
        ),
        "architecture": copy.deepcopy(base["architecture"]),
        "params": int(sum(p.numel() for p in result.module.parameters())),
        "receptive_field": int(base.get("receptive_field", 16)),
        "pad_multiple": int(base.get("pad_multiple", 1)),
        "fp16": bool(base.get("fp16", False)),
        "storage_dtype": "float32",
        "strength": copy.deepcopy(base.get("strength")),
        "file": file,
        "sha256": sha,
        "size_bytes": size,
        "finetune": ft,
        "training": {
            "sessions": [
                *copy.deepcopy(base.get("training", {}).get("sessions", [])),
                {
                    "started_from": result.base_id,
                    "finetune": result.data.mode,
                    "steps": result.steps,
                    "wall_minutes": ft["minutes"],
                    "date": ft["date"],
                    "curve": result.curve[-200:],
                },
            ]
        },
        "created_at": now.isoformat(timespec="seconds"),
        "app_version": __version__,
        **({"input": base["input"]} if base.get("input") else {}),
        **copy.deepcopy(result.card_extra),
    }
