"""Bundled networks: ``resources/models/<id>.safetensors`` with a ``<id>.json`` card beside it.

`bundled_specs()` reads every card that has its weights next to it and returns one
`ModelSpec` per model (sorted by id). A spec's ``build(options)`` rebuilds the module from
the card's ``architecture`` block (`deconv_gui.models.networks.build_network`), loads the
weights (safetensors: no pickle) and wraps it in `deconv_gui.core.runner.TorchProcessor`
with the card's scale, receptive field (as the tile overlap), pad multiple, fp16 flag (which
also allows bfloat16 on CPUs where it is fast) and optional ``cpu_tile`` (the CPU tile side
measured to run it fastest), in channels-last layout on the CPU.

The blind denoiser (a card whose architecture has ``noise_map: true``) gets an FFDNet-style
noise-level map as the module's extra input: ``options.strength`` (sigma on the 0-255 scale)
or, when None, an automatic estimate (`deconv_gui.core.noise.estimate_noise_sigma`) made
once on the first image/tile it sees, or on the whole photo when the caller runs
``processor.prepare(image, meta)`` first, so every tile of a photo gets the same level.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deconv_gui.core.runner import TorchProcessor
from deconv_gui.errors import ModelError
from deconv_gui.models.registry import LoadOptions, ModelSpec, StrengthSpec
from deconv_gui.paths import resource_path

MODELS_DIR = ("models",)


class NoiseLevelInput:
    """``extra_input`` for `TorchProcessor`: a (N, 1, 1, 1) noise-level map.

    ``sigma`` is on the 0-255 scale; None = estimate it (once) from the first image seen.
    """

    def __init__(self, sigma: float | None, map_scale: float) -> None:
        self.sigma = None if sigma is None else float(sigma)
        self.auto = sigma is None
        self.map_scale = float(map_scale)

    def prepare(self, image: np.ndarray, meta: Any = None) -> float:
        """Estimate the level on a whole photo (H, W, 3) float32 before tiling it."""
        if self.auto:
            from deconv_gui.core.noise import estimate_noise_sigma

            self.sigma = float(estimate_noise_sigma(image))
        return float(self.sigma or 0.0)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.sigma is None:
            img = x[0].detach().float().permute(1, 2, 0).cpu().numpy()
            self.prepare(img)
        value = float(self.sigma or 0.0) / self.map_scale
        return torch.full((x.shape[0], 1, 1, 1), value, dtype=x.dtype, device=x.device)


class JpegQualityInput:
    """``extra_input`` for the JPEG artifact remover: the quality map (B, 1, 1, 1).

    ``quality`` is the JPEG quality (1-100) the photo was saved at; None = Auto: the
    quality read from the file's quantisation tables (``meta.extra["jpeg_quality"]``, see
    `prepare`) or measured from the pixels' 8x8 DCT statistics; a photo with no trace of
    JPEG compression gets quality 100: nothing to remove, and `JpegRemoverProcessor` leaves
    it as it is.
    """

    def __init__(self, quality: float | None) -> None:
        self.quality = None if quality is None else float(quality)
        self.auto = quality is None

    def prepare(self, image: np.ndarray, meta: Any = None) -> float:
        if self.auto:
            from deconv_gui.core.jpeg_quality import estimate_quality_from_pixels

            q = (getattr(meta, "extra", None) or {}).get("jpeg_quality")
            if q is None:
                q = estimate_quality_from_pixels(image)
            self.quality = 100.0 if q is None else float(q)
        return float(self.quality if self.quality is not None else 100.0)

    def nothing_to_remove(self, tile: np.ndarray) -> bool:
        """Quality 100 (Auto found no compression, or the user set 100), or on Auto a
        quality of `AUTO_LEAVE_QUALITY` or more (a camera's fine JPEG, which the network
        would only soften): nothing to remove (Auto measures on ``tile`` when `prepare` was
        not called). A quality of 95-99 set by hand still runs the network."""
        from deconv_gui.core.jpeg_quality import left_as_it_is

        if self.quality is None:
            self.prepare(tile)
        return self.quality is not None and left_as_it_is(self.quality, self.auto)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.quality is None:
            self.prepare(x[0].detach().float().permute(1, 2, 0).cpu().numpy())
        from deconv_gui.core.jpeg_quality import quality_map

        value = quality_map(self.quality if self.quality is not None else 100.0)
        return torch.full((x.shape[0], 1, 1, 1), value, dtype=x.dtype, device=x.device)


class JpegRemoverProcessor(TorchProcessor):
    """The JPEG artifact remover: leaves a photo with nothing to remove (quality 100: Auto
    found no compression, or the user set 100) as it is. The network learnt qualities 5-95;
    at 100 it only softens: Kodak24 saved at quality 100 (4:2:0) went from 44.78 to 42.72 dB
    through it on Auto, and to 42.14 with quality 95 set by hand (``deconv-gui eval --model
    redunet-jpeg --degrade jpeg=100 [--strength 95] .../test/Kodak24``, 2026-12-05, before
    this class). The cost: pixels saved at quality 95 whose compression Auto cannot see (no
    file tables; a JPEG file's tables are read) are left as they are where the network
    gained 0.13 dB (40.43 -> 40.56 with ``jpeg=95``; ``jpeg=90``: 38.52 -> 38.50)."""

    extra_input: JpegQualityInput

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        if self.extra_input.nothing_to_remove(tile):
            return np.array(tile, dtype=np.float32, copy=True)
        return super().__call__(tile)


class RawNoiseInput:
    """``extra_input`` for the RAW denoiser: the per-photosite noise standard deviation
    (B, 4, h, w) of a packed Bayer tile, from a Poisson-Gaussian `NoiseProfile`.

    ``strength`` is a percentage of the profile's noise (100 = as measured); the profile is
    measured on the whole mosaic by `prepare` (`core.raw_noise.estimate_profile`) unless one
    is given (the true one in tests), or the model was tuned on this photo's camera: then its
    card's fitted profile at the photo's ISO (``camera``, `core.camera_noise.CameraNoise`).
    A part of a photo (a preview) gets the whole photo's measurement (``measured``).
    """

    def __init__(
        self,
        strength: float | None,
        profile: Any = None,
        camera: Any = None,
        measured: Any = None,
    ) -> None:
        self.factor = 1.0 if strength is None else float(strength) / 100.0
        self.profile = profile
        self.camera = camera  # a `core.camera_noise.CameraNoise` (a model tuned on a camera)
        self.measured = measured  # measured on the whole photo when this is a part of it

    def prepare(self, packed: np.ndarray, meta: Any = None) -> Any:
        from deconv_gui.core.raw_noise import estimate_profile

        if self.profile is None and self.camera is not None:
            raw = (getattr(meta, "extra", None) or {}).get("raw")
            md = getattr(raw, "metadata", None)
            if md is not None and self.camera.matches(md.make, md.model):
                self.profile = self.camera.profile(md.iso)  # None without an ISO
            elif md is not None and self.measured is None:  # (a preview's part: said once)
                from deconv_gui.core.camera_noise import CameraNoise

                other = CameraNoise(md.make or "", md.model or "").name
                logging.getLogger(__name__).warning(
                    "this model was tuned on a %s and this photo is from a %s: its noise is "
                    "measured in the photo itself (a model tuned on this camera, or the "
                    "general RAW denoiser, may suit it better)",
                    self.camera.name,
                    other,
                )
        if self.profile is None:
            self.profile = self.measured if self.measured is not None else estimate_profile(packed)
        return self.profile

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        from deconv_gui.core.raw_noise import RAW_MAP_SCALE

        if self.profile is None:
            self.prepare(x[0].detach().float().permute(1, 2, 0).cpu().numpy())
        prof = self.profile.scaled(self.factor)
        xf = x.float()
        var = (xf.clamp_min(0.0) * prof.shot + prof.read).clamp_min(1e-12)
        return (var.sqrt() * RAW_MAP_SCALE).to(x.dtype)


class WienerFirstProcessor(TorchProcessor):
    """A `TorchProcessor` whose network takes the Wiener deconvolution of each tile with the
    user's blur kernel (normalised) at a fixed noise-to-signal ratio ``nsr`` (the card's
    ``wiener_nsr``): the known-kernel deblur model (see `training.degradations`)."""

    def __init__(
        self, module: torch.nn.Module, *, kernel: np.ndarray, nsr: float, reach: int, **kw: Any
    ):
        super().__init__(module, **kw)
        self.kernel = kernel
        self.nsr = float(nsr)
        self.reach = int(reach)  # `classical.wiener_reach`: context and FFT padding

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        from deconv_gui.models.classical import wiener_deconvolve

        return super().__call__(wiener_deconvolve(tile, self.kernel, self.nsr, self.reach))


def models_dir() -> Path:
    return resource_path(*MODELS_DIR)


def _strength(card: dict[str, Any]) -> StrengthSpec | None:
    s = card.get("strength")
    if not s:
        return None
    return StrengthSpec(
        label=s.get("label", "Strength"),
        minimum=float(s.get("minimum", 0.0)),
        maximum=float(s.get("maximum", 1.0)),
        default=float(s.get("default", 0.0)),
        auto=bool(s.get("auto", False)),
        unit=s.get("unit", ""),
        help=s.get("help", ""),
    )


def load_module(card: dict[str, Any], weights: Path) -> torch.nn.Module:
    """Rebuild the card's network and load its safetensors weights (fp32 in memory)."""
    from safetensors.torch import load_file

    from deconv_gui.models.networks import build_network

    arch = card["architecture"]
    net = build_network(arch["name"], arch.get("hparams", {}))
    try:
        sd = load_file(str(weights))
        net.load_state_dict({k: v.float() for k, v in sd.items()})
    except Exception as exc:  # noqa: BLE001 - any load failure is a model error here
        raise ModelError(f"cannot load {weights.name}: {exc}") from exc
    return net.eval()


