"""The user model library: imported and fine-tuned models.

Each model lives in its own folder ``paths.user_models_dir()/<id>/``: the weights file exactly as
the user gave it (``weights.pth`` / ``weights.safetensors`` ...) and a ``card.json`` describing it
(architecture, scale, channels, fp16, size requirements, receptive field, sha256, import date...).
`user_specs()` turns the cards into `ModelSpec`s; a spec's ``build`` reads the weights safely,
lets spandrel rebuild the network and wraps it in a `TorchProcessor` for the tiled engine.

A card's ``loader`` says how its weights are rebuilt: ``"spandrel"`` (imported files, the
default) or ``"deconv"``: one of the app's own networks fine-tuned on the user's photos
(`deconv_gui.training.finetune.save_finetuned`), whose card carries the architecture block
(``{"name", "hparams"}``) of `deconv_gui.models.networks.build_network`, the receptive field and
pad multiple, and ``weights.safetensors``; it is built like a bundled network
(`deconv_gui.models.bundled`) and can be fine-tuned again (``trainable``).

Safety: weights are never unpickled freely. ``.safetensors`` files are read with safetensors;
``.pth``/``.pt``/``.ckpt`` only with ``torch.load(weights_only=True)`` (PyTorch's restricted
unpickler: tensors, dicts, lists and numbers; any other global is refused). TorchScript archives
(which carry code) are refused. Only spandrel's own, permissively licensed architectures are
detected (never ``spandrel_extra_arches``).

Adding and removing models is in `deconv_gui.models.importer`. Nothing here imports Qt, and
spandrel is imported lazily so listing the library stays fast.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deconv_gui import paths
from deconv_gui.errors import DeconvError, ModelError
from deconv_gui.models.registry import TASKS, LoadOptions, ModelSpec, StrengthSpec

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

CARD_NAME = "card.json"
CARD_FORMAT = 1
USER_KINDS = ("imported", "finetuned")
LOADERS = ("spandrel", "deconv")  # how a card's weights are rebuilt (see the module doc)
WEIGHT_EXTENSIONS = (".safetensors", ".pth", ".pt", ".ckpt")

# Context (input pixels) a tile needs on each side, per architecture. CNNs working at the input
# resolution gain ~1 px per 3x3 conv and their effective field is well inside 32 px; U-Nets
# (8-16x downsampling) and window transformers (shifted / overlapping windows stacked over many
# layers) get more. Unknown architectures get `DEFAULT_RECEPTIVE_FIELD`.
DEFAULT_RECEPTIVE_FIELD = 32
RECEPTIVE_FIELD: dict[str, int] = {
    # CNNs at input resolution
    "ESRGAN": 32,
    "Compact": 32,
    "SPAN": 32,
    "SwiftSRGAN": 32,
    "DnCNN": 32,
    "MoSR": 32,
    "MMRealSR": 32,
    "SAFMN": 32,
    "SAFMNBCIE": 32,
    "AuraSR": 32,
    "DITN": 48,
    "PLKSR": 48,  # large (up to 17x17) kernels
    "RCAN": 64,  # very deep (~400 convs)
    # U-Nets and multi-scale restoration nets
    "FBCNN": 64,
    "DRUNet": 64,
    "RealCUGAN": 64,
    "NAFNet": 64,
    "KBNet": 64,
    "FFTformer": 64,
    "MixDehazeNet": 64,
    "RetinexFormer": 64,
    "HVICIDNet": 64,
    "SCUNet": 64,
    "Uformer": 128,
    # window transformers
    "SwinIR": 64,
    "Swin2SR": 64,
    "HAT": 64,
    "DAT": 64,
    "RGT": 64,
    "DRCT": 64,
    "ATD": 64,
    "CRAFT": 64,
    "OmniSR": 64,
    "SeemoRe": 64,
    "MoESR": 64,
    "FDAT": 64,
    "DCTLSA": 64,
    "IPT": 64,
    "GRL": 96,  # anchored stripe attention reaches far
}

# Architectures whose output depends on whole-image statistics (global pooling / squeeze-and-
# excitation), so tiles can differ slightly from a whole-image run. spandrel flags a few more
# itself (`ModelTiling.DISCOURAGED`).
GLOBAL_CONTEXT = frozenset({"NAFNet", "RCAN", "RealCUGAN"})

# Architectures that take a noise-level map as an extra input channel; we expose it as the
# model's strength (spandrel fixes it at 15/255).
NOISE_LEVEL_DEFAULT = 15.0

_ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def is_valid_id(model_id: str) -> bool:
    """A library id: a lowercase slug (letters, digits, inner dashes), at most 64 characters."""
    return bool(_ID_RE.fullmatch(model_id))


_SIZE_MISMATCH = re.compile(
    r"size mismatch for (\S+): copying a param with shape torch\.Size\(\[([^\]]*)\]\) from "
    r"checkpoint, the shape in current model is torch\.Size\(\[([^\]]*)\]\)"
)


def _one_line(exc: BaseException, limit: int = 160) -> str:
    """The gist of an error in one line: its first line, and the next ones when the first
    only introduces them (PyTorch's "Error(s) in loading state_dict for X:" says which
    tensor does not fit on the following lines: that part is kept, in plain words)."""
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()] or [type(exc).__name__]
    line = lines[0]
    if line.endswith(":") and len(lines) > 1:
        rest = [_SIZE_MISMATCH.sub(r"\1 is [\2] in the file, the network needs [\3]", ln)
                for ln in lines[1:]]  # fmt: skip
        line = f"{line} {'; '.join(rest)}"
    return line if len(line) <= limit else line[: limit - 3] + "..."


# --------------------------------------------------------------------------- safe reading


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a weights file without executing anything from it and unwrap the state dict.

    Raises `ModelError` (one line) for a missing, empty, truncated, random or unsafe file.
    """
    p = Path(path)
    check_model_file(p, p.name)
    ext = p.suffix.lower()
    if ext not in WEIGHT_EXTENSIONS:
        raise ModelError(
            f"{p.name}: unsupported file type '{ext or p.name}' "
            f"(expected {', '.join(WEIGHT_EXTENSIONS)})"
        )
    try:
        size = p.stat().st_size
    except OSError as e:
        raise ModelError(f"{p.name}: cannot read the file ({_one_line(e)})") from None
    if size == 0:
        raise ModelError(f"{p.name}: the file is empty")
    raw = _read_safetensors(p) if ext == ".safetensors" else _read_pickled(p)
    return unwrap_state_dict(raw, source=p.name)


