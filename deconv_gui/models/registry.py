"""Model specs and the registry.

A `ModelSpec` (a `deconv_gui.core.spec.RestoreSpec` for the core) describes a model (what it does, its scale, the context it needs around a
tile, fp16 support, an optional strength control and its card) and knows how to build a
`TileProcessor` for the tiled engine (`deconv_gui.core.tiling.restore_tiled`).

Registration is one explicit list (`default_registry`), no import-time magic. Tests build
their own small registry with tiny networks.
"""

from __future__ import annotations

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
    "card_order",
    "default_suffix",
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
            known = ", ".join(self._specs) or "none"
            raise ModelError(f"unknown model '{model_id}' (known: {known})") from None

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
        the rest."""
        order = {"finetuned": 2, "bundled": 0, "imported": 3, "classical": 1}
        cands = sorted(self.by_task(task), key=lambda s: (order.get(s.kind, 9), card_order(s)))
        return cands[0] if cands else None