def _builder(card: dict[str, Any], weights: Path) -> Callable[[LoadOptions], Any]:
    cache: dict[str, torch.nn.Module] = {}

    def build(options: LoadOptions) -> Any:
        from deconv_gui.models.networks import NOISE_MAP_SCALE

        if "module" not in cache:
            cache["module"] = load_module(card, weights)
        # each processor owns its module copy (it may be moved to a device or halved)
        import copy

        module = copy.deepcopy(cache["module"])
        extra: Any = None
        kind = card.get("input", "rgb")
        if kind == "bayer":
            camera = None
            if card.get("noise_profile"):
                from deconv_gui.core.camera_noise import CameraNoise

                camera = CameraNoise.from_json(card["noise_profile"])
            from deconv_gui.core.raw_noise import MEASURED_PROFILE

            params = options.params
            extra = RawNoiseInput(
                options.strength,
                params.get("noise_profile"),
                camera,
                params.get(MEASURED_PROFILE),
            )
        elif kind == "jpeg-quality":
            extra = JpegQualityInput(options.strength)
        elif card["architecture"].get("hparams", {}).get("noise_map"):
            extra = NoiseLevelInput(options.strength, NOISE_MAP_SCALE)
        common: dict[str, Any] = dict(
            scale=int(card.get("scale", 1)),
            overlap=int(card.get("receptive_field", 16)),
            device=options.device,
            fp16=bool(card.get("fp16", False)) and options.allow_fp16,
            pad_multiple=int(card.get("pad_multiple", 1)),
            extra_input=extra,
            channels_last=True,
            cpu_tile=card.get("cpu_tile"),
            channels=4 if kind == "bayer" else 3,
            ensemble=options.ensemble,
        )
        if card.get("wiener_nsr"):
            from deconv_gui.models.classical import kernel_option, wiener_reach

            kernel = kernel_option(options)
            nsr = float(card["wiener_nsr"])
            reach = wiener_reach(kernel, nsr)
            # the context the Wiener step needs around each tile, on top of the network's
            common["overlap"] += reach
            proc: Any = WienerFirstProcessor(module, kernel=kernel, nsr=nsr, reach=reach, **common)
        elif isinstance(extra, JpegQualityInput):
            proc = JpegRemoverProcessor(module, **common)
        else:
            proc = TorchProcessor(module, **common)
        if extra is not None:
            proc.prepare = extra.prepare
        return proc

    return build