def check_model_file(p: Path, shown: str) -> None:
    """`ModelError` unless ``p`` is a regular file we may read (a folder, a missing file, a
    name over the file system's limit and a folder without permission each say so)."""
    try:
        if p.is_file():
            return
        if p.is_dir():
            what = "a folder, not a model file"
        elif p.exists() or p.is_symlink():
            what = "not a regular file (a pipe, a device or a broken link)"
        else:
            what = "no such file"
    except OSError as e:  # ENAMETOOLONG, EACCES on a folder on the way
        what = f"cannot read the file ({_one_line(e)})"
    raise ModelError(f"{shown}: {what}")


# A .pth is a zip archive of uncompressed entries (torch.save never compresses them); a
# compressed entry could unpack to many times the file's size (a "zip bomb").
_MAX_UNPACKED_RATIO = 4


def _check_pth_archive(p: Path) -> None:
    import zipfile

    try:
        if not zipfile.is_zipfile(p):
            return  # the legacy (pre-1.6) format: read by torch.load's own checks
        with zipfile.ZipFile(p) as z:
            infos = z.infolist()
    except (OSError, zipfile.BadZipFile):
        return  # torch.load reports the damage
    unpacked = sum(i.file_size for i in infos)
    size = max(1, p.stat().st_size)
    if any(i.compress_type != zipfile.ZIP_STORED for i in infos) and (
        unpacked > _MAX_UNPACKED_RATIO * size + (1 << 20)
    ):
        raise ModelError(
            f"{p.name}: refused: it unpacks to {unpacked / 1e6:.0f} MB from {size / 1e6:.1f} MB "
            "(compressed entries, which PyTorch does not write: possibly made to exhaust memory)"
        )


