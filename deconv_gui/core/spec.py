"""What the core needs of a model: `RestoreSpec`, `StrengthRange` and `LoadOptions`.

The core knows no model registry. A spec is anything with these attributes and a
``build(options)`` that returns a `TileProcessor` (`deconv_gui.models.registry.ModelSpec`
in practice, and small fakes in tests). `LoadOptions` lives here so that the core can name
it; `deconv_gui.models.registry` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from deconv_gui.core.tiling import TileProcessor


@dataclass(frozen=True)
class LoadOptions:
    """How to build a processor: device ("auto", "cpu", "cuda", "mps"), fp16 allowed,
    strength (None = model default / automatic estimate), model-specific parameters and
    ``ensemble`` ("Extra quality": networks average eight flipped passes per tile, 8x the
    time; see `core.runner`)."""

    device: str = "auto"
    strength: float | None = None
    allow_fp16: bool = True
    params: dict[str, Any] = field(default_factory=dict)
    ensemble: bool = False


class StrengthRange(Protocol):
    """A model's strength control as the core validates it (`models.registry.StrengthSpec`)."""

    @property
    def label(self) -> str: ...

    @property
    def minimum(self) -> float: ...

    @property
    def maximum(self) -> float: ...


class RestoreSpec(Protocol):
    """A model as the core drives it: what it does, its scale, whether it tiles well, its
    strength range (None: no strength control) and how to build its processor."""

    @property
    def id(self) -> str: ...

    @property
    def task(self) -> str: ...

    @property
    def scale(self) -> int: ...

    @property
    def tiles_well(self) -> bool: ...

    @property
    def strength(self) -> StrengthRange | None: ...

    def build(self, options: LoadOptions, /) -> TileProcessor: ...
