"""Model specs and the registry.

A `ModelSpec` (a `deconv_gui.core.spec.RestoreSpec` for the core) describes a model (what it does, its scale, the context it needs around a
tile, fp16 support, an optional strength control and its card) and knows how to build a
`TileProcessor` for the tiled engine (`deconv_gui.core.tiling.restore_tiled`).

Registration is one explicit list (`default_registry`), no import-time magic. Tests build
their own small registry with tiny networks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from deconv_gui.core.spec import LoadOptions
from deconv_gui.errors import ModelError

__all__ = [
    "KINDS",
    "TASKS",
    "LoadOptions",
    "ModelRegistry",
    "ModelSpec",
    "StrengthSpec",
    "PICKER_GROUPS",
    "card_order",
    "default_suffix",
    "model_for_step",
    "picker_group",
    "plain_description",
    "plain_name",
    "recipe_suffix",
]

TASKS = ("denoise", "upscale", "deblur", "jpeg", "raw-denoise", "restore")
_TASK_SUFFIX = {
    "denoise": "_denoised",
    "upscale": "_x{scale}",
    "deblur": "_deblurred",
    "jpeg": "_dejpeg",
    "raw-denoise": "_denoised",
}


def default_suffix(task: str, scale: int) -> str:
    """File-name suffix for a result: ``_denoised``, ``_x4``, ``_deblurred``, ``_restored``."""
    return _TASK_SUFFIX.get(task, "_restored").format(scale=scale)


def recipe_suffix(specs: Iterable[Any]) -> str:
    """The suffix of a result of several models in a row (one model: its own suffix;
    several: ``_restored``, or ``_restored_xN`` when together they enlarge N times)."""
    specs = list(specs)
    if len(specs) == 1:
        return default_suffix(specs[0].task, int(specs[0].scale))
    scale = 1
    for sp in specs:
        scale *= int(sp.scale)
    return f"_restored_x{scale}" if scale > 1 else "_restored"


KINDS = ("bundled", "classical", "imported", "finetuned")


@dataclass(frozen=True)
class StrengthSpec:
    """A user-facing strength control, e.g. the noise level of a blind denoiser.

    ``auto`` means the model can estimate the value itself when the user gives none.
    """

    label: str
    minimum: float
    maximum: float
    default: float
    auto: bool = False
    unit: str = ""
    help: str = ""


@dataclass(frozen=True)
class ModelSpec:
    id: str
    name: str
    task: str  # one of TASKS
    scale: int
    kind: str  # one of KINDS
    description: str
    # build(options) -> TileProcessor (see deconv_gui.core.tiling.TileProcessor)
    build: Callable[[LoadOptions], Any] = field(repr=False, compare=False)
    receptive_field: int = 16  # context (px, input scale) a tile needs on each side
    tiles_well: bool = True
    fp16: bool = False
    strength: StrengthSpec | None = None
    architecture: str = ""
    card: dict[str, Any] = field(default_factory=dict, compare=False)
    trainable: bool = False  # can the fine-tune panel train it further?
    params: tuple[str, ...] = ()  # names of extra LoadOptions.params it accepts, e.g. "kernel"
    input: str = "rgb"  # "rgb": photos; "bayer": a camera's raw mosaic (core.rawpipe)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "task": self.task,
            "scale": self.scale,
            "kind": self.kind,
            "description": self.description,
            "architecture": self.architecture,
            "receptive_field": self.receptive_field,
            "fp16": self.fp16,
            "trainable": self.trainable,
            "params": list(self.params),
            "input": self.input,
            "strength": asdict(self.strength) if self.strength else None,
            "card": self.card,
        }


def card_order(spec: ModelSpec) -> int:
    """A bundled card's ``order`` (lower first; default 50): which of several models for a
    task is listed first and used by default, e.g. the one that measured best."""
    try:
        return int((spec.card or {}).get("order", 50))
    except (TypeError, ValueError):
        return 50


def retired_reason(spec: ModelSpec) -> str | None:
    """Why a bundled model was retired (its card's ``retired``: a newer model measures better
    on every row and is no slower), or None. A retired model is left out of the app's model
    list and never chosen by default, but still loads by its id (CLI, recipes, presets,
    batch manifests that name it)."""
    why = (spec.card or {}).get("retired")
    if not why:
        return None
    return why.strip() if isinstance(why, str) and why.strip() else "retired"


#: which kind of model a task's default comes from first
_KIND_PREFERENCE = {"bundled": 0, "classical": 1, "finetuned": 2, "imported": 3}


def preference(spec: ModelSpec) -> tuple[bool, int, int]:
    """Sort key of the model chosen by default (lowest first): not retired, then bundled
    networks, classic methods, fine-tuned and imported models, then the card's order."""
    return (retired_reason(spec) is not None, _KIND_PREFERENCE.get(spec.kind, 9), card_order(spec))