def _read_safetensors(p: Path) -> Any:
    from safetensors.torch import load_file

    try:
        return load_file(str(p), device="cpu")
    except Exception as e:  # SafetensorError, OSError, ... on damaged files
        log.info("%s: safetensors could not read it: %s", p.name, _one_line(e))
        raise ModelError(
            f"{p.name}: not a readable safetensors file (damaged, truncated or not weights)"
        ) from None


def _read_pickled(p: Path) -> Any:
    import pickle

    import torch

    _check_pth_archive(p)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # weights_only=True: PyTorch's restricted unpickler (tensors, containers, numbers);
            # a file that names any other global (os.system, builtins.open...) is refused
            # before anything from it runs.
            return torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        m = re.search(r"GLOBAL ([\w.]+)", str(e))
        if m:
            raise ModelError(
                f"{p.name}: refused for safety: the file asks to run or build Python objects "
                f"({m.group(1)}), not just weights; use a .safetensors or plain state-dict file"
            ) from None
        raise ModelError(
            f"{p.name}: not a readable PyTorch weights file (damaged, truncated, or it holds "
            "Python objects besides weights)"
        ) from None
    except RuntimeError as e:
        if "TorchScript" in str(e):
            raise ModelError(
                f"{p.name}: TorchScript archives contain code and are not loaded; "
                "use the model's .pth state dict or a .safetensors file"
            ) from None
        log.info("%s: torch.load failed: %s", p.name, _one_line(e))
        raise ModelError(f"{p.name}: {_NOT_PTH}") from None
    except Exception as e:  # EOFError, ValueError, zipfile errors on damaged files
        log.info("%s: torch.load failed: %s", p.name, _one_line(e))
        raise ModelError(f"{p.name}: {_NOT_PTH}") from None


_NOT_PTH = "not a readable PyTorch weights file (damaged, truncated or not weights)"


# Training checkpoints keep the weights under one of these keys (BasicSR: params / params_ema;
# Lightning: state_dict; traiNNer/neosr: net_g...). The first match wins, EMA weights first.
WRAPPER_KEYS = (
    "params_ema",
    "params-ema",
    "net_g_ema",
    "params",
    "state_dict",
    "model_state_dict",
    "net_g",
    "netG",
    "generator",
    "model",
    "net",
    "module",
)
STRIP_PREFIXES = ("module.", "_orig_mod.", "netG.", "net_g.")


def unwrap_state_dict(obj: Any, *, source: str = "file") -> dict[str, torch.Tensor]:
    """The flat ``{name: tensor}`` dict inside a checkpoint: wrapper keys (``params_ema``,
    ``state_dict``, ``net_g``...) are unwrapped and common prefixes (``module.`` from
    DataParallel, ``_orig_mod.`` from torch.compile) removed."""
    import torch

    for _ in range(6):
        if not isinstance(obj, Mapping):
            raise ModelError(f"{source}: no weights found (the file holds a {type(obj).__name__})")
        inner = next(
            (obj[k] for k in WRAPPER_KEYS if k in obj and isinstance(obj[k], Mapping)), None
        )
        if inner is None and len(obj) == 1:
            only = next(iter(obj.values()))
            inner = only if isinstance(only, Mapping) else None
        if inner is None:
            break
        obj = inner
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise ModelError(f"{source}: no weights found in the file")
    for k, v in tensors.items():  # cast to float they would run, and give garbage
        odd = v.is_complex() or v.is_sparse or v.dtype == torch.bool or v.is_quantized
        # integers a network keeps beside its weights: BatchNorm's step count, and the
        # position index tables of window-attention transformers (SwinIR, Swin2SR, HAT, DAT,
        # DRCT: "relative_position_index", HAT's "_SA" / "_OCA"), which were refused
        leaf = k.rsplit(".", 1)[-1]
        counter = leaf == "num_batches_tracked" or leaf.startswith("relative_position_index")
        if odd or not (v.is_floating_point() or counter):
            raise ModelError(
                f"{source}: {k} holds {str(v.dtype).replace('torch.', '')} values, not "
                "floating-point weights (quantised, or not a model's weights)"
            )
    changed = True
    while changed:
        changed = False
        for prefix in STRIP_PREFIXES:
            if all(k.startswith(prefix) for k in tensors):
                tensors = {k[len(prefix) :]: v for k, v in tensors.items()}
                changed = True
    return tensors


