"""Channel pruning for `RedUNet`: start a narrower network from a trained wide one.

A RED-UNet has two residual streams (``c1`` channels at 1/2 resolution, ``c2`` at 1/4) and
one inner width per residual block. `prune_redunet` keeps, for each stream, the channels
that matter most on a batch of real inputs (mean activation magnitude on the stream times the
weight norm of the layers that read it) and, inside each block, the channels with the largest
product of incoming and outgoing weight norms, then copies those slices into a network with
the smaller ``channels``. The result is a much better start for fine-tuning than a random
initialisation (the fast denoiser is trained this way: see its card).

    python -m deconv_gui.training.prune --weights resources/models/redunet-denoise.safetensors \
        --card resources/models/redunet-denoise.json --channels 48 96 --out pruned.safetensors
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch import nn

from deconv_gui.models.networks import RedUNet, ResBlock


def _col_norm(w: torch.Tensor, dim: int) -> torch.Tensor:
    """L2 norm of `w` per index along `dim` (all other dims reduced)."""
    dims = [d for d in range(w.dim()) if d != dim]
    return w.detach().pow(2).sum(dim=dims).sqrt()


def _top(scores: torch.Tensor, k: int) -> torch.Tensor:
    return torch.sort(torch.topk(scores, k).indices).values


@torch.no_grad()
def _stream_rms(
    net: RedUNet, x: torch.Tensor, noise_map: torch.Tensor | float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel RMS of the 1/2-resolution stream (after the encoder and after the decoder)
    and of the 1/4-resolution stream (after the middle blocks) on input `x`."""
    seen: dict[str, torch.Tensor] = {}

    def keep(name: str):  # noqa: ANN202 - a hook factory
        def hook(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
            seen[name] = out.detach().pow(2).mean(dim=(0, 2, 3)).sqrt()

        return hook

    handles = [
        net.enc.register_forward_hook(keep("enc")),
        net.dec.register_forward_hook(keep("dec")),
        net.mid.register_forward_hook(keep("mid")),
    ]
    try:
        net.eval()(x, noise_map)
    finally:
        for h in handles:
            h.remove()
    return seen["enc"] + seen["dec"], seen["mid"]


def _blocks(stage: nn.Module) -> list[ResBlock]:
    """The residual blocks of a RED-UNet stage (an ``nn.Sequential`` of them)."""
    blocks = []
    for b in stage.children():
        if not isinstance(b, ResBlock):
            raise TypeError(f"a RED-UNet stage holds residual blocks, not {type(b).__name__}")
        blocks.append(b)
    return blocks


@torch.no_grad()
def prune_redunet(
    net: RedUNet,
    channels: tuple[int, int],
    sample: torch.Tensor,
    noise_map: torch.Tensor | float | None = None,
) -> RedUNet:
    """A `RedUNet` with ``channels`` (c1, c2) holding the most important slices of `net`.

    ``sample`` is a batch of typical inputs (N, 3, H, W) with H, W multiples of 4, and
    ``noise_map`` the noise level for a noise-map network (as `RedUNet.forward` takes it).
    """
    hp = dict(net.hparams)
    c1_old, c2_old = hp["channels"]
    c1, c2 = int(channels[0]), int(channels[1])
    if not (0 < c1 <= c1_old and 0 < c2 <= c2_old):
        raise ValueError(f"channels {channels} must be within the network's {(c1_old, c2_old)}")
    rms1, rms2 = _stream_rms(net, sample, noise_map)

    # What reads each stream: encoder/decoder first convs, the down step and the tail (c1);
    # the middle first convs and the transposed-conv up step (c2; its weight is (in, out, k, k)).
    read1 = _col_norm(net.down.weight, 1) + _col_norm(net.tail.weight, 1)
    for blk in [*_blocks(net.enc), *_blocks(net.dec)]:
        read1 = read1 + _col_norm(blk.conv1.weight, 1)
    read2 = _col_norm(net.up.weight, 0)
    for blk in _blocks(net.mid):
        read2 = read2 + _col_norm(blk.conv1.weight, 1)
    keep1 = _top(rms1 * read1, c1)
    keep2 = _top(rms2 * read2, c2)

    hp["channels"] = [c1, c2]
    small = RedUNet(**hp)

    Conv = nn.Conv2d | nn.ConvTranspose2d
    Index = torch.Tensor | None

    def conv(dst: Conv, src: Conv, out_idx: Index, in_idx: Index) -> None:
        w = src.weight
        if isinstance(src, nn.ConvTranspose2d):  # (in, out, k, k)
            w = w if in_idx is None else w[in_idx]
            w = w if out_idx is None else w[:, out_idx]
        else:  # (out, in, k, k)
            w = w if out_idx is None else w[out_idx]
            w = w if in_idx is None else w[:, in_idx]
        dst.weight.copy_(w)
        if dst.bias is not None and src.bias is not None:
            dst.bias.copy_(src.bias if out_idx is None else src.bias[out_idx])

    def block(dst: ResBlock, src: ResBlock, stream: torch.Tensor, width: int) -> None:
        inner = _top(_col_norm(src.conv1.weight, 0) * _col_norm(src.conv2.weight, 1), width)
        conv(dst.conv1, src.conv1, inner, stream)
        conv(dst.conv2, src.conv2, stream, inner)

    conv(small.head, net.head, keep1, None)
    for d, s in zip(_blocks(small.enc), _blocks(net.enc), strict=True):
        block(d, s, keep1, c1)
    conv(small.down, net.down, keep2, keep1)
    for d, s in zip(_blocks(small.mid), _blocks(net.mid), strict=True):
        block(d, s, keep2, c2)
    conv(small.up, net.up, keep1, keep2)
    for d, s in zip(_blocks(small.dec), _blocks(net.dec), strict=True):
        block(d, s, keep1, c1)
    conv(small.tail, net.tail, None, keep1)
    return small.eval()


def sample_batch(data: Path, n: int = 8, patch: int = 128, sigma: float = 25.0) -> torch.Tensor:
    """``n`` noisy patches (Gaussian ``sigma`` on the 0-255 scale) from the training images."""
    import numpy as np

    from deconv_gui.training.data import PatchPool

    pool = PatchPool([data / "train" / "BSD200"], max_images=40)
    rng = np.random.default_rng(0)
    clean = pool.sample(rng, n, patch).astype(np.float32) / 255.0
    noisy = clean + rng.normal(0.0, sigma / 255.0, clean.shape).astype(np.float32)
    return torch.from_numpy(noisy).permute(0, 3, 1, 2).contiguous()


def main(argv: list[str] | None = None) -> int:
    from safetensors.torch import save_file

    from deconv_gui.models.bundled import load_module
    from deconv_gui.models.networks import NOISE_MAP_SCALE

    ap = argparse.ArgumentParser(description="Prune a RED-UNet to fewer channels.")
    ap.add_argument("--weights", required=True)
    ap.add_argument("--card", required=True)
    ap.add_argument("--channels", type=int, nargs=2, required=True, metavar=("C1", "C2"))
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    card = json.loads(Path(a.card).read_text(encoding="utf-8"))
    net = load_module(card, Path(a.weights))
    if not isinstance(net, RedUNet):
        print(f"error: {a.weights} is not a RED-UNet", file=sys.stderr)
        return 2
    sigma = 25.0
    x = sample_batch(Path(a.data), sigma=sigma)
    small = prune_redunet(net, tuple(a.channels), x, sigma / NOISE_MAP_SCALE)
    save_file({k: v.contiguous() for k, v in small.state_dict().items()}, a.out)
    print(
        f"{a.out}: channels {small.hparams['channels']}, {sum(p.numel() for p in small.parameters())} parameters"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
