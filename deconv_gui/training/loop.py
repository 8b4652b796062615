"""The training loop: a generator of small progress records, resumable from checkpoints.

`Trainer(config, data_root=...)` builds the network, the patch pool and the task's
degradation pipeline from a config dict (``deconv_gui/training/configs/*.json``).
``Trainer.run(max_steps=..., max_minutes=...)`` is a generator that yields a `TrainProgress`
after every step (with validation PSNR/SSIM when it validated) and returns a summary dict;
the CLI (`deconv_gui.training.train`), the tests and later the GUI's fine-tune panel drive
the same generator, and closing it stops training after the current step.

Everything random is seeded from ``config["seed"]`` (numpy for crops/choices, a torch
generator for noise fields, torch's global RNG for init), and a checkpoint holds the model,
the optimizer, the schedule, the step and all RNG states, so a resumed run continues exactly
as if it had not been interrupted.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from deconv_gui.models.networks import ResBlock, build_network, count_params
from deconv_gui.training.data import PatchPool, split_holdout
from deconv_gui.training.degradations import PIPELINES, Batch, patch_size_for

CHECKPOINT_VERSION = 1


@dataclass
class TrainProgress:
    step: int
    total_steps: int
    loss: float
    lr: float
    elapsed_s: float
    val: dict[str, dict[str, float]] | None = None  # {"CBSD68 noise=25": {"psnr":., "ssim":.}}
    checkpoint: str | None = None
    message: str = ""


def charbonnier(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return torch.sqrt((x - y) ** 2 + eps * eps).mean()


def _tone(x: torch.Tensor) -> torch.Tensor:
    """A smooth gamma-like curve (bounded slope at 0) for losses on linear raw data."""
    return (x.clamp_min(0.0) + 0.01) ** (1.0 / 2.2)


def raw_loss(
    out: torch.Tensor, gt: torch.Tensor, *, mse: bool = False, tone_weight: float = 1.0
) -> torch.Tensor:
    """Charbonnier on the linear mosaic plus on a gamma-compressed copy: linear errors rule
    the sensor-units PSNR, the compressed term keeps the shadows (brightened by the later
    processing) from being neglected. ``mse``: squared errors instead (the MSE tail, which
    aims at the PSNR itself), the compressed term weighted by ``tone_weight``."""
    if mse:
        return F.mse_loss(out, gt) + tone_weight * F.mse_loss(_tone(out), _tone(gt))
    return charbonnier(out, gt, eps=1e-4) + charbonnier(_tone(out), _tone(gt), eps=1e-4)


def _resolve(root: Path | None, p: str) -> Path:
    q = Path(p)
    if q.is_absolute() or root is None:
        return q
    return root / q


class Trainer:
    """Trains one network from a config dict; see the module docstring."""

    def __init__(
        self,
        config: dict[str, Any],
        *,
        data_root: str | Path | None = None,
        out_dir: str | Path | None = None,
        pool: PatchPool | None = None,
        device: str = "cpu",
        workers: int = 0,
    ) -> None:
        self.config = copy.deepcopy(config)
        cfg = self.config
        self.task: str = cfg["task"]
        self.data_root = Path(data_root) if data_root is not None else None
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.device = torch.device(device)
        self.seed = int(cfg.get("seed", 0))
        torch.manual_seed(self.seed)
        arch = cfg["architecture"]
        self.model = build_network(arch["name"], arch.get("hparams", {})).to(self.device)
        self.deg_cfg: dict[str, Any] = dict(cfg.get("degradation", {}))
        if self.task == "upscale":
            self.deg_cfg.setdefault("scale", int(cfg.get("scale", 2)))
        if cfg.get("wiener_nsr"):  # the known-kernel deblur model: Wiener first, then the net
            self.deg_cfg["wiener_nsr"] = float(cfg["wiener_nsr"])
        self.pipeline = PIPELINES[self.task]
        self.batch_size = int(cfg.get("batch", 16))
        self.patch = int(cfg.get("patch", 96))
        ocfg = cfg.get("optimizer", {})
        self.base_lr = float(ocfg.get("lr", 1e-3))
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=self.base_lr,
            betas=tuple(ocfg.get("betas", (0.9, 0.99))),
            weight_decay=float(ocfg.get("weight_decay", 0.0)),
        )
        scfg = cfg.get("schedule", {})
        self.warmup_frac = float(scfg.get("warmup", 0.03))
        self.final_frac = float(scfg.get("final_lr_frac", 0.02))
        self.mse_tail = float(cfg.get("mse_tail", 0.0))  # last fraction trained with MSE
        self.grad_clip = float(cfg.get("grad_clip", 0.0))
        # "bf16": the forward and backward passes in bfloat16 under autocast (the weights, the
        # optimiser and the loss stay float32), channels-last; on CPUs with AMX or AVX512-BF16
        # a step takes a third of the time. Validation stays float32.
        self.precision: str = str(cfg.get("precision", "fp32"))
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, not {self.precision!r}")
        if self.precision == "bf16":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.total_steps = int(cfg.get("steps", 1000))
        self.time_budget: float | None = None  # seconds of training for a time-boxed schedule
        self.step = 0
        self.elapsed = 0.0  # training wall time, accumulated over resumes
        self.curve: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []  # earlier sessions (from shipped weights)
        self.rng = np.random.default_rng(self.seed)
        self.gen = torch.Generator().manual_seed(self.seed + 1)
        self._pool = pool
        # workers > 0: batches are made in that many background processes (a GPU outruns
        # one Python thread making patches); their random streams are not in checkpoints
        self.workers = int(workers)
        self._stream: Iterator[Batch] | None = None
        self._val_sets: list[tuple[str, list[Any], int]] | None = None
        self._raw_val: list[tuple[str, list[Any]]] | None = None

    def stop_workers(self) -> None:
        """End the batch workers, if any (the next batch starts new ones). Now, rather than
        when the loader is collected, which may be at interpreter exit."""
        stream, self._stream = self._stream, None
        shutdown = getattr(stream, "_shutdown_workers", None)
        if callable(shutdown):
            shutdown()

    # ------------------------------------------------------------------ pieces
    @property
    def pool(self) -> PatchPool:
        if self._pool is None:
            dcfg = self.config.get("data", {})
            train_paths = self._split()[0]
            if not train_paths:
                folders = ", ".join(str(f) for f in self._folders())
                raise FileNotFoundError(f"no training images in {folders}")
            self._pool = PatchPool(
                train_paths,
                scales=dcfg.get("scales", [1.0]),
                max_images=dcfg.get("max_images"),
            )
        return self._pool

    def _folders(self) -> list[Path]:
        dcfg = self.config.get("data", {})
        return [_resolve(self.data_root, f) for f in dcfg.get("folders", ["train"])]

    def _split(self) -> tuple[list[Path], list[Path]]:
        """(training images, held-out validation images): ``data.holdout`` images of the
        first training folder are kept out of the patch pool (see `split_holdout`)."""
        holdout = int(self.config.get("data", {}).get("holdout", 0))
        return split_holdout(self._folders(), holdout)

    def progress(self, step: int | None = None) -> float:
        """Fraction of the schedule done: by training time when the run has a time budget
        (adapts to a CPU shared with other work), else by steps."""
        if self.time_budget:
            return min(1.0, self.elapsed / self.time_budget)
        return min(1.0, (self.step if step is None else step) / max(1, self.total_steps))

    def lr_at(self, step: int) -> float:
        if self.time_budget:
            t = self.progress()
            if t < self.warmup_frac:
                return self.base_lr * max(t / self.warmup_frac, 1e-3)
            t = (t - self.warmup_frac) / max(1e-9, 1 - self.warmup_frac)
        else:
            total = max(1, self.total_steps)
            warm = max(1, int(self.warmup_frac * total))
            if step < warm:
                return self.base_lr * (step + 1) / warm
            t = min(1.0, (step - warm) / max(1, total - warm))
        return self.base_lr * (
            self.final_frac + (1 - self.final_frac) * 0.5 * (1 + math.cos(math.pi * t))
        )

    def next_batch(self) -> Batch:
        psize = patch_size_for(self.task, self.deg_cfg, self.patch)
        if self.workers > 0:
            if self._stream is None:
                stream = _BatchStream(
                    self.pool,
                    self.pipeline,
                    self.deg_cfg,
                    self.batch_size,
                    psize,
                    seed=self.seed + self.step,
                )
                loader = torch.utils.data.DataLoader(
                    stream,
                    batch_size=None,
                    num_workers=self.workers,
                    prefetch_factor=4,
                    persistent_workers=True,
                    worker_init_fn=_one_thread,
                    # fresh processes: a fork would inherit OpenCV's and OpenMP's thread
                    # pools (and CUDA) in a state that deadlocks them
                    multiprocessing_context="spawn",
                )
                self._stream = iter(loader)
            try:
                return next(self._stream)
            except RuntimeError as exc:  # e.g. no room in /dev/shm for the workers' tensors
                print(f"batch workers failed ({exc}); making batches in line", flush=True)
                self.stop_workers()
                self.workers = 0
        gt_u8 = self.pool.sample(self.rng, self.batch_size, psize)
        return self.pipeline(gt_u8, self.rng, self.gen, self.deg_cfg)

    def forward(self, batch: Batch) -> torch.Tensor:
        lq = batch.lq.to(self.device)
        if self.precision == "bf16":
            lq = lq.contiguous(memory_format=torch.channels_last)
        if batch.noise_map is not None:
            return self.model(lq, batch.noise_map.to(self.device))
        return self.model(lq)

    def compute_loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Charbonnier, then MSE for the last `mse_tail` of the run (in float32)."""
        out = out.float()
        gt = batch.gt.to(self.device)
        use_mse = self.mse_tail > 0 and self.progress() >= 1 - self.mse_tail
        if self.config.get("loss") == "raw":
            w = float(self.config.get("tail_tone_weight", 1.0))
            return raw_loss(out, gt, mse=use_mse, tone_weight=w)
        return F.mse_loss(out, gt) if use_mse else charbonnier(out, gt)

    def batch_loss(self, batch: Batch) -> torch.Tensor:
        """The loss of one batch (a subclass may run the model more than once, e.g. the
        fine-tune's self-supervised objectives)."""
        return self.compute_loss(self.forward(batch), batch)

    def train_step(self) -> tuple[float, float]:
        self.model.train()
        lr = self.lr_at(self.step)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        batch = self.next_batch()
        bf16 = self.precision == "bf16"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = self.batch_loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.step += 1
        return float(loss.detach()), lr

    # -------------------------------------------------------------- validation
    def _load_val_sets(self) -> list[tuple[str, list[Any], int]]:
        from deconv_gui.training.evaluate import parse_degradation, prepare_pairs

        if self._val_sets is None:
            self._val_sets = []
            for v in self.config.get("val", []):
                deg = parse_degradation(v["degrade"])
                source: Path | list[Path]
                if v["folder"] == "holdout":  # the held-out slice of the training folders
                    source = self._split()[1]
                    if not source:
                        continue
                else:
                    source = _resolve(self.data_root, v["folder"])
                    if not source.exists():
                        continue
                pairs = prepare_pairs(source, deg, max_images=v.get("max_images"), seed=0)
                label = f"{Path(v['folder']).name} {v['degrade']}"
                self._val_sets.append((label, pairs, int(getattr(deg, "scale", 1) or 1)))
        return self._val_sets

    def _raw_val_sets(self) -> list[tuple[str, list[Any]]]:
        from deconv_gui.training.raw_eval import make_samples

        if self._raw_val is None:
            self._raw_val = []
            for v in self.config.get("val", []):
                paths = (
                    self._split()[1]
                    if v["folder"] == "holdout"
                    else sorted(_resolve(self.data_root, v["folder"]).glob("*.png"))
                )
                paths = paths[: v.get("max_images")]
                if paths:
                    label = f"{Path(v['folder']).name} ISO {v['iso']}"
                    self._raw_val.append((label, make_samples(paths, float(v["iso"]))))
        return self._raw_val

    def validate_raw(self) -> dict[str, dict[str, float]]:
        from deconv_gui.training.raw_eval import module_raw_runner, score

        res: dict[str, dict[str, float]] = {}
        run = module_raw_runner(self.model, device=str(self.device))
        for label, samples in self._raw_val_sets():
            rows = score(run, samples)
            res[label] = {
                "psnr": round(float(np.mean([r.output_raw_psnr for r in rows])), 3),
                "ssim": round(float(np.mean([r.output_raw_ssim for r in rows])), 4),
                "input_psnr": round(float(np.mean([r.input_raw_psnr for r in rows])), 3),
                "srgb_psnr": round(float(np.mean([r.output_srgb_psnr for r in rows])), 3),
            }
        return res

    def validate(self) -> dict[str, dict[str, float]]:
        from deconv_gui.training.evaluate import (
            module_runner,
            noise_sigma_of,
            parse_degradation,
            score_pairs,
        )

        self.model.eval()
        if self.task == "raw-denoise":
            try:
                return self.validate_raw()
            finally:
                self.model.train()
        res: dict[str, dict[str, float]] = {}
        for label, pairs, scale in self._load_val_sets():
            spec = label.split(" ", 1)[1]
            sigma = noise_sigma_of(spec) if self.task == "denoise" else None
            qmap = None
            if self.task == "jpeg":
                from deconv_gui.training.degradations import jpeg_quality_map

                qmap = jpeg_quality_map(parse_degradation(spec).jpeg_quality or 100)
            run = module_runner(
                self.model, noise_sigma=sigma, device=str(self.device), map_value=qmap
            )
            if self.config.get("wiener_nsr"):
                run = _after_wiener(run, spec, float(self.config["wiener_nsr"]))
            scores = score_pairs(run, pairs, scale=scale)
            res[label] = {
                "psnr": round(float(np.mean([s.output_psnr for s in scores])), 3),
                "ssim": round(float(np.mean([s.output_ssim for s in scores])), 4),
                "input_psnr": round(float(np.mean([s.input_psnr for s in scores])), 3),
            }
        self.model.train()
        return res

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "version": CHECKPOINT_VERSION,
            "config": self.config,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": {
                "kind": "warmup-cosine",
                "base_lr": self.base_lr,
                "total_steps": self.total_steps,
                "warmup": self.warmup_frac,
                "final_lr_frac": self.final_frac,
                "time_budget": self.time_budget,
            },
            "step": self.step,
            "elapsed": self.elapsed,
            "curve": self.curve,
            "history": self.history,
            "rng": {
                "numpy": self.rng.bit_generator.state,
                "torch_gen": self.gen.get_state(),
                "torch_global": torch.get_rng_state(),
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        sch = state["scheduler"]
        self.base_lr = float(sch["base_lr"])
        self.total_steps = int(sch["total_steps"])
        self.warmup_frac = float(sch["warmup"])
        self.final_frac = float(sch["final_lr_frac"])
        self.time_budget = sch.get("time_budget")
        self.step = int(state["step"])
        self.elapsed = float(state.get("elapsed", 0.0))
        self.curve = list(state.get("curve", []))
        self.history = list(state.get("history", []))
        self.rng.bit_generator.state = state["rng"]["numpy"]
        self.gen.set_state(state["rng"]["torch_gen"])
        torch.set_rng_state(state["rng"]["torch_global"])

    def save_checkpoint(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)
        return path

    def load_checkpoint(self, path: str | Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.load_state_dict(state)

    def init_from_weights(self, weights: str | Path, *, partial: bool = False) -> list[str]:
        """Start from shipped weights (a .safetensors beside its card): a fresh optimizer
        and schedule. ``partial=False`` continues that model (its card's training history is
        kept); ``partial=True`` only copies the tensors whose name and shape match (e.g. an
        x4 model from the x2 body) and returns their names; residual blocks that got none
        start as the identity, and the record goes on when the weights are the same model's
        (a deeper copy of it, `_grow_as_identity`)."""
        from deconv_gui.training.export import load_card, load_weights

        sd = {k: v.float() for k, v in load_weights(weights).items()}
        card = load_card(Path(weights).with_suffix(".json"))
        sessions = list(card.get("training", {}).get("sessions", [])) if card else []
        if partial:
            own = self.model.state_dict()
            take = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
            self.model.load_state_dict(take, strict=False)
            self._grow_as_identity(set(take))
            if card and card.get("id") == self.config.get("id"):
                # the same model made deeper: its earlier sessions stay in its record
                self.history = sessions
            return sorted(take)
        self.model.load_state_dict(sd)
        if card:
            self.history = sessions
        return sorted(sd)

    def _grow_as_identity(self, loaded: set[str]) -> None:
        """Residual blocks that got no tensors from the source weights start as the identity
        (their second convolution zeroed), so a network made deeper from trained weights
        computes exactly what the shallower one did and training goes on from there."""
        with torch.no_grad():
            for name, mod in self.model.named_modules():
                if isinstance(mod, ResBlock) and f"{name}.conv1.weight" not in loaded:
                    mod.conv2.weight.zero_()
                    if mod.conv2.bias is not None:
                        mod.conv2.bias.zero_()

    # -------------------------------------------------------------------- run
    def run(
        self,
        *,
        max_steps: int | None = None,
        max_minutes: float | None = None,
        val_every: int | None = None,
        checkpoint_minutes: float | None = None,
    ) -> Generator[TrainProgress, None, dict[str, Any]]:
        """Train until ``total_steps`` (or ``max_steps`` more steps, or ``max_minutes``).

        With ``max_minutes`` on a fresh run, the schedule's length is fitted to the time
        budget after a few timed steps (and stored in the checkpoint).
        """
        cfg = self.config
        val_every = int(val_every or cfg.get("val_every", 0) or 0)
        ckpt_min = float(checkpoint_minutes or cfg.get("checkpoint_minutes", 3.0))
        start_step = self.step
        stop_at = (
            self.total_steps if max_steps is None else min(self.total_steps, start_step + max_steps)
        )
        if max_minutes is not None and self.step == 0 and self.time_budget is None:
            self.time_budget = max_minutes * 60.0
            stop_at = max_steps if max_steps is not None else 10**12
        elif self.time_budget:
            stop_at = 10**12 if max_steps is None else start_step + max_steps
        budget = max_minutes * 60.0 if max_minutes is not None else math.inf
        t_start = time.perf_counter()
        t_last_ckpt = t_start
        t_prev = t_start
        last_ckpt: str | None = None
        try:
            while self.step < stop_at:
                loss, lr = self.train_step()
                val = None
                now = time.perf_counter()
                done = self.step >= stop_at or now - t_start >= budget or self.progress() >= 1.0
                if (val_every and self.step % val_every == 0) or (done and cfg.get("val")):
                    val = self.validate()
                    self.curve.append(
                        {
                            "step": self.step,
                            "minutes": round(
                                (self.elapsed + time.perf_counter() - t_prev) / 60.0, 2
                            ),
                            "loss": round(loss, 5),
                            **{k: v["psnr"] for k, v in val.items()},
                        }
                    )
                now = time.perf_counter()
                self.elapsed += now - t_prev
                t_prev = now
                if self.time_budget and self.step > start_step + 5:
                    rate = self.elapsed / max(1, self.step)
                    self.total_steps = int(
                        self.step + (self.time_budget - self.elapsed) / max(rate, 1e-6)
                    )
                msg = ""
                if self.out_dir is not None and (done or now - t_last_ckpt >= ckpt_min * 60):
                    last_ckpt = str(self.save_checkpoint(self.out_dir / "last.pt"))
                    t_last_ckpt = time.perf_counter()
                    msg = "checkpoint"
                yield TrainProgress(
                    self.step,
                    self.total_steps,
                    loss,
                    lr,
                    self.elapsed,
                    val,
                    last_ckpt if msg else None,
                    msg,
                )
                if done:
                    break
        finally:
            self.stop_workers()  # they end with the run, or when it is closed
        return {
            "step": self.step,
            "total_steps": self.total_steps,
            "elapsed_s": self.elapsed,
            "params": count_params(self.model),
            "curve": self.curve,
            "checkpoint": last_ckpt,
        }


class _BatchStream(torch.utils.data.IterableDataset[Batch]):
    """Endless training batches, made in a DataLoader worker with that worker's own seeds."""

    def __init__(
        self,
        pool: PatchPool,
        pipeline: Callable[..., Batch],
        deg_cfg: dict[str, Any],
        batch: int,
        patch: int,
        *,
        seed: int,
    ) -> None:
        self.pool, self.pipeline, self.deg_cfg = pool, pipeline, deg_cfg
        self.batch, self.patch, self.seed = batch, patch, seed

    def __iter__(self) -> Iterator[Batch]:
        info = torch.utils.data.get_worker_info()
        wid = 0 if info is None else info.id
        rng = np.random.default_rng([self.seed, wid])
        gen = torch.Generator().manual_seed(self.seed * 1009 + wid)
        while True:
            gt_u8 = self.pool.sample(rng, self.batch, self.patch)
            yield self.pipeline(gt_u8, rng, gen, self.deg_cfg)


def _one_thread(_worker: int) -> None:
    """A batch worker uses one thread (the workers are the parallelism)."""
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def _after_wiener(
    run: Callable[[np.ndarray], np.ndarray], spec: str, nsr: float
) -> Callable[[np.ndarray], np.ndarray]:
    """``run`` on the Wiener deconvolution (true kernel of `spec`) of its input."""
    from deconv_gui.models.classical import wiener_deconvolve
    from deconv_gui.training.evaluate import blur_kernel_of

    kernel = blur_kernel_of(spec)
    if kernel is None:
        raise ValueError(f"no blur kernel in {spec!r}")
    return lambda img: run(wiener_deconvolve(img, kernel, nsr))
