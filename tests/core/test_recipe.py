"""Recipes: several models in a row (`core.recipe`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace

import numpy as np
import pytest

from deconv_gui.core.image import ImageMeta, Photo
from deconv_gui.core.recipe import (
    Recipe,
    RecipeError,
    RecipeStep,
    StepCache,
    load_recipe,
    recipe_job,
    save_recipe,
)
from deconv_gui.core.tiling import run_to_end


class _Add:
    """A processor adding a constant (scale 1) or repeating pixels (scale 2)."""

    def __init__(self, value: float, scale: int, calls: list[str], name: str) -> None:
        self.value, self.scale, self.overlap, self.device = value, scale, 0, "cpu"
        self.calls, self.name = calls, name

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        self.calls.append(self.name)
        out = np.clip(tile + self.value, 0, 1)
        return out.repeat(self.scale, 0).repeat(self.scale, 1) if self.scale > 1 else out


@dataclass
class _Spec:
    id: str
    value: float
    scale: int = 1
    task: str = "denoise"
    tiles_well: bool = True
    strength: object = None
    calls: list[str] = field(default_factory=list)

    def build(self, options):
        return _Add(self.value + (options.strength or 0.0), self.scale, self.calls, self.id)


@pytest.fixture
def specs():
    calls: list[str] = []
    table = {
        "plus": _Spec("plus", 0.1, calls=calls),
        "minus": _Spec("minus", -0.05, calls=calls),
        "x2": _Spec("x2", 0.0, scale=2, task="upscale", calls=calls),
    }
    return table, calls


def _photo() -> Photo:
    rgb = np.full((8, 10, 3), 0.4, np.float32)
    return Photo(rgb, ImageMeta(alpha=np.ones((8, 10), np.float32), extra={"k": 1}))


def test_steps_run_in_order_and_metadata_follows(specs) -> None:
    table, calls = specs
    recipe = Recipe.from_models("plus,x2")
    out = run_to_end(recipe_job(recipe, table.__getitem__)(_photo()))
    assert calls == ["plus", "x2"]
    assert out.rgb.shape == (16, 20, 3)
    assert np.allclose(out.rgb, 0.5)
    assert out.meta.alpha is not None and out.meta.alpha.shape == (16, 20)
    assert out.meta.extra == {"k": 1}


def test_progress_names_the_step(specs) -> None:
    table, _ = specs
    seen = []
    run_to_end(
        recipe_job(Recipe.from_models("plus,minus"), table.__getitem__)(_photo()), seen.append
    )
    assert [tp.message for tp in seen] == ["step 1/2: plus", "step 2/2: minus"]


def test_amount_blends_each_step_with_its_input(specs) -> None:
    table, _ = specs
    recipe = Recipe((RecipeStep("plus", amount=0.5),))
    out = run_to_end(recipe_job(recipe, table.__getitem__)(_photo()))
    assert np.allclose(out.rgb, 0.45)


def test_cache_reruns_from_the_changed_step(specs) -> None:
    table, calls = specs
    cache = StepCache()
    first = Recipe((RecipeStep("plus"), RecipeStep("minus")))
    run_to_end(recipe_job(first, table.__getitem__, cache=cache)(_photo()))
    assert calls == ["plus", "minus"]
    calls.clear()
    # the second step's strength changes: only it runs again
    second = Recipe((RecipeStep("plus"), RecipeStep("minus", strength=0.02)))
    out = run_to_end(recipe_job(second, table.__getitem__, cache=cache)(_photo()))
    assert calls == ["minus"]
    assert np.allclose(out.rgb, 0.4 + 0.1 - 0.03)
    calls.clear()
    # the first step's Amount changes: its model is not rerun, the next step is
    third = Recipe((RecipeStep("plus", amount=0.5), RecipeStep("minus", strength=0.02)))
    out = run_to_end(recipe_job(third, table.__getitem__, cache=cache)(_photo()))
    assert calls == ["minus"]
    assert np.allclose(out.rgb, 0.45 - 0.03)


def test_json_round_trip_and_atomic_save(tmp_path) -> None:
    recipe = Recipe(
        (RecipeStep("jpeg", strength=30, detail=0.2), RecipeStep("x2", params={"k": "v"})),
        name="web photos",
    )
    p = save_recipe(recipe, tmp_path / "r.json")
    assert load_recipe(p) == recipe
    assert [q.name for q in tmp_path.iterdir()] == ["r.json"]
    assert json.loads(p.read_text())["version"] == 1


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("not json", "not valid JSON"),
        ('{"steps": []}', "at least one step"),
        ('{"steps": [{"model": "a", "amount": 2}]}', "amount must be between 0 and 1"),
        ('{"steps": [{"model": "a", "colour": 1}]}', "unknown key"),
        ('{"version": 99, "steps": [{"model": "a"}]}', "newer"),
        ("[1, 2]", "not a recipe"),
    ],
)
def test_bad_recipe_files_say_why(tmp_path, content: str, words: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(RecipeError, match=words):
        load_recipe(p)


def test_unknown_model_fails_before_any_work(specs) -> None:
    table, calls = specs

    def resolve(model_id: str):
        if model_id not in table:
            raise RecipeError(f"unknown model '{model_id}'")
        return table[model_id]

    with pytest.raises(RecipeError, match="nope"):
        recipe_job(Recipe.from_models("plus,nope"), resolve)
    assert calls == []
    with pytest.raises(RecipeError, match="stray comma"):
        Recipe.from_models("plus,,x2")


def test_a_result_over_the_limit_is_refused_before_any_step(specs) -> None:
    """Upscalers in a row grow a photo by the product of their scales: a result over the
    pixel limit is refused before the first step runs (ten x2 steps had been killed for
    memory)."""
    from deconv_gui.errors import ImageWriteError

    table, calls = specs
    photo = _photo()  # 10 x 8
    job = recipe_job(Recipe.from_models("x2,x2"), table.__getitem__, max_pixels=10 * 8 * 15)
    with pytest.raises(ImageWriteError, match=r"the result would be 40x32 .* larger than"):
        run_to_end(job(photo))
    assert calls == []
    job = recipe_job(Recipe.from_models("x2,x2"), table.__getitem__, max_pixels=10 * 8 * 16)
    assert run_to_end(job(photo)).rgb.shape == (32, 40, 3)


def test_recipe_files_with_a_byte_order_mark_load_and_other_encodings_are_named(tmp_path) -> None:
    from deconv_gui.core.recipe import RecipeError, load_recipe

    bom = tmp_path / "notepad.json"
    bom.write_bytes(b'\xef\xbb\xbf{"steps": [{"model": "x2"}]}')  # as Windows Notepad saves
    assert [s.model for s in load_recipe(bom).steps] == ["x2"]
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"steps": [{"model": "caf\xe9"}]}')
    with pytest.raises(RecipeError, match="recipe latin.json is not a text file in UTF-8"):
        load_recipe(latin)


@pytest.mark.parametrize(
    ("step", "words"),
    [
        ({"model": "x2", "amount": True}, "amount must be a number, got True"),
        ({"model": "x2", "strength": "10"}, "strength must be a number, got '10'"),
        ({"model": 3}, "'model' must be a model id"),
        ({"model": "x2", "params": [1]}, "'params' must be an object"),
    ],
)
def test_recipe_steps_with_loose_types_are_refused(step, words) -> None:
    from deconv_gui.core.recipe import RecipeError

    with pytest.raises(RecipeError, match=re.escape(f"step 1: {words}")):
        Recipe.from_json({"steps": [step]})


class _Measuring(_Add):
    """`_Add` whose Auto measures its "strength" on the whole photo: its mean x 100."""

    def __init__(self, strength: float | None, calls: list[str], name: str) -> None:
        super().__init__(0.0, 1, calls, name)
        self.strength = strength

    def prepare(self, rgb: np.ndarray, meta: object = None) -> float:
        if self.strength is None:
            self.strength = float(rgb.mean()) * 100.0
        return self.strength

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        self.value = (self.strength or 0.0) / 1000.0
        return super().__call__(tile)


@dataclass(frozen=True)
class _Range:
    label: str
    minimum: float = 0.0
    maximum: float = 100.0


@dataclass
class _AutoSpec(_Spec):
    label: str = "Noise level"

    def __post_init__(self) -> None:
        self.strength = _Range(self.label)

    def build(self, options):
        return _Measuring(options.strength, self.calls, self.id)


def test_a_result_says_what_auto_chose_at_each_step() -> None:
    from deconv_gui.core.pipeline import auto_settings

    noise, jpeg = _AutoSpec("den", 0.0), _AutoSpec("jpg", 0.0, label="JPEG quality")
    specs = {"den": noise, "jpg": jpeg, "up": _Spec("up", 0.0, scale=2)}
    photo = Photo(np.full((16, 16, 3), 0.25, np.float32), ImageMeta())
    steps = (RecipeStep("jpg"), RecipeStep("up"), RecipeStep("den", strength=5.0))
    out = run_to_end(recipe_job(Recipe(steps), specs.__getitem__)(photo))
    # the JPEG step measured 25 on its input; the denoiser's strength was set: not Auto
    assert [(a.model, a.value) for a in auto_settings(out.meta)] == [("jpg", 25.0)]
    assert [a.text() for a in auto_settings(out.meta)] == ["JPEG quality 25"]
    steps = (RecipeStep("jpg"), RecipeStep("den"))
    out = run_to_end(recipe_job(Recipe(steps), specs.__getitem__)(photo))
    (first, second) = auto_settings(out.meta)
    # the denoiser measured its own input: the JPEG step's output (0.25 + 25/1000)
    assert (first.value, second.model) == (25.0, "den")
    assert second.value == pytest.approx(27.5, abs=1e-4)
    assert replace(second, value=27.4).text() == "noise level 27"
    assert auto_settings(photo.meta) == ()
    small = replace(second, value=2.449)
    assert (
        small.text() == "noise level 2.4" and replace(second, value=3.0).text() == "noise level 3"
    )