# --------------------------------------------------------------------------- detection


@functools.lru_cache(maxsize=1)
def _arch_registry() -> Any:
    """spandrel's own architectures only (MIT/Apache/public domain), even if someone installed
    ``spandrel_extra_arches`` into the shared ``MAIN_REGISTRY``."""
    from spandrel import MAIN_REGISTRY, ArchRegistry

    reg = ArchRegistry()
    reg.add(
        *[
            s
            for s in MAIN_REGISTRY.architectures("insertion")
            if type(s.architecture).__module__.startswith("spandrel.architectures.")
        ]
    )
    return reg


def supported_architectures() -> list[tuple[str, str]]:
    """(id, display name) of every architecture spandrel detects here, in detection order."""
    return [(s.architecture.id, s.architecture.name) for s in _arch_registry().architectures()]


def detect(state_dict: dict[str, torch.Tensor], *, source: str = "file") -> Any:
    """Detect the architecture and rebuild the network (a spandrel model descriptor).

    Raises `ModelError` for unknown architectures and weights that do not fit the detected one.
    """
    reg = _arch_registry()
    found = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for support in reg.architectures("detection"):
            try:
                hit = support.detect(state_dict)
            except Exception:
                hit = False
            if hit:
                found = support.architecture
                break
        if found is None:
            raise ModelError(
                f"{source}: not a kind of model this app knows (it knows {len(reg)} kinds, "
                "such as ESRGAN, SwinIR, SCUNet and NAFNet: docs/IMPORT.md lists them)"
            )
        try:
            desc = found.load(dict(state_dict))
        except Exception as e:
            raise ModelError(
                f"{source}: looks like {found.name} but the weights do not fit it: {_one_line(e)}"
            ) from None
    desc.model.eval()
    return desc


def check_image_to_image(desc: Any, *, source: str = "file") -> None:
    """Refuse models this app cannot run as plain image-to-image filters."""
    from spandrel import ImageModelDescriptor

    arch = desc.architecture.name
    if not isinstance(desc, ImageModelDescriptor):
        raise ModelError(
            f"{source}: {arch} is an inpainting model (it needs a mask), not an "
            "image-to-image model; it cannot be used here"
        )
    if desc.purpose == "FaceSR":
        raise ModelError(
            f"{source}: {arch} is a face restoration model (it needs face detection and "
            "alignment), not a whole-photo model; it cannot be used here"
        )
    ch = (desc.input_channels, desc.output_channels)
    if ch not in ((3, 3), (1, 1)):
        raise ModelError(
            f"{source}: {arch} maps {ch[0]} to {ch[1]} channels; only colour (3 to 3) and "
            "greyscale (1 to 1) models are supported"
        )
    if desc.scale < 1 or desc.scale > 16:
        raise ModelError(f"{source}: {arch} has an unsupported scale {desc.scale}")


def _noise_level_input(desc: Any) -> bool:
    """DRUNet and FDnCNN take a noise-level map as an extra input channel."""
    arch = str(desc.architecture.id)
    return arch == "DRUNet" or (arch == "DnCNN" and getattr(desc.model, "mode", "") == "FDnCNN")


@dataclass(frozen=True)
class ModelInfo:
    """What detection found out about a weights file (shown before importing, stored in cards)."""

    architecture: str  # spandrel id, e.g. "ESRGAN"
    architecture_name: str  # display name, e.g. "RealESRGAN Compact"
    purpose: str  # spandrel's: "SR" or "Restoration"
    scale: int
    input_channels: int
    output_channels: int
    fp16: bool
    multiple_of: int
    minimum: int
    square: bool
    tiling: str  # spandrel's advice: "supported" / "discouraged" / "internal"
    tiles_well: bool
    receptive_field: int
    noise_level_input: bool
    parameters: int
    tags: tuple[str, ...] = field(default=())

    @property
    def grey(self) -> bool:
        """A greyscale model: colour photos are run one channel at a time."""
        return self.input_channels == 1

    def card_fields(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture,
            "architecture_name": self.architecture_name,
            "purpose": self.purpose,
            "tags": list(self.tags),
            "parameters": self.parameters,
            "channels": {"in": self.input_channels, "out": self.output_channels},
            "grey": self.grey,
            "fp16": self.fp16,
            "size_requirements": {
                "minimum": self.minimum,
                "multiple_of": self.multiple_of,
                "square": self.square,
            },
            "tiling": self.tiling,
            "tiles_well": self.tiles_well,
            "receptive_field": self.receptive_field,
            "receptive_field_note": (
                f"tiles get {self.receptive_field} px of context on each side "
                f"(per-architecture default for {self.architecture})"
            ),
            "noise_level_input": self.noise_level_input,
        }