def spec_from_card(card_path: str | Path, *, kind: str = "bundled") -> ModelSpec:
    """A `ModelSpec` for ``<id>.json`` with ``<id>.safetensors`` beside it."""
    card_path = Path(card_path)
    card = json.loads(card_path.read_text(encoding="utf-8"))
    weights = card_path.with_suffix(".safetensors")
    if not weights.exists():
        raise ModelError(f"{card_path.name}: weights {weights.name} missing")
    return network_spec(card, weights, kind=kind)


def network_spec(card: dict[str, Any], weights: Path, *, kind: str) -> ModelSpec:
    """A trainable `ModelSpec` for one of our networks described by `card` (a bundled model,
    or a fine-tuned one in the user library) with its safetensors `weights`."""
    arch = card["architecture"]
    return ModelSpec(
        id=card["id"],
        name=card.get("name", card["id"]),
        task=card["task"],
        scale=int(card.get("scale", 1)),
        kind=kind,
        description=card.get("description", ""),
        build=_builder(card, weights),
        receptive_field=int(card.get("receptive_field", 16)),
        tiles_well=True,
        fp16=bool(card.get("fp16", False)),
        strength=_strength(card),
        architecture=f"{arch['name']} {json.dumps(arch.get('hparams', {}), sort_keys=True)}",
        card=card,
        # the known-kernel deblur model learns what the Wiener step leaves, which the
        # fine-tune pipelines do not make
        trainable=not card.get("wiener_nsr"),
        input=str(card.get("input", "rgb")) if card.get("input") == "bayer" else "rgb",
        params=tuple(str(p) for p in card.get("options", ())),
    )


def bundled_specs(folder: str | Path | None = None) -> list[ModelSpec]:
    """One spec per ``*.json`` card with weights beside it in ``resources/models``."""
    d = Path(folder) if folder is not None else models_dir()
    if not d.is_dir():
        return []
    specs = []
    for card_path in sorted(d.glob("*.json")):
        if not card_path.with_suffix(".safetensors").exists():
            continue
        specs.append(spec_from_card(card_path))
    return specs
