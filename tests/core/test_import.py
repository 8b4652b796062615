"""Bring your own models: import / detect / run / remove, and the refusals that keep the
library safe and unchanged (tests/core: no Qt).

Networks are spandrel's own architecture classes in tiny configurations with random (seeded)
weights, saved as plain state dicts, wrapped training checkpoints and safetensors.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from deconv_gui import paths
from deconv_gui.core.tiling import restore_tiled, run_to_end
from deconv_gui.errors import ModelError
from deconv_gui.models import catalog, imported, importer
from deconv_gui.models.imported import unwrap_state_dict, user_specs
from deconv_gui.models.importer import import_model, inspect_model, remove_model
from deconv_gui.models.registry import LoadOptions

spandrel_arch = pytest.importorskip("spandrel.architectures")
from spandrel.architectures.Compact import Compact  # noqa: E402
from spandrel.architectures.DnCNN import DnCNN  # noqa: E402
from spandrel.architectures.ESRGAN import ESRGAN  # noqa: E402
from spandrel.architectures.SPAN import SPAN  # noqa: E402
from spandrel.architectures.SwinIR import SwinIR  # noqa: E402

CPU = LoadOptions(device="cpu", allow_fp16=False)


def _esrgan(scale: int) -> torch.nn.Module:
    return ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=scale)


# name -> (factory, architecture id, scale, fp16)
MODELS: dict[str, tuple[Callable[[], torch.nn.Module], str, int, bool]] = {
    "esrgan-x2": (lambda: _esrgan(2), "ESRGAN", 2, True),
    "esrgan-x4": (lambda: _esrgan(4), "ESRGAN", 4, True),
    "compact-x2": (
        lambda: Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2),
        "Compact",
        2,
        True,
    ),
    "span-x2": (
        lambda: SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2),
        "SPAN",
        2,
        True,
    ),
    "dncnn": (lambda: DnCNN(in_nc=3, out_nc=3, nc=8, nb=8, act_mode="R"), "DnCNN", 1, False),
    # a window-attention transformer: its int64 "relative_position_index" tables beside the
    # weights had every SwinIR (Swin2SR, HAT, DAT, DRCT) file refused as "not weights"
    "swinir-x2": (
        lambda: SwinIR(
            upscale=2,
            img_size=16,
            window_size=4,
            depths=[1],
            embed_dim=12,
            num_heads=[2],
            upsampler="pixelshuffledirect",
        ),
        "SwinIR",
        2,
        False,
    ),
}


def _state_dict(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    net = MODELS[name][0]()
    return {k: v.clone() for k, v in net.state_dict().items()}


def _save(sd: dict[str, Any], path: Path, fmt: str) -> Path:
    if fmt == "safetensors":
        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    elif fmt == "pth":
        torch.save(sd, path)
    elif fmt == "params_ema":
        torch.save({"params_ema": sd, "iter": 1000}, path)
    elif fmt == "module":  # DataParallel prefix inside a Lightning-style checkpoint
        torch.save({"state_dict": {"module." + k: v for k, v in sd.items()}, "epoch": 3}, path)
    else:
        raise AssertionError(fmt)
    return path


def _model_file(tmp_path: Path, name: str, fmt: str = "pth", seed: int = 0) -> Path:
    ext = ".safetensors" if fmt == "safetensors" else ".pth"
    return _save(_state_dict(name, seed), tmp_path / f"{name}-{fmt}-{seed}{ext}", fmt)


def _library() -> list[str]:
    """Everything in the library folder but its lock file (temporary folders included)."""
    from deconv_gui.models.library import LOCK_NAME

    return sorted(p.name for p in paths.user_models_dir().iterdir() if p.name != LOCK_NAME)


def _photo(h: int = 70, w: int = 86, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.random((h // 8 + 2, w // 8 + 2, 3)).astype(np.float32)
    smooth = np.kron(base, np.ones((8, 8, 1), np.float32))[:h, :w]
    return np.clip(smooth + rng.normal(0, 0.05, (h, w, 3)), 0, 1).astype(np.float32)


def _refused(path: Path, *, contains: str = "") -> str:
    before = _library()
    with pytest.raises(ModelError) as info:
        import_model(path)
    msg = str(info.value)
    assert "\n" not in msg and msg, f"not one clear line: {msg!r}"
    assert contains.lower() in msg.lower(), msg
    assert _library() == before, "a refused import changed the library"
    assert user_specs() == []
    return msg


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize("fmt", ["pth", "params_ema", "safetensors"])
@pytest.mark.parametrize(
    "name", ["esrgan-x2", "esrgan-x4", "compact-x2", "span-x2", "dncnn", "swinir-x2"]
)
def test_import_detects_architecture_scale_and_task(tmp_path: Path, name: str, fmt: str) -> None:
    _, arch, scale, fp16 = MODELS[name]
    src = _model_file(tmp_path, name, fmt)
    spec = import_model(src)

    assert (spec.architecture, spec.scale, spec.kind) == (arch, scale, "imported")
    assert spec.task == ("upscale" if scale > 1 else "restore")
    assert spec.fp16 is fp16
    assert spec.id == spec.card["id"] and spec.name == src.stem
    j = spec.to_json()
    for key in ("id", "name", "task", "scale", "kind", "architecture"):
        assert j[key] == getattr(spec, key)
    json.dumps(j)  # the CLI's --json output

    folder = paths.user_models_dir() / spec.id
    card = json.loads((folder / "card.json").read_text())
    copy = folder / card["file"]
    assert copy.read_bytes() == src.read_bytes()
    assert card["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert card["size_bytes"] == src.stat().st_size
    assert card["source_file"] == src.name
    assert card["channels"] == {"in": 3, "out": 3}
    assert card["size_requirements"]["multiple_of"] >= 1
    if arch == "SwinIR":  # attention over windows: spandrel discourages tiling it
        assert card["tiling"] == "discouraged"
        out = run_to_end(restore_tiled(spec.build(CPU), _photo(20, 24), tile_size=256))
        assert out.shape == (40, 48, 3) and np.isfinite(out).all()
    else:
        assert card["tiling"] == "supported" and card["tiles_well"] is True
        assert card["receptive_field"] == spec.receptive_field == 32
    assert card["imported_at"] and card["kind"] == "imported"


def test_integer_index_tables_pass_and_integer_weights_do_not() -> None:
    """HAT keeps two position index tables ("_SA", "_OCA"); quantised weights stay refused."""
    w = torch.zeros(4, 3, 3, 3)
    ok = {
        "conv.weight": w,
        "layers.0.attn.relative_position_index_SA": torch.zeros(16, 16, dtype=torch.int64),
        "layers.0.attn.relative_position_index_OCA": torch.zeros(16, 36, dtype=torch.int64),
        "bn.num_batches_tracked": torch.tensor(5),
    }
    assert set(unwrap_state_dict(ok, source="hat.pth")) == set(ok)
    for bad in ({"conv.weight": w.to(torch.int8)}, {"conv.position_index": torch.zeros(3).long()}):
        with pytest.raises(ModelError, match="not floating-point weights"):
            unwrap_state_dict(bad, source="q.pth")


def test_wrapped_and_prefixed_checkpoints_are_unwrapped(tmp_path: Path) -> None:
    spec = import_model(_model_file(tmp_path, "compact-x2", "module"))
    assert (spec.architecture, spec.scale) == ("Compact", 2)

    sd = _state_dict("compact-x2")
    ema = {k: v + 1 for k, v in sd.items()}
    # EMA weights win over the raw ones; nested wrappers and prefixes are peeled off
    got = unwrap_state_dict({"params": sd, "params_ema": ema, "iter": 5})
    assert all(torch.equal(got[k], ema[k]) for k in sd)
    got = unwrap_state_dict({"net_g": {"_orig_mod." + k: v for k, v in sd.items()}})
    assert set(got) == set(sd)
    got = unwrap_state_dict({"model": {"module.module." + k: v for k, v in sd.items()}})
    assert set(got) == set(sd)
    with pytest.raises(ModelError, match="no weights"):
        unwrap_state_dict({"epoch": 3, "lr": 0.1})


def test_inspect_does_not_import(tmp_path: Path) -> None:
    info = inspect_model(_model_file(tmp_path, "esrgan-x4"))
    assert (info.architecture, info.scale, info.fp16, info.grey) == ("ESRGAN", 4, True, False)
    assert _library() == []


def test_task_rules_and_unique_ids(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="upscale"):
        import_model(_model_file(tmp_path, "compact-x2"), task="denoise")
    with pytest.raises(ModelError, match="scale 1"):
        import_model(_model_file(tmp_path, "dncnn"), task="upscale")
    with pytest.raises(ModelError, match="unknown task"):
        import_model(_model_file(tmp_path, "dncnn"), task="sharpen")
    # an ordinary network given the RAW denoiser's task ran on camera RAW data
    for task in ("raw-denoise", "jpeg"):
        with pytest.raises(ModelError, match=f"not a task for an imported model '{task}'"):
            import_model(_model_file(tmp_path, "dncnn"), task=task)
    assert _library() == []

    a = import_model(_model_file(tmp_path, "dncnn", seed=1), name="My Denoiser", task="denoise")
    b = import_model(_model_file(tmp_path, "dncnn", seed=2), name="My Denoiser")
    assert (a.id, a.task, a.name) == ("my-denoiser", "denoise", "My Denoiser")
    assert (b.id, b.task) == ("my-denoiser-2", "restore")
    # the same file twice is refused; a built-in id is never shadowed
    with pytest.raises(ModelError, match="already in the library as 'my-denoiser'"):
        import_model(_model_file(tmp_path, "dncnn", seed=1))
    builtin = next(s.id for s in catalog.default_registry() if s.kind == "classical")
    c = import_model(_model_file(tmp_path, "compact-x2"), name=builtin)
    assert c.id != builtin and c.id.startswith(builtin)


# --------------------------------------------------------------------------- running


@pytest.mark.parametrize("name", ["esrgan-x2", "esrgan-x4", "compact-x2", "span-x2", "dncnn"])
def test_restore_tiled_matches_whole(tmp_path: Path, name: str) -> None:
    scale = MODELS[name][2]
    spec = import_model(_model_file(tmp_path, name, "safetensors"))
    proc = spec.build(CPU)
    assert (proc.scale, proc.overlap) == (scale, spec.receptive_field)
    img = _photo(170, 172)
    whole = proc(img)
    events = []
    gen = restore_tiled(proc, img, tile_size=168, min_tile=16)
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            tiled = stop.value
            break
    assert len(events) == 4, "the image should have been cut into a 2 x 2 grid of tiles"
    assert tiled.shape == whole.shape == (170 * scale, 172 * scale, 3)
    assert tiled.dtype == np.float32 and tiled.min() >= 0.0 and tiled.max() <= 1.0
    assert np.abs(tiled - whole).max() <= 1 / 255
    assert float(whole.std()) > 0.01  # not a constant image: the comparison means something

    # the network is the one in the file: same output as spandrel's reference call
    sd = _state_dict(name)
    net = MODELS[name][0]()
    net.load_state_dict(sd)
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    with torch.inference_mode():
        ref = net.eval()(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    assert np.abs(whole - ref).max() < 1e-4


def test_greyscale_model_runs_on_each_channel(tmp_path: Path) -> None:
    torch.manual_seed(3)
    net = Compact(num_in_ch=1, num_out_ch=1, num_feat=8, num_conv=2, upscale=2).eval()
    src = tmp_path / "grey.safetensors"
    save_file(net.state_dict(), str(src))
    spec = import_model(src)
    assert spec.card["grey"] is True and spec.card["channels"] == {"in": 1, "out": 1}
    img = _photo(24, 20)
    out = run_to_end(restore_tiled(spec.build(CPU), img, tile_size=256))
    assert out.shape == (48, 40, 3)
    for c in range(3):
        x = torch.from_numpy(img[..., c].copy())[None, None]
        with torch.inference_mode():
            ref = net(x).clamp(0, 1)[0, 0].numpy()
        assert np.abs(out[..., c] - ref).max() < 1e-4


def test_noise_level_input_is_the_strength(tmp_path: Path) -> None:
    torch.manual_seed(4)
    net = DnCNN(in_nc=4, out_nc=3, nc=8, nb=8, act_mode="R", mode="FDnCNN")
    src = tmp_path / "fdncnn.pth"
    torch.save(net.state_dict(), src)
    spec = import_model(src, task="denoise")
    assert spec.strength is not None and spec.strength.default == 15.0
    img = _photo(32, 32)
    x = torch.from_numpy(img).permute(2, 0, 1)[None]

    def reference(sigma: float) -> np.ndarray:
        level = torch.full((1, 1, 32, 32), sigma / 255)
        with torch.inference_mode():
            y = net.eval()(torch.cat([x, level], 1)).clamp(0, 1)
        return y[0].permute(1, 2, 0).numpy()

    for strength, sigma in ((None, 15.0), (5.0, 5.0), (50.0, 50.0), (500.0, 75.0)):
        out = spec.build(LoadOptions(device="cpu", strength=strength))(img)
        assert np.abs(out - reference(sigma)).max() < 1e-5
    assert np.abs(reference(5) - reference(50)).max() > 1e-6


def _drunet() -> torch.nn.Module:
    from spandrel.architectures.DRUNet import DRUNet

    torch.manual_seed(6)
    return DRUNet(in_nc=4, out_nc=3, nc=[8, 16, 32, 64], nb=2).eval()


def test_unet_size_requirements_are_honoured(tmp_path: Path) -> None:
    """DRUNet (3 stride-2 levels) needs sides that are multiples of 8: odd sizes are padded
    (reflect) and cropped back; its noise-level input is the strength."""
    net = _drunet()
    src = tmp_path / "drunet.safetensors"
    save_file(net.state_dict(), str(src))
    spec = import_model(src, task="denoise")
    assert (spec.architecture, spec.scale, spec.task) == ("DRUNet", 1, "denoise")
    assert spec.card["size_requirements"]["multiple_of"] == 8
    assert spec.strength is not None and spec.receptive_field == 64
    img = _photo(27, 35)
    out = spec.build(LoadOptions(device="cpu", strength=25))(img)
    assert out.shape == (27, 35, 3)
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    x = torch.nn.functional.pad(x, (0, 5, 0, 5), mode="reflect")
    with torch.inference_mode():
        ref = net(torch.cat([x, torch.full((1, 1, 32, 40), 25 / 255)], 1)).clamp(0, 1)
    assert np.abs(out - ref[0, :, :27, :35].permute(1, 2, 0).numpy()).max() < 1e-5
    # "Extra quality" works on imported networks too (each flip padded to the multiple of 8)
    extra = spec.build(LoadOptions(device="cpu", strength=25, ensemble=True))
    assert extra.ensemble and extra(img).shape == (27, 35, 3)


def test_unet_tiled_matches_whole(tmp_path: Path) -> None:
    net = _drunet()
    src = tmp_path / "drunet.pth"
    torch.save(net.state_dict(), src)
    proc = import_model(src).build(CPU)
    img = _photo(260, 40)
    whole = proc(img)
    tiled = run_to_end(restore_tiled(proc, img, tile_size=176, min_tile=16))
    assert np.abs(tiled - whole).max() <= 1 / 255


# --------------------------------------------------------------------------- refusals


class _OpenForWriting:
    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self) -> tuple[Any, ...]:
        return (builtins.open, (self.target, "w"))


class _System:
    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.target}",))


@pytest.mark.parametrize("payload", [_OpenForWriting, _System])
@pytest.mark.parametrize("container", ["zip", "legacy", "plain-pickle"])
def test_malicious_pickle_is_refused_and_never_runs(
    tmp_path: Path, payload: type, container: str
) -> None:
    target = tmp_path / "pwned.txt"
    obj = {**_state_dict("compact-x2"), "x": payload(target)}
    src = tmp_path / "evil.pth"
    if container == "zip":
        torch.save(obj, src)
    elif container == "legacy":
        torch.save(obj, src, _use_new_zipfile_serialization=False)
    else:
        src.write_bytes(pickle.dumps({"params": payload(target)}, protocol=2))
    _refused(src)
    assert not target.exists(), "loading the file ran code from it"
    with pytest.raises(ModelError):
        inspect_model(src)
    assert not target.exists()


def test_junk_files_are_refused(tmp_path: Path) -> None:
    good_pth = _model_file(tmp_path, "esrgan-x2")
    good_st = _model_file(tmp_path, "esrgan-x2", "safetensors")
    rng = np.random.default_rng(0)

    def write(name: str, data: bytes) -> Path:
        p = tmp_path / name
        p.write_bytes(data)
        return p

    _refused(write("empty.pth", b""), contains="empty")
    _refused(write("empty.safetensors", b""), contains="empty")
    _refused(write("random.pth", rng.bytes(4096)))
    _refused(write("random.safetensors", rng.bytes(4096)), contains="safetensors")
    _refused(write("cut.pth", good_pth.read_bytes()[: good_pth.stat().st_size // 2]))
    _refused(write("cut.safetensors", good_st.read_bytes()[: good_st.stat().st_size // 2]))
    _refused(write("model.onnx", good_pth.read_bytes()), contains="unsupported file type")
    _refused(tmp_path / "missing.pth", contains="no such file")

    other = tmp_path / "not-a-model.pth"
    torch.save({"encoder.weight": torch.zeros(4, 4), "head.bias": torch.zeros(4)}, other)
    _refused(other, contains="not a kind of model this app knows (it knows ")
    tensor_only = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), tensor_only)
    _refused(tensor_only, contains="no weights")
    script = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.trace(torch.nn.Conv2d(3, 3, 3), torch.zeros(1, 3, 8, 8)), script)
    _refused(script, contains="TorchScript")


def test_weights_that_do_not_fit_say_which_tensor_and_nan_weights_are_refused(
    tmp_path: Path,
) -> None:
    """A known architecture's file with one tensor of the wrong shape names that tensor and
    both shapes in the one line (PyTorch puts them on a second line); weights that give NaN
    are refused before they reach the library."""
    sd = _state_dict("compact-x2")
    name = next(k for k, v in sd.items() if v.ndim == 1)
    wrong = {**sd, name: torch.zeros(3, 3)}
    msg = _refused(_save(wrong, tmp_path / "wrong.safetensors", "safetensors"), contains=name)
    assert "is [3, 3] in the file" in msg and "the network needs [" in msg
    nan = {k: v.clone() for k, v in sd.items()}
    first = next(k for k, v in nan.items() if v.ndim == 4)
    nan[first][0, 0, 0, 0] = float("nan")
    _refused(_save(nan, tmp_path / "nan.safetensors", "safetensors"), contains="NaN")


def test_models_that_are_not_image_to_image_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(5)
    rgba = Compact(num_in_ch=4, num_out_ch=4, num_feat=8, num_conv=2, upscale=2)
    src = tmp_path / "rgba.pth"
    torch.save(rgba.state_dict(), src)
    _refused(src, contains="channels")

    # face restorers and inpainting models need more than an image in, an image out
    from spandrel import ImageModelDescriptor, MaskedImageModelDescriptor
    from spandrel.architectures.Compact import CompactArch

    net = Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=1)
    common: dict[str, Any] = dict(
        state_dict=net.state_dict(),
        architecture=CompactArch(),
        tags=[],
        supports_half=False,
        supports_bfloat16=False,
        input_channels=3,
        output_channels=3,
    )
    face = ImageModelDescriptor(net, purpose="FaceSR", scale=1, **common)
    inpaint = MaskedImageModelDescriptor(net, purpose="Inpainting", **common)
    ok = _model_file(tmp_path, "dncnn")
    for desc, words in ((face, "face restoration"), (inpaint, "inpainting")):
        monkeypatch.setattr(importer, "detect", lambda sd, source, d=desc: d)
        _refused(ok, contains=words)


def test_a_failing_copy_leaves_the_library_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_model(_model_file(tmp_path, "dncnn", seed=1))
    before = _library()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(importer, "_copy_with_hash", broken)
    with pytest.raises(ModelError, match="No space left"):
        import_model(_model_file(tmp_path, "esrgan-x2"))
    assert _library() == before
    assert [s.id for s in user_specs()] == before


def test_a_read_only_user_folder_gives_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _model_file(tmp_path, "dncnn")

    def read_only() -> Path:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(paths, "user_models_dir", read_only)
    with pytest.raises(ModelError, match=r"model library folder: the folder is read-only"):
        import_model(src)


# --------------------------------------------------------------------------- the library


def test_imported_models_survive_a_restart_and_can_be_removed(tmp_path: Path) -> None:
    a = import_model(_model_file(tmp_path, "esrgan-x2"), name="Sharp x2")
    b = import_model(_model_file(tmp_path, "dncnn"), task="denoise")

    # a "restart": nothing cached, the library is read again from disk
    fresh = {s.id: s for s in user_specs()}
    assert set(fresh) == {a.id, b.id}
    assert fresh[a.id] == a and fresh[a.id].name == "Sharp x2"
    reg = catalog.default_registry()
    assert reg.get(a.id).kind == "imported" and reg.get(b.id).task == "denoise"
    out = run_to_end(restore_tiled(reg.get(a.id).build(CPU), _photo(20, 24), tile_size=256))
    assert out.shape == (40, 48, 3)

    remove_model(a.id)
    assert [s.id for s in user_specs()] == [b.id]
    assert a.id not in catalog.default_registry()
    assert not (paths.user_models_dir() / a.id).exists()
    with pytest.raises(ModelError, match="unknown model"):
        remove_model(a.id)
    with pytest.raises(ModelError, match="unknown model"):
        remove_model("../" + b.id)
    builtin = next(s.id for s in reg if s.kind == "classical")
    with pytest.raises(ModelError, match="built-in"):
        remove_model(builtin)
    assert builtin in catalog.default_registry()


def test_finetuned_cards_in_the_library_are_listed(tmp_path: Path) -> None:
    """The fine-tune feature saves into the same library with kind "finetuned"."""
    spec = import_model(_model_file(tmp_path, "compact-x2"))
    root = paths.user_models_dir()
    card = json.loads((root / spec.id / "card.json").read_text())
    (root / spec.id / "card.json").write_text(
        json.dumps({**card, "kind": "finetuned", "name": "Tuned"})
    )
    (tuned,) = user_specs()
    assert (tuned.kind, tuned.name, tuned.architecture) == ("finetuned", "Tuned", "Compact")
    assert "fine-tuned" in tuned.description
    assert catalog.default_registry().get(spec.id).kind == "finetuned"
    assert tuned.build(CPU)(_photo(16, 16)).shape == (32, 32, 3)
    remove_model(spec.id)
    assert user_specs() == []


def test_corrupt_entries_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = import_model(_model_file(tmp_path, "compact-x2"))
    root = paths.user_models_dir()
    good_card = json.loads((root / good.id / "card.json").read_text())

    (root / "bad-json").mkdir()
    (root / "bad-json" / "card.json").write_text("{not json")
    (root / "no-card").mkdir()
    (root / "no-weights").mkdir()
    (root / "no-weights" / "card.json").write_text(json.dumps({**good_card, "id": "no-weights"}))
    (root / "bad-task").mkdir()
    (root / "bad-task" / "card.json").write_text(
        json.dumps({**good_card, "id": "bad-task", "task": "colourise"})
    )
    (root / "traversal").mkdir()
    (root / "traversal" / "card.json").write_text(
        json.dumps({**good_card, "id": "traversal", "file": f"../{good.id}/weights.pth"})
    )
    (root / "truncated").mkdir()
    (root / "truncated" / "weights.pth").write_bytes(b"\0" * 10)
    (root / "truncated" / "card.json").write_text(json.dumps({**good_card, "id": "truncated"}))
    (root / ".importing-leftover").mkdir()

    with caplog.at_level(logging.WARNING, logger="deconv_gui.models.imported"):
        specs = user_specs()
    assert [s.id for s in specs] == [good.id]
    warned = caplog.text
    for bad in ("bad-json", "no-card", "no-weights", "bad-task", "traversal", "truncated"):
        assert bad in warned
    assert good.id in catalog.default_registry()

    remove_model("bad-json")  # a corrupt entry can still be removed
    assert not (root / "bad-json").exists()


def test_a_library_file_that_changed_is_reported_when_built(tmp_path: Path) -> None:
    spec = import_model(_model_file(tmp_path, "compact-x2"))
    weights = paths.user_models_dir() / spec.id / spec.card["file"]
    data = bytearray(weights.read_bytes())
    weights.write_bytes(bytes(data[: len(data) // 2]) + b"\0" * (len(data) - len(data) // 2))
    with pytest.raises(ModelError):
        spec.build(CPU)


def test_weights_changed_in_place_are_refused_by_their_checksum(tmp_path: Path) -> None:
    """Same size, other numbers (a flipped byte, another network's weights of the same shape):
    the card's sha256 says so before anything runs."""
    spec = import_model(_model_file(tmp_path, "compact-x2", "safetensors"))
    assert spec.build(CPU)(_photo(16, 16)).shape == (32, 32, 3)
    weights = paths.user_models_dir() / spec.id / spec.card["file"]
    other = _model_file(tmp_path, "compact-x2", "safetensors", seed=1).read_bytes()
    assert len(other) == weights.stat().st_size and other != weights.read_bytes()
    weights.write_bytes(other)
    with pytest.raises(ModelError, match="has changed since it was imported.*checksum"):
        user_specs()[0].build(CPU)
    with pytest.raises(ModelError, match="checksum"):  # a spec made before the change too
        spec.build(CPU)


@pytest.mark.parametrize("edit_to", [False, True])
def test_a_card_that_misstates_the_noise_level_input_is_refused(
    tmp_path: Path, edit_to: bool
) -> None:
    """A card edited by hand to say the opposite of the network (was a traceback from the
    network's first convolution, in the middle of a restore)."""
    if edit_to:
        src = _model_file(tmp_path, "dncnn")
    else:
        src = tmp_path / "fdncnn.pth"
        torch.save(DnCNN(in_nc=4, out_nc=3, nc=8, nb=8, act_mode="R", mode="FDnCNN").state_dict(),
                   src)  # fmt: skip
    spec = import_model(src, task="denoise")
    assert spec.card["noise_level_input"] is not edit_to
    card_path = paths.user_models_dir() / spec.id / "card.json"
    card_path.write_text(json.dumps({**spec.card, "noise_level_input": edit_to}))
    (edited,) = user_specs()
    with pytest.raises(ModelError, match="card does not match the network") as info:
        edited.build(CPU)(_photo(16, 16))
    assert "\n" not in str(info.value)


def test_a_hand_edited_name_is_shown_on_one_line(tmp_path: Path, capsys: Any) -> None:
    """Line breaks and terminal escapes in a card's name would split `deconv-gui models`'
    rows (or move the cursor); renaming refuses them as importing does."""
    from deconv_gui import cli

    spec = import_model(_model_file(tmp_path, "compact-x2"))
    card_path = paths.user_models_dir() / spec.id / "card.json"
    card_path.write_text(json.dumps({**spec.card, "name": "Mine\nfake row\x1b[2J\x9b2J\u202e"}))
    (edited,) = user_specs()
    assert edited.name == "Mine fake row [2J 2J"
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    assert "Mine fake row" in out and "\x1b" not in out and "\x9b" not in out
    with pytest.raises(ModelError, match="one line"):
        imported.rename_user_model(spec.id, "two\nlines")


def test_two_imports_of_one_file_at_once_add_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two windows (or a window and the CLI) importing the same file at the same moment: both
    pass the early duplicate check; the one that saves second is refused under the library's
    lock. Here the second import runs to the end while the first is copying."""
    src = _model_file(tmp_path, "compact-x2")
    copy = importer._copy_with_hash
    inner: list[Any] = []

    def copy_and_import_meanwhile(a: Path, b: Path) -> tuple[str, int]:
        if not inner:
            inner.append("started")
            inner.append(import_model(src, name="second window"))
        return copy(a, b)

    monkeypatch.setattr(importer, "_copy_with_hash", copy_and_import_meanwhile)
    with pytest.raises(ModelError, match="already in the library as 'second-window'"):
        import_model(src, name="first window")
    assert [s.id for s in user_specs()] == ["second-window"]
    assert not [p for p in paths.user_models_dir().iterdir() if p.name.startswith(".adding")]


def test_only_spandrels_own_architectures_are_detected() -> None:
    ids = [a for a, _ in imported.supported_architectures()]
    assert {"ESRGAN", "Compact", "SPAN", "DnCNN", "SwinIR", "HAT"} <= set(ids)
    for extra in ("CodeFormer", "SRFormer", "Restormer", "MAT", "DDColor"):
        assert extra not in ids


def test_cpu_bfloat16_follows_spandrels_flag_and_the_users_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deconv_gui.core import devices

    monkeypatch.setenv(devices.CPU_BF16_ENV, "1")  # as on a CPU with native bfloat16
    spec = import_model(_model_file(tmp_path, "esrgan-x2", "safetensors"))
    desc = imported.load_library_model(paths.user_models_dir() / spec.id, spec.card)
    proc = spec.build(LoadOptions(device="cpu"))
    assert desc.supports_bfloat16 and proc.precision == "bfloat16"
    img = _photo(40, 44)
    out = proc(img)
    exact = spec.build(CPU)  # allow_fp16=False: the user asked for float32
    assert exact.precision == "float32"
    assert np.abs(out - exact(img)).max() < 0.02


def test_a_compressed_pth_that_unpacks_far_beyond_its_size_is_refused(tmp_path: Path) -> None:
    """torch.save writes its archive uncompressed; one whose entries are deflated to a small
    fraction of what they unpack to is refused before torch.load fills the memory."""
    import io
    import zipfile

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2_000_000)}, buf)  # 8 MB of zeros
    bomb = tmp_path / "bomb.pth"
    with (
        zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src,
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    assert bomb.stat().st_size < 200_000
    _refused(bomb, contains="refused: it unpacks to 8 MB")
    plain = _model_file(tmp_path, "compact-x2")  # an ordinary archive is not held up
    assert import_model(plain).id


def test_odd_paths_names_and_tensors_give_one_line(tmp_path: Path) -> None:
    long_path = tmp_path / ("b" * 300 + ".pth")  # over the file system's 255 bytes
    _refused(long_path, contains="cannot read the file")
    loop = tmp_path / "loop.pth"
    loop.symlink_to(loop)
    _refused(loop, contains="not a regular file")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.pth")
        _refused(tmp_path / "pipe.pth", contains="not a regular file")
    long_name = _save(_state_dict("compact-x2"), tmp_path / ("a" * 200 + ".pth"), "pth")
    _refused(long_name, contains="choose one with --name")
    sd = _state_dict("compact-x2")
    first = next(iter(sd))
    _refused(_save({**sd, first: sd[first].to(torch.int8)}, tmp_path / "q.pth", "pth"),
             contains=f"{first} holds int8 values")  # fmt: skip
    _refused(_save({**sd, first: sd[first].bool()}, tmp_path / "b.pth", "pth"), contains="bool")


def test_a_models_folder_that_cannot_be_made_leaves_the_bundled_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DECONV_GUI_HOME/models is a file: the library is reported broken, and every bundled
    and classical model still runs (`restore --model bicubic-x2` failed)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").write_text("not a folder")
    monkeypatch.setenv("DECONV_GUI_HOME", str(home))
    specs, broken = imported.scan_library()
    assert specs == [] and broken and "cannot read the library folder" in broken[0][1]
    reg = catalog.default_registry()
    assert reg.get("bicubic-x2").id == "bicubic-x2"


def test_a_removed_models_id_is_never_given_to_another_and_presets_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After `models remove esrgan-x4`, an unrelated x2 network imported under the same
    name took the id esrgan-x4, and a preset saved with the x4 model ran the x2 one."""
    from deconv_gui.cli import main

    x4 = import_model(_model_file(tmp_path, "esrgan-x4"), name="esrgan_x4")
    assert x4.id == "esrgan-x4"
    assert main(["presets", "save", "up4", "--model", x4.id]) == 0
    capsys.readouterr()
    assert main(["models", "remove", x4.id]) == 0
    err = capsys.readouterr().err
    assert "preset(s) 'up4' use esrgan-x4, which is gone" in err
    other = import_model(_model_file(tmp_path, "compact-x2"), name="esrgan_x4")
    assert other.id != "esrgan-x4"
    photo = tmp_path / "p.png"
    from PIL import Image

    Image.fromarray((_photo(20, 24) * 255).astype(np.uint8)).save(photo)
    assert main(["restore", str(photo), "--preset", "up4", "-o", str(tmp_path / "o.png")]) == 1
    err = capsys.readouterr().err
    assert "the model 'esrgan-x4' was removed from your model library" in err
    assert not (tmp_path / "o.png").exists()