def describe(desc: Any) -> ModelInfo:
    arch = str(desc.architecture.id)
    req = desc.size_requirements
    tiling = desc.tiling.name.lower()
    return ModelInfo(
        architecture=arch,
        architecture_name=str(desc.architecture.name),
        purpose=str(desc.purpose),
        scale=int(desc.scale),
        input_channels=int(desc.input_channels),
        output_channels=int(desc.output_channels),
        fp16=bool(desc.supports_half),
        multiple_of=int(req.multiple_of),
        minimum=int(req.minimum),
        square=bool(req.square),
        tiling=tiling,
        tiles_well=tiling == "supported" and arch not in GLOBAL_CONTEXT,
        receptive_field=RECEPTIVE_FIELD.get(arch, DEFAULT_RECEPTIVE_FIELD),
        noise_level_input=_noise_level_input(desc),
        parameters=sum(int(p.numel()) for p in desc.model.parameters()),
        tags=tuple(str(t) for t in desc.tags),
    )


# --------------------------------------------------------------------------- the network


def _spandrel_net(desc: Any, *, noise_level: float | None = None) -> torch.nn.Module:
    """An ``nn.Module`` mapping RGB NCHW in [0, 1] to RGB NCHW in [0, 1] (``scale`` times larger)
    around a spandrel descriptor: it pads to the model's size requirements (as spandrel does),
    calls the network the way spandrel would, clamps and crops the padding back off. Greyscale
    models run on each channel; models with a noise-level input get ``noise_level`` (0-255
    scale). Everything it uses is its own state, so a ``deepcopy(...).half()`` copy (the tiled
    runner's fp16 path) runs in half precision."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    # spandrel's per-architecture call (e.g. FBCNN returns a tuple, MixDehazeNet rescales);
    # a plain function of (network, image), not part of its public API, hence the fallback.
    call_fn = getattr(desc, "_call_fn", None) or (lambda model, image: model(image))

    def pad_bottom_right(x: torch.Tensor, pw: int, ph: int) -> torch.Tensor:
        # as spandrel does: reflect as far as allowed, replicate the rest
        h, w = x.shape[-2:]
        rw, rh = min(pw, w - 1), min(ph, h - 1)
        if rw or rh:
            x = F.pad(x, (0, rw, 0, rh), mode="reflect")
        if pw - rw or ph - rh:
            x = F.pad(x, (0, pw - rw, 0, ph - rh), mode="replicate")
        return x

    class SpandrelNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = desc.model
            self.scale = int(desc.scale)
            self.grey = int(desc.input_channels) == 1
            self.noise_level = noise_level
            self.size_requirements = desc.size_requirements
            self.eval()
            self.requires_grad_(False)

        def _run(self, x: torch.Tensor) -> torch.Tensor:
            h, w = x.shape[-2:]
            pw, ph = self.size_requirements.get_padding(w, h)
            if pw or ph:
                x = pad_bottom_right(x, pw, ph)
            if self.noise_level is None:
                out = call_fn(self.net, x)
            else:
                level = torch.full_like(x[:, :1], float(self.noise_level) / 255.0)
                out = self.net(torch.cat([x, level], dim=1))
            if not isinstance(out, torch.Tensor):
                raise ModelError(f"the model returned {type(out).__name__}, not an image")
            return out.clamp(0.0, 1.0)[..., : h * self.scale, : w * self.scale]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.grey:
                return torch.cat([self._run(x[:, c : c + 1]) for c in range(x.shape[1])], dim=1)
            return self._run(x)

    return SpandrelNet()


def trial_run(desc: Any, info: ModelInfo, *, source: str = "file") -> None:
    """Run the model once on a small random image (CPU) and check the output's shape and
    values, so a file that detects but does not work is refused at import time."""
    import torch

    side = max(32, info.minimum)
    side = -(-side // info.multiple_of) * info.multiple_of
    net = _spandrel_net(desc, noise_level=NOISE_LEVEL_DEFAULT if info.noise_level_input else None)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, side, side, generator=gen)
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = net(x)
    except Exception as e:
        raise ModelError(
            f"{source}: {info.architecture_name} failed a test run: {_one_line(e)}"
        ) from None
    want = (1, 3, side * info.scale, side * info.scale)
    if tuple(out.shape) != want:
        raise ModelError(
            f"{source}: {info.architecture_name} gave an output of shape {tuple(out.shape)} "
            f"instead of {want}"
        )
    if not bool(torch.isfinite(out).all()):
        raise ModelError(f"{source}: {info.architecture_name} produced NaN/inf on a test image")


# --------------------------------------------------------------------------- library


def read_card(folder: Path) -> dict[str, Any]:
    """The parsed, checked ``card.json`` of a library folder (raises `ModelError`)."""
    try:
        card = json.loads((folder / CARD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"unreadable {CARD_NAME}: {_one_line(e)}") from None
    if not isinstance(card, dict):
        raise ModelError(f"{CARD_NAME} is not a JSON object")

    def need(key: str, typ: type | tuple[type, ...]) -> Any:
        v = card.get(key)
        if not isinstance(v, typ) or isinstance(v, bool) and typ is int:
            raise ModelError(f"{CARD_NAME}: missing or invalid '{key}'")
        return v

    if need("id", str) != folder.name:
        raise ModelError(f"{CARD_NAME}: id {card['id']!r} does not match folder {folder.name!r}")
    if need("kind", str) not in USER_KINDS:
        raise ModelError(f"{CARD_NAME}: kind {card['kind']!r} is not one of {USER_KINDS}")
    if need("task", str) not in TASKS:
        raise ModelError(f"{CARD_NAME}: unknown task {card['task']!r}")
    if need("scale", int) < 1:
        raise ModelError(f"{CARD_NAME}: invalid scale {card['scale']!r}")
    loader = card.get("loader", "spandrel")
    if loader not in LOADERS:
        raise ModelError(f"{CARD_NAME}: unknown loader {loader!r}")
    card["name"] = one_line_name(need("name", str))
    if loader == "deconv":
        return _check_deconv_card(folder, card, need)
    need("architecture", str)
    need("receptive_field", int)
    req = need("size_requirements", dict)
    if not isinstance(req.get("multiple_of"), int) or req["multiple_of"] < 1:
        raise ModelError(f"{CARD_NAME}: invalid size_requirements")
    _check_weights_file(folder, card, need, WEIGHT_EXTENSIONS, "imported")
    return card


def _check_weights_file(
    folder: Path, card: dict[str, Any], need: Any, extensions: Any, since: str
) -> None:
    """The card's weights file: a plain name in the folder, present, of the recorded size."""
    need("fp16", bool)
    need("size_bytes", int)
    need("sha256", str)
    file = need("file", str)
    if Path(file).name != file or Path(file).suffix.lower() not in extensions:
        raise ModelError(f"{CARD_NAME}: invalid weights file name {file!r}")
    weights = folder / file
    if not weights.is_file():
        raise ModelError(f"weights file {file} is missing")
    if weights.stat().st_size != card["size_bytes"]:
        raise ModelError(f"weights file {file} has changed size since it was {since}")


