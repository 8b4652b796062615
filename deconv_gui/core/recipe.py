"""Recipes: several models in a row, as data (DESIGN.md section 7).

A `Recipe` is an ordered list of `RecipeStep` (model id, strength, Amount, Detail and model
parameters) with a format version; it is saved as JSON, edited by the app and run by the CLI
(``--model a,b,c`` or ``--recipe recipe.json``) and batch. A single model is a one-step
recipe.

`recipe_job(recipe, resolve, ...)` is a `PhotoJob` (see `core.pipeline`): for each step it
runs the model on the previous step's result (`restore_photo`, so metadata travels and an
upscale resizes the alpha), then applies that step's Amount and Detail against the step's
input (`core.finish`). Tile progress of every step is passed on with a message naming the
step. A `StepCache` keeps each step's model output keyed by everything that produced it (the
earlier steps in full, this step's model, strength and parameters), so rerunning after a
change starts from the first changed step (the app keeps one per photo); a step's own
Amount and Detail are not in its key: they are reapplied without rerunning its model.

The core knows no registry: ``resolve(model_id)`` returns the `RestoreSpec`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deconv_gui.core.finish import finish
from deconv_gui.core.image import Photo
from deconv_gui.core.io import DEFAULT_MAX_PIXELS, megapixels_text
from deconv_gui.core.pipeline import restore_photo
from deconv_gui.core.rawpipe import check_order, restore_raw_photo, works_on_mosaic
from deconv_gui.core.spec import LoadOptions
from deconv_gui.errors import DeconvError, ImageWriteError

if TYPE_CHECKING:
    from deconv_gui.core.pipeline import PhotoJob
    from deconv_gui.core.spec import RestoreSpec
    from deconv_gui.core.tiling import TileProgress

RECIPE_VERSION = 1
_STEP_KEYS = {"model", "strength", "amount", "detail", "params"}


class RecipeError(DeconvError):
    """A recipe file or spec that cannot be used (one readable line)."""


@dataclass(frozen=True)
class RecipeStep:
    model: str
    strength: float | None = None  # None: the model's default or its Auto
    amount: float = 1.0  # 0-1: blend with the step's input
    detail: float = 0.0  # 0-1: give back removed fine detail
    params: dict[str, Any] = field(default_factory=dict)

    def model_key(self) -> str:
        """What this step's model output depends on besides its input (not its own Amount
        and Detail: they are reapplied without rerunning the model)."""
        return json.dumps([self.model, self.strength, self.params], sort_keys=True)

    def full_key(self) -> str:
        """Everything that shapes what this step hands to the next one."""
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Recipe:
    steps: tuple[RecipeStep, ...]
    name: str = ""

    def __post_init__(self) -> None:
        if not self.steps:
            raise RecipeError("a recipe needs at least one step")
        for i, s in enumerate(self.steps, 1):
            if not s.model:
                raise RecipeError(f"step {i} names no model")
            for what, v in (("amount", s.amount), ("detail", s.detail)):
                if not 0.0 <= float(v) <= 1.0:
                    raise RecipeError(
                        f"step {i}: {what} must be between 0 and 1, got {v} (a fraction in a "
                        "recipe file: 0.8 is 80 %)"
                    )

    @classmethod
    def single(cls, model: str, **kw: Any) -> Recipe:
        return cls((RecipeStep(model, **kw),))

    @classmethod
    def from_models(cls, text: str, **kw: Any) -> Recipe:
        """``"jpeg-model,denoise-model,fsrcnn-x2"``: one step each; ``kw`` (strength,
        amount, detail) applies to every step."""
        ids = [t.strip() for t in str(text).split(",")]
        if not all(ids):
            raise RecipeError(f"bad model list {text!r}: empty entry (stray comma?)")
        return cls(tuple(RecipeStep(i, **kw) for i in ids))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "deconv-gui recipe",
            "version": RECIPE_VERSION,
            "name": self.name,
            "steps": [asdict(s) for s in self.steps],
        }

    @classmethod
    def from_json(cls, data: Any) -> Recipe:
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise RecipeError("not a recipe (expected an object with a list of 'steps')")
        version = data.get("version", RECIPE_VERSION)
        if not isinstance(version, int) or version > RECIPE_VERSION:
            raise RecipeError(f"recipe format version {version} is newer than this app reads")
        steps = []
        for i, raw in enumerate(data["steps"], 1):
            if not isinstance(raw, dict):
                raise RecipeError(f"step {i} is not an object")
            unknown = set(raw) - _STEP_KEYS
            if unknown:
                raise RecipeError(f"step {i}: unknown key(s) {', '.join(sorted(unknown))}")
            for key in ("strength", "amount", "detail"):  # numbers, not "10" or true
                value = raw.get(key)
                if value is not None and (
                    isinstance(value, bool) or not isinstance(value, (int, float))
                ):
                    raise RecipeError(f"step {i}: {key} must be a number, got {value!r}")
            if not isinstance(raw.get("model"), str):
                raise RecipeError(f"step {i}: 'model' must be a model id (text)")
            if not isinstance(raw.get("params") or {}, dict):
                raise RecipeError(f"step {i}: 'params' must be an object")
            try:
                steps.append(
                    RecipeStep(
                        model=str(raw["model"]),
                        strength=None if raw.get("strength") is None else float(raw["strength"]),
                        amount=float(raw.get("amount", 1.0)),
                        detail=float(raw.get("detail", 0.0)),
                        params=dict(raw.get("params") or {}),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise RecipeError(f"step {i}: {exc}") from None
        return cls(tuple(steps), name=str(data.get("name", "")))


def unknown_params(step: RecipeStep, takes: Sequence[str]) -> str | None:
    """What is wrong with settings in ``step.params`` that its model (which takes the
    settings ``takes``) does not know ("unknown setting 'kernal' in its params (it takes
    none)"), or None: a misspelt setting would otherwise be ignored without a word."""
    unknown = sorted(set(step.params) - set(takes))
    if not unknown:
        return None
    known = f"it takes {', '.join(takes)}" if takes else "it takes none"
    return f"unknown setting {', '.join(repr(k) for k in unknown)} in its params ({known})"


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")  # a byte-order mark (Windows Notepad) is fine
    except OSError as exc:
        raise RecipeError(f"cannot read recipe {p.name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RecipeError(f"recipe {p.name} is not a text file in UTF-8") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RecipeError(f"recipe {p.name} is not valid JSON ({exc})") from None
    return Recipe.from_json(data)


def save_recipe(recipe: Recipe, path: str | os.PathLike[str]) -> Path:
    """Write atomically (temporary file, then rename)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    try:
        tmp.write_text(json.dumps(recipe.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RecipeError(f"cannot save recipe {p.name}: {exc.strerror or exc}") from None
    return p


class StepCache:
    """Model outputs of the steps of one photo's recipe, keyed by the steps up to there."""

    def __init__(self) -> None:
        self._outputs: dict[tuple[str, ...], Photo] = {}

    def get(self, prefix: tuple[str, ...]) -> Photo | None:
        return self._outputs.get(prefix)

    def put(self, prefix: tuple[str, ...], photo: Photo) -> None:
        self._outputs[prefix] = photo

    def clear(self) -> None:
        self._outputs.clear()

    def __len__(self) -> int:
        return len(self._outputs)


def check_result_size(
    photo: Photo, specs: Sequence[Any], max_pixels: int = DEFAULT_MAX_PIXELS
) -> None:
    """Refuse a result larger than ``max_pixels`` before any work: upscalers in a row grow
    a photo by the product of their scales (three x4 steps make a 2 MP photo 92 MP, ten x2
    steps would not fit in memory)."""
    scale = math.prod(max(1, int(getattr(s, "scale", 1) or 1)) for s in specs)
    h, w = photo.rgb.shape[:2]
    if scale > 1 and h * w * scale * scale > max_pixels:
        raise ImageWriteError(
            f"the result would be {w * scale}x{h * scale} "
            f"({megapixels_text(h * w * scale * scale)}), larger than the limit of "
            f"{megapixels_text(max_pixels)}"
        )


def recipe_job(
    recipe: Recipe,
    resolve: Callable[[str], RestoreSpec],
    base: LoadOptions | None = None,
    *,
    tile_size: int | None = None,
    cache: StepCache | None = None,
    of_steps: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> PhotoJob:
    """The `PhotoJob` that runs `recipe` (see the module doc). ``base`` gives the device and
    precision; each step's strength and params replace the base's. ``of_steps``: the steps
    of the whole run when `recipe` is its first ones (for the "step i/n" messages). A
    result over ``max_pixels`` is refused before any step runs (`check_result_size`)."""
    base = base or LoadOptions()
    specs = [resolve(s.model) for s in recipe.steps]  # unknown ids fail before any work
    check_order(specs)

    def work(photo: Photo) -> Generator[TileProgress, Any, Photo]:
        check_result_size(photo, specs, max_pixels)
        n = of_steps or len(recipe.steps)
        current = photo
        done: tuple[str, ...] = ()  # full keys of the steps before this one
        for i, (step, spec) in enumerate(zip(recipe.steps, specs, strict=True), 1):
            # a RAW step finishes on the mosaic (its result is developed after), so its
            # Amount and Detail are part of its output
            on_mosaic = works_on_mosaic(spec)
            prefix = (*done, step.full_key() if on_mosaic else step.model_key())
            done = (*done, step.full_key())
            out = cache.get(prefix) if cache is not None else None
            if out is None:
                options = replace(base, strength=step.strength, params=dict(step.params))
                label = f"step {i}/{n}: {spec.id}" if n > 1 else ""
                job = (
                    restore_raw_photo(
                        spec, current, options, tile_size, amount=step.amount, detail=step.detail
                    )
                    if on_mosaic
                    else restore_photo(spec, current, options, tile_size=tile_size)
                )
                while True:
                    try:
                        tp = next(job)
                    except StopIteration as stop:
                        out = stop.value
                        break
                    yield replace(tp, message=label or tp.message) if label else tp
                if cache is not None:
                    cache.put(prefix, out)
            if on_mosaic:
                current = out
            else:
                rgb = finish(current.rgb, out.rgb, amount=step.amount, detail=step.detail)
                current = Photo(rgb, out.meta)
        return current

    return work
