"""The app's plain-words model names and the model picked for a suggested step."""

from __future__ import annotations

from deconv_gui.models.catalog import default_registry
from deconv_gui.models.registry import (
    ModelRegistry,
    ModelSpec,
    model_for_step,
    picker_group,
    plain_name,
    retired_reason,
)


def _spec(mid, task, scale=1, kind="bundled", card=None, name=None):
    return ModelSpec(mid, name or mid, task, scale, kind, "", build=lambda o: None, card=card or {})


def test_plain_name_from_card_task_or_name():
    assert plain_name(_spec("a", "denoise", card={"display_name": "Denoise - fast"})) == (
        "Denoise - fast"
    )
    assert plain_name(_spec("b", "upscale", 4)) == "Upscale x4"
    assert plain_name(_spec("c", "jpeg")) == "Remove JPEG artifacts"
    assert plain_name(_spec("d", "denoise", kind="classical", name="NLM (classical)")) == "NLM"
    assert plain_name(_spec("e", "denoise", kind="imported", name="My net")) == "My net"


def test_picker_groups():
    assert picker_group(_spec("a", "deblur")) == "deblur"
    assert picker_group(_spec("b", "deblur", kind="classical")) == "classical"
    assert picker_group(_spec("c", "upscale", kind="finetuned")) == "yours"


def test_model_for_step_prefers_bundled_in_card_order_and_matches_scale():
    reg = ModelRegistry(
        [
            _spec("nlm", "denoise", kind="classical"),
            _spec("slow", "denoise", card={"order": 50}),
            _spec("fast", "denoise", card={"order": 0}),
            _spec("x2", "upscale", 2),
            _spec("x4", "upscale", 4),
        ]
    )
    assert model_for_step(reg, "denoise").id == "fast"
    assert model_for_step(reg, "upscale", 4).id == "x4"
    assert model_for_step(reg, "jpeg") is None


def test_bundled_models_have_plain_names():
    names = {s.id: plain_name(s) for s in default_registry() if s.kind == "bundled"}
    for mid, name in names.items():
        assert "net" not in name.lower() and "fsrcnn" not in name.lower(), (mid, name)


def test_a_retired_model_is_never_chosen_by_default_but_still_loads_by_id():
    why = "the fast denoiser measures better and is faster"
    reg = ModelRegistry(
        [
            _spec("old", "denoise", card={"order": 0, "retired": why}),
            _spec("new", "denoise", card={"order": 5}),
            _spec("nlm", "denoise", kind="classical"),
            _spec("only", "deblur", card={"retired": why}),
        ]
    )
    assert retired_reason(reg.get("old")) == why
    assert retired_reason(reg.get("new")) is None
    # ahead of it in card order, but retired: the newer one (then even a classic) comes first
    assert reg.default_for("denoise").id == "new"
    assert model_for_step(reg, "denoise").id == "new"
    reg.unregister("new")
    assert reg.default_for("denoise").id == "nlm"
    # a task with only a retired model still has it
    assert reg.default_for("deblur").id == "only"
    assert model_for_step(reg, "deblur").id == "only"


def test_the_bundled_retired_models_say_why_and_are_not_defaults():
    reg = default_registry()
    retired = {s.id: retired_reason(s) for s in reg if retired_reason(s)}
    assert "redunet-denoise" in retired and "redunet-denoise-fast" in retired["redunet-denoise"]
    for task in {s.task for s in reg}:
        assert reg.default_for(task).id not in retired, task