class ModelRegistry:
    """An ordered collection of `ModelSpec`s, looked up by id."""

    def __init__(self, specs: Iterable[ModelSpec] = ()) -> None:
        self._specs: dict[str, ModelSpec] = {}
        for s in specs:
            self.register(s)

    def register(self, spec: ModelSpec, *, replace: bool = False) -> None:
        if spec.task not in TASKS:
            raise ValueError(f"unknown task {spec.task!r} for model {spec.id!r}")
        if spec.kind not in KINDS:
            raise ValueError(f"unknown kind {spec.kind!r} for model {spec.id!r}")
        if spec.id in self._specs and not replace:
            raise ValueError(f"model id {spec.id!r} registered twice")
        self._specs[spec.id] = spec

    def unregister(self, model_id: str) -> None:
        self._specs.pop(model_id, None)

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self._specs[model_id]
        except KeyError:
            import difflib

            from deconv_gui.models.library import removed_ids

            if model_id in removed_ids():  # (a preset or recipe that named it)
                raise ModelError(
                    f"the model '{model_id}' was removed from your model library: choose "
                    "another (`deconv-gui models` lists them; a preset that named it is saved "
                    "again with `deconv-gui presets save`)"
                ) from None
            close = difflib.get_close_matches(str(model_id), list(self._specs), n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise ModelError(
                f"unknown model '{model_id}' ({hint}`deconv-gui models` lists them all)"
            ) from None

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._specs

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def by_task(self, task: str) -> list[ModelSpec]:
        return [s for s in self._specs.values() if s.task == task]

    def default_for(self, task: str) -> ModelSpec | None:
        """The preferred model for a task: bundled networks first (in `card_order`), then
        the rest; retired models (`retired_reason`) only when nothing else does the task."""
        return min(self.by_task(task), key=preference, default=None)


# ------------------------------------------------------------------ plain words
#: what each task is called in the app's model picker (by what it does, not how)
TASK_LABELS = {
    "denoise": "Denoise",
    "upscale": "Upscale",
    "deblur": "Sharpen",
    "jpeg": "Remove JPEG artifacts",
    "raw-denoise": "RAW denoise",
    "restore": "Restore",
}
#: the picker's groups in order: (key, title); `picker_group` says where a model goes
PICKER_GROUPS = (
    ("denoise", "Denoise"),
    ("upscale", "Upscale"),
    ("deblur", "Sharpen"),
    ("jpeg", "JPEG artifacts"),
    ("raw-denoise", "Camera RAW"),
    ("restore", "Restore"),
    ("classical", "Classic methods"),
    ("yours", "Your models"),
)


def picker_group(spec: ModelSpec) -> str:
    """The picker group of `spec`: its task for bundled networks, "classical" for the
    classic methods, "yours" for imported and fine-tuned models."""
    if spec.kind == "classical":
        return "classical"
    if spec.kind in ("imported", "finetuned"):
        return "yours"
    return spec.task


#: within a picker group: the app's networks, then fine-tuned, imported, classic methods
_PICKER_KIND_RANK = {"bundled": 0, "finetuned": 1, "imported": 2, "classical": 3}


def picker_order(spec: ModelSpec) -> tuple[int, int, int, str]:
    """Sort key of the model picker's list: its group (`PICKER_GROUPS` order), then the
    kind of model, the card's ``order`` and the name shown."""
    groups = [key for key, _title in PICKER_GROUPS]
    group = picker_group(spec)
    at = groups.index(group) if group in groups else len(groups)
    return (at, _PICKER_KIND_RANK.get(spec.kind, 9), card_order(spec), plain_name(spec))


def plain_name(spec: ModelSpec) -> str:
    """What the app calls `spec`: the card's ``display_name`` ("Denoise - camera noise"),
    else a name made from its task and scale for bundled networks ("Upscale x2"), else its
    name (classical, imported and fine-tuned models keep theirs)."""
    shown = (spec.card or {}).get("display_name")
    if isinstance(shown, str) and shown.strip():
        return shown.strip()
    if spec.kind == "bundled":
        label = TASK_LABELS.get(spec.task, spec.task.capitalize())
        return f"{label} x{spec.scale}" if spec.scale != 1 else label
    return spec.name.removesuffix(" (classical)")


_TASK_HELP = {
    "denoise": "Removes grain and colour noise. Auto measures how noisy the photo is; a "
    "higher strength smooths more.",
    "upscale": "Makes the photo {scale} times larger, drawing fine detail instead of "
    "blurry pixels.",
    "deblur": "Sharpens a photo that is out of focus, shaken or soft all over.",
    "jpeg": "Removes the blocks, halos and smeared colour of JPEG compression. Auto reads "
    "the quality the file was saved at.",
    "raw-denoise": "Removes noise from camera RAW files before they are developed.",
    "restore": "Restores the photo.",
}


def plain_description(spec: ModelSpec) -> str:
    """What `spec` does, in a photographer's words (the card's ``summary`` if it has one;
    the architecture stays in the model card)."""
    summary = (spec.card or {}).get("summary")
    if isinstance(summary, str) and summary.strip():
        return summary.strip()
    text = _TASK_HELP.get(spec.task, spec.description).format(scale=spec.scale)
    if spec.kind == "classical":
        text += " A classic method, without a neural network."
    elif spec.kind == "imported":
        text = spec.description or text
    return text


def model_for_step(
    registry: ModelRegistry,
    task: str,
    scale: int = 1,
    *,
    camera: tuple[str | None, str | None] | None = None,
    iso: float | None = None,
) -> ModelSpec | None:
    """The model the app and the CLI use for a suggested step (`core.analyze.Step`): the
    first of that task and scale, bundled networks first (in `card_order`), then classic
    methods, fine-tuned and imported models, retired ones last; None when no model does that.

    A model tuned on the photo's camera (``camera`` = (make, model) of a RAW file; its card's
    ``camera``) comes first: the one whose ISO range holds ``iso``, else the nearest."""
    cands = [s for s in registry.by_task(task) if int(s.scale) == int(scale)]
    cands.sort(key=preference)
    if camera is not None:
        mine = [s for s in cands if same_camera(s, camera)]
        if mine:
            return min(mine, key=lambda s: _iso_distance(s, iso))
    return cands[0] if cands else None


def noise_probe(registry: ModelRegistry) -> ModelSpec | None:
    """The denoiser `core.analyze` measures noise with (what it removes on Auto): the
    default denoiser when it is a bundled network (its threshold, `NOISY_REMOVED`, was set
    on that), else None (the estimate alone)."""
    spec = registry.default_for("denoise")
    return spec if spec is not None and spec.kind == "bundled" else None


def jpeg_probe(registry: ModelRegistry) -> ModelSpec | None:
    """The JPEG artifact remover `core.analyze` runs before its noise probe on a photo that
    will get the JPEG step: the default one when it is a bundled network, else None."""
    spec = registry.default_for("jpeg")
    return spec if spec is not None and spec.kind == "bundled" else None


def same_camera(spec: ModelSpec, camera: tuple[str | None, str | None]) -> bool:
    """``spec`` was tuned on this camera body (its card's ``camera``: make and model;
    `core.camera_noise.same_body`)."""
    from deconv_gui.core.camera_noise import same_body

    cam = (spec.card or {}).get("camera")
    return isinstance(cam, dict) and same_body((cam.get("make"), cam.get("model")), camera)


def _iso_distance(spec: ModelSpec, iso: float | None) -> float:
    """How far ``iso`` is from the card's ISO range (stops; 0 inside it or without one)."""
    rng = (spec.card or {}).get("iso_range")
    if not iso or not rng:
        return 0.0
    lo, hi = float(rng[0]), float(rng[1])
    if lo <= iso <= hi:
        return 0.0
    return abs(math.log2(iso / (lo if iso < lo else hi)))