#: Characters a name shown on one line must not hold: the C0 and C1 controls with DEL (line
#: breaks, tabs, terminal escapes such as ESC and CSI), the Unicode line and paragraph
#: separators, and the bidirectional embeddings, overrides and isolates, which reorder what a
#: row of the model list shows ("Trojan source").
_NOT_IN_A_NAME = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def has_control_characters(name: str) -> bool:
    """Whether `name` holds a character that would break or reorder a one-line listing."""
    return _NOT_IN_A_NAME.search(name) is not None


def one_line_name(name: str) -> str:
    """A card's name as one line for lists and menus: a card edited by hand may hold line
    breaks or other control characters, which would split a row of `deconv-gui models` (or
    move the terminal's cursor, or reorder the row); they become spaces."""
    return " ".join(_NOT_IN_A_NAME.sub(" ", name).split()) or "(unnamed)"


def file_sha256(p: Path) -> str:
    """The hex SHA-256 of a file, read in 1 MB pieces (raises `OSError`)."""
    h = hashlib.sha256()
    with p.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# weights files whose sha256 was found to match their card: path -> (size, mtime_ns, sha256)
_VERIFIED: dict[Path, tuple[int, int, str]] = {}


def verify_weights(folder: Path, card: dict[str, Any]) -> Path:
    """The card's weights file, checked against the card's size and sha256 before it is
    loaded: a file changed since it was imported or saved (edited, damaged on disk, swapped
    for another network's weights of the same size) is refused, not run. The hash is
    remembered while the file's size and modification time stay the same."""
    weights = folder / card["file"]
    what = "fine-tuned" if card.get("kind") == "finetuned" else "imported"
    again = "fine-tune it again" if what == "fine-tuned" else "import it again"
    try:
        st = weights.stat()
    except OSError:
        raise ModelError(f"model '{card['id']}': its weights file is missing; {again}") from None
    if st.st_size != card["size_bytes"]:
        raise ModelError(
            f"model '{card['id']}': its weights file has changed size since it was {what}; {again}"
        )
    key = (st.st_size, st.st_mtime_ns, card["sha256"])
    if _VERIFIED.get(weights) == key:
        return weights
    try:
        sha = file_sha256(weights)
    except OSError as e:
        raise ModelError(
            f"model '{card['id']}': cannot read its weights file ({e.strerror or e})"
        ) from None
    if sha != card["sha256"].lower():
        raise ModelError(
            f"model '{card['id']}': its weights file has changed since it was {what} "
            f"(its checksum differs from the one recorded then); {again}"
        )
    _VERIFIED[weights] = key
    return weights


