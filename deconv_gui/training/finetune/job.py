"""The fine-tune job: a generator of progress records that returns a `FinetuneResult`.

`finetune_job(...)` (the app's job contract, see ``docs/ARCHITECTURE.md``) yields a
`FinetuneProgress` while loading, after measuring the base model on the held-out photos and
after every training step (with the held-out score and a before/after crop when it
validated), then measures the tuned model and returns a `FinetuneResult` whose `Verdict`
(`deconv_gui.training.finetune.guard`) says whether it may be saved. Pausing = the consumer
stops pulling; cancelling = closing the generator (a checkpoint is written first when
``checkpoint_dir`` is set). A `Checkpointer` writes the trainer's whole state (model,
optimizer, schedule, step, every random state; `deconv_gui.training.loop.Trainer`) at
intervals, and a job started again with the same arguments and ``resume=True`` continues
exactly where it stopped; a checkpoint left by a different job is replaced. An
out-of-memory step halves the batch and tries again.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from deconv_gui.errors import DeconvError
from deconv_gui.models.registry import LoadOptions, ModelSpec
from deconv_gui.training.finetune.guard import Verdict, judge
from deconv_gui.training.finetune.objectives import (
    Objective,
    correlated_noise_caveat,
    make_forward,
    objective_for,
    validate,
)
from deconv_gui.training.finetune.sources import (
    BaseInfo,
    FinetuneData,
    Source,
    left_out_text,
    make_source,
)
from deconv_gui.training.loop import Trainer

if TYPE_CHECKING:
    from deconv_gui.training.degradations import Batch

DEFAULT_STEPS = 500
# also for Neighbor2Neighbor: on benchmarks/bench_finetune.py's noisy photos 2e-4 gained
# +0.29 dB, 5e-5 +0.05 dB, 5e-4 +0.28 dB (300 steps)
DEFAULT_LR = 2e-4
MAX_STEPS = 1_000_000
CHECKPOINT_NAME = "finetune.pt"


@dataclass
class FinetuneProgress:
    """One progress record. ``phase``: "loading", "validating", "training", "done".

    ``val`` (when it validated): ``{"psnr", "ssim", "input_psnr", "metric", "photos"}``;
    ``preview``: ``{"name", "input", "output", "target"}`` uint8 (h, w, 3) crops of the first
    held-out photo at output size (target None in the noisy mode)."""

    step: int
    total: int
    loss: float | None = None
    lr: float | None = None
    eta_s: float | None = None
    elapsed_s: float = 0.0
    phase: str = "training"
    val: dict[str, Any] | None = None
    preview: dict[str, Any] | None = None
    batch: int = 0
    checkpoint: str | None = None
    message: str = ""


@dataclass
class FinetuneResult:
    """What `finetune_job` returns; `save_finetuned` turns it into a library model unless
    ``verdict.refused``."""

    module: torch.nn.Module
    base_card: dict[str, Any]
    base_id: str
    base_name: str
    base_kind: str
    data: FinetuneData
    train_count: int
    val_count: int
    steps: int
    before: dict[str, Any]
    after: dict[str, Any]
    curve: list[dict[str, Any]]
    settings: dict[str, Any]
    elapsed_s: float
    device: str
    verdict: Verdict
    card_extra: dict[str, Any] = field(default_factory=dict)  # e.g. the camera (RAW)
    left_out: list[str] = field(default_factory=list)  # "NAME: why" of photos not used

    @property
    def val_psnr_before(self) -> float | None:
        return self.before.get("psnr")

    @property
    def val_psnr_after(self) -> float | None:
        return self.after.get("psnr")

    @property
    def refused(self) -> bool:
        """The tuned model got worse on the held-out photos: it is not saved unless forced."""
        return self.verdict.refused

    @property
    def message(self) -> str:
        """The verdict in plain words (for the panel and the CLI)."""
        return self.verdict.message


def check_trainable(spec: ModelSpec) -> dict[str, Any]:
    """The base card when ``spec`` is a network this app can train further, else a
    `DeconvError` saying why."""
    from deconv_gui.models.networks import ARCHITECTURES

    arch = spec.card.get("architecture") if isinstance(spec.card, dict) else None
    if (
        not spec.trainable
        or spec.kind not in ("bundled", "finetuned")
        or not isinstance(arch, dict)
        or arch.get("name") not in ARCHITECTURES
    ):
        what = {"classical": "a classical method with nothing to learn",
                "imported": "an imported model (its training code is not part of this app)"
                }.get(spec.kind, "not one of the app's own networks")  # fmt: skip
        raise DeconvError(
            f"'{spec.name}' cannot be fine-tuned: it is {what}; choose a bundled network "
            "or one you fine-tuned before"
        )
    return spec.card


def _auto_batch_patch(device: torch.device, task: str) -> tuple[int, int]:
    """Batch and patch (input px) for the device: small on the CPU, more with GPU memory."""
    if device.type == "cuda":
        try:
            gib = torch.cuda.get_device_properties(device).total_memory / 2**30
        except Exception:  # pragma: no cover
            gib = 4.0
        return (32 if gib >= 10 else 16 if gib >= 5 else 8), (96 if task != "upscale" else 64)
    if device.type == "mps":
        return 16, 80 if task != "upscale" else 48
    return 8, 64 if task != "upscale" else 48


# ------------------------------------------------------------------------ the trainer


def _precision(device: torch.device) -> str:
    """The training precision: bfloat16 (``"bf16"``) on a CPU where it is fast (AMX,
    AVX512-BF16: a step takes a third to a half of the time; `core.devices.cpu_bf16_is_fast`,
    ``DECONV_GUI_CPU_BF16=0`` turns it off) and on a CUDA GPU with bfloat16 arithmetic
    (Ampere and later; the bundled models' GPU sessions trained so), else ``"fp32"``. The
    held-out scores the guard judges are measured in float32 either way."""
    from deconv_gui.core.devices import cpu_bf16_is_fast

    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device.type == "cpu" and cpu_bf16_is_fast() else "fp32"


class _FinetuneTrainer(Trainer):
    """`Trainer` whose batches come from a `Source` and whose loss is an `Objective`'s."""

    def __init__(self, config: dict[str, Any], source: Source, objective: Objective,
                 device: torch.device) -> None:  # fmt: skip
        super().__init__(config, device=str(device))
        self.source = source
        self.objective = objective
        self.forward_fn = make_forward(
            self.model, self.device, source.base.noise_map, source.base.bayer
        )
        self.note = ""

    def next_batch(self) -> Batch:
        return self.source.batch(self.rng, self.gen, self.batch_size, self.patch)

    def batch_loss(self, batch: Batch) -> torch.Tensor:
        return self.objective.loss(self.forward_fn, batch, self.gen)

    def train_step(self) -> tuple[float, float]:
        from deconv_gui.core.devices import empty_cache, is_out_of_memory

        while True:
            try:
                with torch.enable_grad():
                    return super().train_step()
            except RuntimeError as exc:
                if not is_out_of_memory(exc) or self.batch_size <= 1:
                    raise
                self.optimizer.zero_grad(set_to_none=True)
                empty_cache(self.device)
                self.batch_size = max(1, self.batch_size // 2)
                self.note = f"out of memory: batch size now {self.batch_size}"


class Checkpointer:
    """The checkpoint of one job: the trainer's state plus the job's own (``finetune``:
    the fingerprint of its data and settings, the curve, the batch size).

    `restore` loads it only when the fingerprint matches; `save` writes atomically (a
    temporary file, then a rename); `due` says when the interval has passed. A folder that
    cannot be written stops checkpointing with a note instead of stopping the training."""

    def __init__(self, folder: str | Path | None, fingerprint: dict[str, Any],
                 every_minutes: float) -> None:  # fmt: skip
        self.path = Path(folder) / CHECKPOINT_NAME if folder else None
        self.fingerprint = fingerprint
        self.every_s = float(every_minutes) * 60.0
        self.note = ""
        self._last = time.perf_counter()

    def restore(self, trainer: Trainer) -> dict[str, Any] | None:
        """The job state saved with this job's checkpoint (the trainer restored), or None
        (no checkpoint, or one of another job: ``note`` says so)."""
        if self.path is None or not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location=trainer.device, weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise DeconvError(f"cannot read the checkpoint {self.path}: {exc}") from None
        old = state.get("finetune", {})
        if old.get("fingerprint") != self.fingerprint:
            self.note = "the checkpoint was for other photos or settings: starting afresh"
            return None
        trainer.load_state_dict(state)
        return dict(old)

    def due(self) -> bool:
        return self.path is not None and time.perf_counter() - self._last >= self.every_s

    def save(self, trainer: Trainer, job_state: dict[str, Any]) -> str | None:
        self._last = time.perf_counter()
        if self.path is None:
            return None
        from deconv_gui.models.library import os_reason

        state = trainer.state_dict()
        state["finetune"] = {**job_state, "fingerprint": self.fingerprint}
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(state, tmp)
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            self.note = f"cannot write checkpoints to {self.path.parent}: {os_reason(exc)}"
            self.path = None
            return None
        return str(self.path)


def default_checkpoint_dir(base_id: str, data: FinetuneData, steps: int) -> Path:
    """A per-job folder under the user folder, so running the same job again resumes it."""
    from deconv_gui import paths

    key = json.dumps(
        [
            base_id,
            data.mode,
            [str(Path(f).expanduser().resolve()) for f in data.folders],
            data.degrade,
            int(steps),
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return paths.user_home() / "finetune-checkpoints" / f"{base_id}-{digest}"


# ------------------------------------------------------------------------------- job


def finetune_job(
    base_spec: ModelSpec,
    data: FinetuneData,
    mode: str | None = None,
    steps: int = DEFAULT_STEPS,
    *,
    device: str = "auto",
    val_fraction: float = 0.15,
    batch: int | None = None,
    patch: int | None = None,
    lr: float | None = None,
    seed: int = 0,
    checkpoint_dir: str | Path | None = None,
    resume: bool = True,
    val_every: int | None = None,
    checkpoint_minutes: float = 2.0,
    objective: str | None = None,
    minutes: float | None = None,
) -> Generator[FinetuneProgress, None, FinetuneResult]:
    """Train a copy of ``base_spec``'s network on ``data`` for ``steps`` steps.

    A generator: see the module docstring. ``objective`` picks the self-supervised method
    of the noisy modes (`objectives.OBJECTIVES`; default Neighbor2Neighbor). ``minutes``
    time-boxes the training: the learning-rate schedule follows the training time and the
    run stops when it is spent (or after ``steps``, whichever comes first). The result's
    ``verdict`` refuses a model that got worse on the held-out photos (or, in the noisy
    mode, photos whose noise is correlated between neighbours). Raises
    `DeconvError` for a base model that cannot be trained, too little data, mismatched
    pairs (unless skipped), unreadable photos or a bad degradation spec; the base model is
    never changed.
    """
    from deconv_gui.core.devices import resolve_device

    if mode is not None and mode != data.mode:
        raise DeconvError(f"mode {mode!r} does not match the data ({data.mode!r})")
    steps = int(steps)
    if steps < 1:
        raise DeconvError("the number of steps must be at least 1")
    if steps > MAX_STEPS:
        raise DeconvError(
            f"at most {MAX_STEPS:,} steps (the learning rate's warm-up and decay follow the "
            "number of steps); to train for a time, give minutes"
        )
    if lr is not None and not (math.isfinite(float(lr)) and float(lr) > 0.0):
        raise DeconvError(f"the learning rate must be a number above 0, got {lr}")
    if minutes is not None and not (math.isfinite(float(minutes)) and float(minutes) > 0.0):
        raise DeconvError(f"the training time must be more than 0 minutes, got {minutes}")
    if not 0.0 < float(val_fraction) < 1.0:
        raise DeconvError("the validation fraction must be between 0 and 1")
    card = check_trainable(base_spec)
    dev = resolve_device(device)
    t0 = time.perf_counter()
    base = BaseInfo.from_card(card)
    # checks names, sizes and the degradation: fails on the first pull
    source = make_source(data, base, val_fraction=val_fraction, seed=seed)
    goal = objective_for(source, objective)
    yield FinetuneProgress(0, steps, phase="loading", message=f"{len(source.items)} photo(s) found")
    for msg in source.load():
        yield FinetuneProgress(0, steps, phase="loading", message=msg,
                               elapsed_s=time.perf_counter() - t0)  # fmt: skip

    auto_b, auto_p = _auto_batch_patch(dev, base.task)
    batch = int(batch or auto_b)
    patch = int(patch or auto_p)
    if base.scale > 1:
        patch = max(patch, 8)
    mult = int(card.get("pad_multiple", 1)) * goal.patch_multiple
    patch = max(mult, patch - patch % mult)
    settings = {
        "steps": steps, "batch": batch, "patch": patch,
        "lr": float(lr or DEFAULT_LR),
        "seed": int(seed), "val_fraction": float(val_fraction), "objective": goal.name,
        "precision": _precision(dev),
        **({"minutes": float(minutes)} if minutes else {}),
    }  # fmt: skip
    config = {
        "id": card["id"] + "-finetune",
        "task": base.task,
        "scale": base.scale,
        "architecture": copy.deepcopy(card["architecture"]),
        "batch": batch,
        "patch": patch,
        "optimizer": {"lr": settings["lr"], "betas": [0.9, 0.99], "weight_decay": 0.0},
        "schedule": {"warmup": 0.05, "final_lr_frac": 0.1},
        "grad_clip": 0.5,
        "steps": steps,
        "seed": int(seed),
        "precision": settings["precision"],
    }
    base_proc = base_spec.build(LoadOptions(device="cpu", allow_fp16=False))
    base_sd = {k: v.detach().float().clone() for k, v in base_proc.module.state_dict().items()}
    del base_proc
    trainer = _FinetuneTrainer(config, source, goal, dev)
    trainer.model.load_state_dict(base_sd)
    budget = float(minutes) * 60.0 if minutes else None
    trainer.time_budget = budget
    fingerprint = {
        "base": base_spec.id,
        "base_params": hashlib.sha256(
            b"".join(v.numpy().tobytes()[:4096] for v in base_sd.values())
        ).hexdigest(),
        **source.fingerprint(),
        **settings,
    }
    yield FinetuneProgress(0, steps, phase="validating", message="measuring the base model",
                           elapsed_s=time.perf_counter() - t0)  # fmt: skip
    before, preview = validate(trainer.model, source, goal, dev, True)
    caveat = "" if goal.supervised else correlated_noise_caveat(trainer.model, source, dev)
    ckpt = Checkpointer(checkpoint_dir, fingerprint, checkpoint_minutes)
    state: dict[str, Any] = {"curve": []}
    restored = ckpt.restore(trainer) if resume else None
    if restored is not None:
        trainer.batch_size = int(restored.get("batch", trainer.batch_size))
        state["curve"] = list(restored.get("curve", []))
        _, preview = validate(trainer.model, source, goal, dev, True)

    def job_state() -> dict[str, Any]:
        return {**state, "batch": trainer.batch_size}

    notes = [f"resumed at step {trainer.step}" if restored is not None else ckpt.note]
    if source.skipped:
        notes.append(left_out_text(source.skipped))
    if caveat:
        notes.append(f"warning: {caveat}; the result will not be saved")
    yield FinetuneProgress(
        trainer.step, steps, phase="validating", val=before, preview=preview,
        batch=trainer.batch_size, elapsed_s=time.perf_counter() - t0,
        message="; ".join(n for n in notes if n) or "base model measured",
    )  # fmt: skip
    ckpt.note = ""

    val_every = int(val_every or max(10, min(100, steps // 10)))
    rate: float | None = None  # seconds per step (moving average)
    after = before
    finished = False
    try:
        while trainer.step < steps and not (budget and trainer.elapsed >= budget):
            ts = time.perf_counter()
            loss, cur_lr = trainer.train_step()
            dt = time.perf_counter() - ts
            trainer.elapsed += dt
            rate = dt if rate is None else 0.9 * rate + 0.1 * dt
            val = preview = None
            step = trainer.step
            last = step == steps or bool(budget and trainer.elapsed >= budget)
            if step % val_every == 0 or last:
                val, preview = validate(trainer.model, source, goal, dev, True)
                after = val
                state["curve"].append({"step": step, "loss": round(loss, 6), **{
                    k: val[k] for k in ("psnr", "ssim")}})  # fmt: skip
            elif step % 5 == 0 or step < 5:
                state["curve"].append({"step": step, "loss": round(loss, 6)})
            saved = ckpt.save(trainer, job_state()) if last or ckpt.due() else None
            note = "; ".join(n for n in (trainer.note, ckpt.note) if n)
            trainer.note = ckpt.note = ""
            yield FinetuneProgress(
                step, steps, loss=loss, lr=cur_lr,
                eta_s=max(0.0, budget - trainer.elapsed) if budget else rate * (steps - step),
                elapsed_s=time.perf_counter() - t0, phase="training", val=val, preview=preview,
                batch=trainer.batch_size, checkpoint=saved, message=note,
            )  # fmt: skip
        finished = True
    finally:
        if not finished and trainer.step > 0:
            ckpt.save(trainer, job_state())  # cancelled or failed: keep it for a resume
    if after is before or (state["curve"] and "psnr" not in state["curve"][-1]):
        after, _ = validate(trainer.model, source, goal, dev, False)
    verdict = judge(before, after, supervised=goal.supervised, caveat=caveat)
    module = copy.deepcopy(trainer.model).cpu().eval()
    yield FinetuneProgress(steps, steps, phase="done", val=after, batch=trainer.batch_size,
                           elapsed_s=time.perf_counter() - t0, message=verdict.message)  # fmt: skip
    return FinetuneResult(
        module=module,
        base_card=copy.deepcopy(card),
        base_id=base_spec.id,
        base_name=base_spec.name,
        base_kind=base_spec.kind,
        data=data,
        train_count=len(source.train_items),
        val_count=source.n_val,
        steps=trainer.step,
        before=dict(before),
        after=dict(after),
        curve=list(state["curve"]),
        settings={**settings, "batch": trainer.batch_size},
        elapsed_s=time.perf_counter() - t0,
        device=str(dev),
        verdict=verdict,
        card_extra=source.card_extra(),
        left_out=list(source.skipped),
    )
