"""The bundled architectures: shapes, receptive-field claims, weights round trips, specs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deconv_gui.models import bundled
from deconv_gui.models.networks import (
    NOISE_MAP_SCALE,
    FSRCNNPlus,
    RedUNet,
    build_network,
    count_params,
)
from deconv_gui.models.registry import LoadOptions
from deconv_gui.training.export import load_weights, save_weights

torch.set_num_threads(1)


def _randomise(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Zero-initialised tails make a fresh net an identity; give every weight a value."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return net


def tiny_unet(noise_map: bool = False) -> RedUNet:
    return RedUNet((8, 16), enc_blocks=1, mid_blocks=1, dec_blocks=1, noise_map=noise_map)


@pytest.mark.parametrize(("h", "w"), [(32, 32), (37, 50), (9, 13)])
@pytest.mark.parametrize("noise_map", [False, True])
def test_redunet_keeps_shape(h: int, w: int, noise_map: bool) -> None:
    net = tiny_unet(noise_map).eval()
    x = torch.rand(2, 3, h, w)
    with torch.no_grad():
        y = net(x, torch.full((2, 1, 1, 1), 0.3)) if noise_map else net(x)
    assert y.shape == x.shape
    # fresh nets start as the identity (residual learning, zero-initialised tail)
    assert torch.allclose(y, x)


def test_redunet_noise_map_forms_agree() -> None:
    net = _randomise(tiny_unet(True)).eval()
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        a = net(x, 0.4)
        b = net(x, torch.tensor([0.4]))
        c = net(x, torch.full((1, 1, 20, 24), 0.4))
        d = net(torch.cat([x, torch.full((1, 1, 20, 24), 0.4)], 1))
    for other in (b, c, d):
        assert torch.allclose(a, other, atol=1e-6)
    with pytest.raises(ValueError, match="needs a noise-level map"):
        net(x)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("upsampler", ["deconv", "pixelshuffle"])
def test_fsrcnn_output_shape(scale: int, upsampler: str) -> None:
    net = FSRCNNPlus(scale, channels=8, blocks=1, upsampler=upsampler).eval()
    x = torch.rand(1, 3, 11, 17)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (1, 3, 11 * scale, 17 * scale)


def _max_reach(
    net: torch.nn.Module, scale: int, size: int = 96, extra: bool = False
) -> tuple[int, int]:
    """Perturb one input pixel; return (largest distance, in input px, of a changed output
    pixel, number of changed output pixels)."""
    net = net.double().eval()
    x = torch.rand(
        1, 3, size, size, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    c = size // 2 + 1
    x2 = x.clone()
    x2[0, :, c, c] += 1.0
    with torch.no_grad():
        args = (torch.full((1, 1, 1, 1), 0.3, dtype=torch.float64),) if extra else ()
        d = (net(x2, *args) - net(x, *args)).abs().amax(1)[0]
    ys, xs = torch.nonzero(d > 1e-9, as_tuple=True)
    assert len(ys) > 0
    # output pixel o covers input coordinate o / scale
    dy = (ys.double() + 0.5) / scale - (c + 0.5)
    dx = (xs.double() + 0.5) / scale - (c + 0.5)
    reach = float(torch.maximum(dy.abs(), dx.abs()).max())
    return int(np.ceil(reach)), len(ys)


@pytest.mark.parametrize(
    "net",
    [
        RedUNet((8, 16), 1, 1, 1),
        RedUNet((8, 16), 1, 2, 1, noise_map=True),
        RedUNet((8, 16), 0, 3, 2),
    ],
    ids=["unet-1-1-1", "unet-1-2-1-map", "unet-0-3-2"],
)
def test_redunet_receptive_field_claim(net: RedUNet) -> None:
    rf = net.receptive_field()
    reach, n = _max_reach(_randomise(net), 1, size=2 * rf + 24, extra=net.noise_map)
    assert reach <= rf
    assert reach >= rf - 8  # the claim is tight, not a blanket number
    assert n > 1


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("upsampler", ["deconv", "pixelshuffle"])
def test_fsrcnn_receptive_field_claim(scale: int, upsampler: str) -> None:
    net = FSRCNNPlus(scale, channels=8, blocks=2, upsampler=upsampler)
    rf = net.receptive_field()
    reach, _ = _max_reach(_randomise(net), scale, size=2 * rf + 16)
    assert reach <= rf


def test_build_network_and_weights_round_trip(tmp_path: Path) -> None:
    net = _randomise(tiny_unet(True))
    again = build_network("redunet", net.hparams)
    assert count_params(again) == count_params(net)
    path = save_weights(net, tmp_path / "w.safetensors", fp16=False)
    again.load_state_dict(load_weights(path))
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(net.eval()(x, 0.2), again.eval()(x, 0.2))
    # fp16 storage: half the size, same network up to half precision
    p16 = save_weights(net, tmp_path / "w16.safetensors", fp16=True)
    assert p16.stat().st_size < 0.6 * path.stat().st_size
    with pytest.raises(ValueError, match="unknown architecture 'nope'"):
        build_network("nope", {})


def _write_model(folder: Path, net: torch.nn.Module, **card: object) -> Path:
    model_id = str(card["id"])
    save_weights(net, folder / f"{model_id}.safetensors")
    full = {
        "name": model_id,
        "scale": getattr(net, "scale", 1),
        "architecture": {"name": net.arch, "hparams": net.hparams},  # type: ignore[attr-defined]
        "receptive_field": net.receptive_field(),  # type: ignore[operator]
        "pad_multiple": net.pad_multiple,
        "fp16": True,
        **card,
    }
    p = folder / f"{model_id}.json"
    p.write_text(json.dumps(full))
    return p


def test_bundled_specs_build_processors(tmp_path: Path) -> None:
    strength = {"label": "Noise level", "minimum": 0, "maximum": 75, "default": 25, "auto": True}
    _write_model(
        tmp_path, _randomise(tiny_unet(True)), id="t-denoise", task="denoise", strength=strength
    )
    _write_model(tmp_path, _randomise(FSRCNNPlus(2, 8, 1)), id="t-x2", task="upscale")
    (tmp_path / "orphan.json").write_text("{}")  # a card without weights is skipped
    specs = bundled.bundled_specs(tmp_path)
    assert [s.id for s in specs] == ["t-denoise", "t-x2"]
    dn, x2 = specs
    assert dn.strength is not None and dn.strength.auto and dn.trainable
    img = np.random.default_rng(0).random((20, 32, 3), dtype=np.float32)
    proc = dn.build(LoadOptions(device="cpu", strength=10.0))
    assert (proc.scale, proc.overlap, proc.pad_multiple) == (1, dn.receptive_field, 4)
    out = proc(img)
    assert out.shape == img.shape and out.dtype == np.float32
    # strength reaches the network as the noise-level map
    net = bundled.load_module(dn.card, tmp_path / "t-denoise.safetensors")
    with torch.no_grad():
        ref = net(torch.from_numpy(img).permute(2, 0, 1)[None], 10.0 / NOISE_MAP_SCALE)
    assert np.allclose(out, ref[0].clamp(0, 1).permute(1, 2, 0).numpy(), atol=1e-5)
    # automatic strength: estimated once (prepare) and reused
    auto = dn.build(LoadOptions(device="cpu"))
    sigma = auto.prepare(img)
    assert sigma > 0 and auto.extra_input.sigma == sigma
    up = x2.build(LoadOptions(device="cpu"))
    assert up(img).shape == (40, 64, 3)


def test_bundled_models_tiles_match_whole_image(tmp_path: Path) -> None:
    """With the receptive field as context (and crops aligned to pad_multiple, which the
    U-Net's 2x2 unshuffle and stride-2 steps need), tiles match the whole-image result."""
    from deconv_gui.core.tiling import restore_tiled, run_to_end

    _write_model(tmp_path, _randomise(tiny_unet(True), 3), id="t-dn", task="denoise")
    _write_model(tmp_path, _randomise(FSRCNNPlus(2, 8, 2), 4), id="t-up", task="upscale")
    img = np.random.default_rng(1).random((150, 130, 3), dtype=np.float32) * 0.5 + 0.25
    for spec in bundled.bundled_specs(tmp_path):
        for ensemble in (False, True):  # "Extra quality" tiles alike: each pass is a flip
            proc = spec.build(LoadOptions(device="cpu", strength=15.0, ensemble=ensemble))
            assert proc.ensemble == ensemble
            whole = proc(img)
            tiled = run_to_end(restore_tiled(proc, img, tile_size=64))
            assert tiled.shape == whole.shape
            assert np.abs(tiled - whole).max() <= 1.0 / 255.0, (spec.id, ensemble)


SHIPPED = sorted(bundled.models_dir().glob("*.json"))


def proc_strength(spec) -> float | None:
    return 20.0 if spec.strength else None


def test_shipped_models_fit_the_budget() -> None:
    weights = sorted(bundled.models_dir().glob("*.safetensors"))
    # all bundled weights under 20 MB (issue 16); one model at most 8 MB (the RAW
    # denoiser, 9 middle blocks, is the largest at 6.1 MB)
    assert sum(w.stat().st_size for w in weights) <= 20_000_000
    for w in weights:
        assert w.stat().st_size <= 8_000_000, w.name
        # stored as float16, as its card says: two bytes a parameter, plus the header
        card = json.loads(w.with_suffix(".json").read_text())
        assert card["storage_dtype"] == "float16", w.name
        assert w.stat().st_size <= 2 * card["params"] + 64_000, w.name


@pytest.mark.parametrize("card_path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_model_loads_and_runs(card_path: Path) -> None:
    spec = bundled.spec_from_card(card_path)
    card = spec.card
    for key in ("id", "name", "task", "architecture", "receptive_field", "training", "evaluation"):
        assert key in card, key
    assert card_path.stem == spec.id
    proc = spec.build(LoadOptions(device="cpu", strength=proc_strength(spec)))
    channels = 4 if spec.input == "bayer" else 3  # a RAW model takes packed RGGB planes
    img = np.full((24, 28, channels), 0.5, np.float32)
    out = proc(img)
    assert out.shape == (24 * spec.scale, 28 * spec.scale, channels)
    assert np.isfinite(out).all()
    # "Extra quality": eight passes, for every task (JPEG too: see core.runner)
    extra = spec.build(LoadOptions(device="cpu", strength=proc_strength(spec), ensemble=True))
    assert extra.ensemble
    assert extra(img).shape == out.shape


def test_card_order_picks_the_default_and_the_listing_order() -> None:
    from deconv_gui.models.catalog import default_registry
    from deconv_gui.models.registry import ModelRegistry, ModelSpec, card_order

    def spec(mid: str, kind: str, card: dict) -> ModelSpec:
        return ModelSpec(mid, mid, "denoise", 1, kind, "", build=lambda o: None, card=card)

    reg = ModelRegistry(
        [
            spec("a-classical", "classical", {"order": 0}),  # a kind rank beats the order
            spec("b-plain", "bundled", {}),
            spec("c-best", "bundled", {"order": 0}),
            spec("d-junk", "bundled", {"order": "x"}),
        ]
    )
    assert reg.default_for("denoise").id == "c-best"
    assert [card_order(s) for s in reg] == [0, 50, 0, 50]
    # the shipped cards: the camera-noise denoiser leads (camera noise on Auto 3.8-8.3 dB
    # over redunet-denoise-fast; README, Real photos), the retired 64/128 one never does
    assert default_registry().default_for("denoise").id == "redunet-denoise-camera"