def _check_deconv_card(folder: Path, card: dict[str, Any], need: Any) -> dict[str, Any]:
    """The rest of `read_card` for a fine-tuned app network (loader "deconv")."""
    from deconv_gui.models.networks import ARCHITECTURES

    arch = need("architecture", dict)
    if arch.get("name") not in ARCHITECTURES or not isinstance(arch.get("hparams", {}), dict):
        raise ModelError(f"{CARD_NAME}: unknown network {arch.get('name')!r}")
    if int(arch.get("hparams", {}).get("scale", card["scale"])) != card["scale"]:
        raise ModelError(f"{CARD_NAME}: the network's scale does not match the card's")
    need("receptive_field", int)
    _check_weights_file(folder, card, need, {".safetensors"}, "saved")
    return card


def _deconv_spec(folder: Path, card: dict[str, Any]) -> ModelSpec:
    """A fine-tuned app network: rebuilt like a bundled one, and trainable again."""
    from deconv_gui.models import bundled

    spec = bundled.network_spec(card, folder / card["file"], kind=card["kind"])
    build_network = spec.build

    def build(options: LoadOptions) -> Any:
        verify_weights(folder, card)
        return build_network(options)

    return dataclasses.replace(spec, build=build)


def rename_user_model(model_id: str, name: str) -> ModelSpec:
    """Give a library model a new display name (its id, folder and weights stay)."""
    from deconv_gui.models.library import check_name

    display = check_name(name)
    folder = paths.user_models_dir() / model_id
    if not is_valid_id(model_id) or not folder.is_dir():
        raise ModelError(f"unknown model '{model_id}': it is not in the user model library")
    card = read_card(folder)
    card["name"] = display
    tmp = folder / f".{CARD_NAME}.tmp"
    try:
        tmp.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        tmp.replace(folder / CARD_NAME)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"cannot rename '{model_id}': {e.strerror or e}") from None
    return spec_from_card(folder)


