"""Fine-tune a bundled (or already fine-tuned) network on the user's own photos.

Three kinds of data (`MODES`), each a `sources.Source`:

* ``pairs``: a folder of "before" photos (``lq``) and a folder of "after" photos (``gt``)
  with the same file names. `check_pairs` lists names found on one side only, pairs whose
  sizes do not fit the model's scale and unreadable files (a `PairReport`); nothing starts
  while there are problems unless the caller chose to skip them.
* ``clean``: clean photos plus a degradation applied on the fly to random patches: a
  `deconv_gui.core.degrade` spec whose numbers may be ranges ``A-B`` and whose steps may
  list alternatives with ``|`` (`deconv_gui.training.degradations.RandomDegradation`). For
  an upscaler the spec's downscale must match the model's scale (a missing one is added).
* ``noisy``: noisy photos only (denoisers), learnt self-supervised
  (`objectives.NeighbourSubsampling`, Neighbor2Neighbor). Sound for noise that is
  independent from pixel to pixel; noise correlated between neighbours (camera JPEGs:
  demosaicing, noise reduction, compression) cannot be learnt this way.
* ``noisy_raw``: the user's noisy camera RAW files only, for the RAW denoiser ("learn your
  camera", `raw_source.NoisyRawSource`): the camera's noise, banding included, is fitted
  per ISO over all the files and any dark/flat frames the user adds (a second folder,
  measured only; `deconv_gui.core.camera_noise`), and the denoiser learns on the packed
  Bayer planes, where photosite noise is independent, with Recorrupted-to-Recorrupted
  (`objectives.Recorrupted`, Pang et al. CVPR 2021: the known profile re-corrupts each
  patch into an input and a target with uncorrelated noise; Neighbor2Neighbor on the planes
  is the alternative, ``objective="neighbor2neighbor"``). The tuned model's card carries the
  camera, its ISO range and the fitted profile (its Auto), and its display name is the
  camera's ("Canon EOS R6, ISO 3200-12800").

The package: `sources` (the user's data, held-out split, batches), `sampling` (the
self-supervised sub-sampling and masking), `objectives` (the loss per kind of data and the
held-out score), `guard` (the verdict: a model that got worse on the held-out photos is not
saved), `job` (`finetune_job`, a generator with progress records, pause/resume/cancel and a
`Checkpointer`), `save` (`save_finetuned`, into the user library through
`deconv_gui.models.library`) and `cli` (`run_finetune_cli`). The base model is never
modified.
"""

from __future__ import annotations

from deconv_gui.training.degradations import RandomDegradation, checked_degradation
from deconv_gui.training.finetune.cli import run_finetune_cli
from deconv_gui.training.finetune.guard import Verdict, WorseModelError, judge
from deconv_gui.training.finetune.job import (
    CHECKPOINT_NAME,
    DEFAULT_LR,
    DEFAULT_STEPS,
    Checkpointer,
    FinetuneProgress,
    FinetuneResult,
    check_trainable,
    default_checkpoint_dir,
    finetune_job,
)
from deconv_gui.training.finetune.objectives import OBJECTIVES
from deconv_gui.training.finetune.sampling import blind_spot, neighbour_subsample
from deconv_gui.training.finetune.save import save_finetuned
from deconv_gui.training.finetune.sources import (
    MODE_HELP,
    MODE_LABELS,
    MODES,
    FinetuneData,
    PairReport,
    Source,
    check_pairs,
    make_data,
)

# the fine-tune panel's name for it (deconv_gui/gui/finetune_panel.py)
_checked_degradation = checked_degradation

__all__ = [
    "CHECKPOINT_NAME",
    "DEFAULT_LR",
    "DEFAULT_STEPS",
    "MODES",
    "MODE_HELP",
    "MODE_LABELS",
    "OBJECTIVES",
    "Checkpointer",
    "FinetuneData",
    "FinetuneProgress",
    "FinetuneResult",
    "PairReport",
    "RandomDegradation",
    "Source",
    "Verdict",
    "WorseModelError",
    "blind_spot",
    "check_pairs",
    "check_trainable",
    "checked_degradation",
    "default_checkpoint_dir",
    "finetune_job",
    "judge",
    "make_data",
    "neighbour_subsample",
    "run_finetune_cli",
    "save_finetuned",
]