def load_library_model(folder: Path, card: dict[str, Any]) -> Any:
    """Read a library model's weights safely and rebuild it, checking it is what the card says."""
    weights = verify_weights(folder, card)
    source = f"model '{card['id']}'"
    desc = detect(read_state_dict(weights), source=source)
    check_image_to_image(desc, source=source)
    if str(desc.architecture.id) != card["architecture"] or int(desc.scale) != card["scale"]:
        raise ModelError(
            f"{source}: the weights are now detected as {desc.architecture.id} x{desc.scale}, "
            f"not {card['architecture']} x{card['scale']}; import it again"
        )
    if _noise_level_input(desc) != bool(card.get("noise_level_input")):
        takes = "takes" if _noise_level_input(desc) else "does not take"
        raise ModelError(
            f"{source}: its card does not match the network, which {takes} a noise level; "
            "import it again"
        )
    return desc


def _strength_for(card: dict[str, Any]) -> StrengthSpec | None:
    if not card.get("noise_level_input"):
        return None
    return StrengthSpec(
        label="Noise level",
        minimum=0.0,
        maximum=75.0,
        default=NOISE_LEVEL_DEFAULT,
        unit="sigma (0-255)",
        help="The noise level the network is told to remove; higher smooths more.",
    )


def spec_from_card(folder: Path) -> ModelSpec:
    """A `ModelSpec` for one library folder (raises `ModelError` if the entry is corrupt)."""
    card = read_card(folder)
    if card.get("loader") == "deconv":
        return _deconv_spec(folder, card)
    strength = _strength_for(card)
    req = card["size_requirements"]

    def build(options: LoadOptions) -> Any:
        from deconv_gui.core.runner import TorchProcessor

        desc = load_library_model(folder, card)
        level = None
        if strength is not None:
            level = strength.default if options.strength is None else float(options.strength)
            level = min(max(level, strength.minimum), strength.maximum)
        net = _spandrel_net(desc, noise_level=level)
        return TorchProcessor(
            net,
            scale=int(card["scale"]),
            overlap=int(card["receptive_field"]),
            device=options.device,
            fp16=bool(card["fp16"]) and options.allow_fp16,
            pad_multiple=int(req["multiple_of"]),
            cpu_bf16=bool(getattr(desc, "supports_bfloat16", False)) and options.allow_fp16,
            ensemble=options.ensemble,
        )

    arch_name = card.get("architecture_name") or card["architecture"]
    source = card.get("source_file") or card["file"]
    what = "fine-tuned" if card["kind"] == "finetuned" else "imported"
    description = card.get("description") or (f"{arch_name} x{card['scale']}, {what} from {source}")
    return ModelSpec(
        id=card["id"],
        name=card["name"],
        task=card["task"],
        scale=int(card["scale"]),
        kind=card["kind"],
        description=str(description),
        build=build,
        receptive_field=int(card["receptive_field"]),
        tiles_well=bool(card.get("tiles_well", True)),
        fp16=bool(card["fp16"]),
        strength=strength,
        architecture=card["architecture"],
        card=card,
        trainable=False,
    )


def library_folders() -> list[Path]:
    """Model folders in the user library (hidden/temporary folders excluded), sorted by id."""
    root = paths.user_models_dir()
    return sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )


def user_specs() -> list[ModelSpec]:
    """The user library's models, one `ModelSpec` each; corrupt entries are skipped with a
    warning in the log file (`scan_library` lists them)."""
    return scan_library()[0]


def scan_library() -> tuple[list[ModelSpec], list[tuple[str, str]]]:
    """(specs of the readable entries, (folder name, one-line reason) of the broken ones).

    Broken entries are logged to the log file only (`deconv_gui.logs.LOG_ONLY`): they are not
    news in the middle of another command; ``deconv-gui models`` lists them."""
    from deconv_gui.logs import LOG_ONLY

    specs: list[ModelSpec] = []
    broken: list[tuple[str, str]] = []
    try:
        folders = library_folders()
    except (OSError, DeconvError) as e:  # (DeconvError: the folder cannot be made)
        log.warning("cannot read the user model library: %s", e, extra=LOG_ONLY)
        return specs, [(".", f"cannot read the library folder: {_one_line(e)}")]
    for folder in folders:
        try:
            specs.append(spec_from_card(folder))
        except Exception as e:  # a broken entry must never stop the app from starting
            broken.append((folder.name, _one_line(e)))
            log.warning("skipping user model %r: %s", folder.name, _one_line(e), extra=LOG_ONLY)
    return specs, broken
