"""Never ship a worse model: the verdict on a fine-tune, from its held-out score.

The job measures the base network and the tuned one on the same held-out photos (the
supervised PSNR against the targets, or the self-supervised score for noisy photos only; see
`deconv_gui.training.finetune.objectives`). `judge` compares them: a tuned model that scores
lower than the base model is refused (`Verdict.refused`), and `save_finetuned` /
`run_finetune_cli` will not write it unless forced. Differences below what the measure
resolves count as no change (`TOLERANCE_DB`, `TOLERANCE_SELF_SUPERVISED_DB`: the
self-supervised score adds the noise's variance to the error, which compresses its
differences, so its tolerance is ten times smaller). ``Verdict.message`` says what happened
in plain words (the panel and the CLI show it). A ``caveat`` (e.g. noise correlated
between neighbouring pixels, which a self-supervised score cannot judge) refuses the model
too: the score cannot vouch for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deconv_gui.errors import DeconvError

TOLERANCE_DB = 0.05
TOLERANCE_SELF_SUPERVISED_DB = 0.005


class WorseModelError(DeconvError):
    """A fine-tuned model is not saved: it got worse on the held-out photos (or the held-out
    score cannot tell)."""


@dataclass(frozen=True)
class Verdict:
    """Before/after on the held-out photos (dB, higher is better) and the decision."""

    metric: str
    before: float
    after: float
    refused: bool
    message: str
    caveat: str = ""

    @property
    def gain(self) -> float:
        return self.after - self.before

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "before": self.before, "after": self.after,
                "gain_db": round(self.gain, 3), "refused": self.refused,
                "message": self.message, "caveat": self.caveat}  # fmt: skip


def judge(before: dict[str, Any], after: dict[str, Any], *, supervised: bool,
          caveat: str = "") -> Verdict:  # fmt: skip
    """The verdict from the held-out scores before and after training (``{"psnr",
    "metric", "photos"}``); a loss within the tolerance is no change, not "worse"."""
    b, a = float(before["psnr"]), float(after["psnr"])
    metric = str(before.get("metric", "PSNR"))
    n = before.get("photos", "the")
    what = "PSNR" if supervised else "self-supervised score"
    scores = f"held-out {what} {b:.2f} -> {a:.2f} dB, {a - b:+.2f} dB on {n} photo(s)"
    if caveat:
        return Verdict(metric, b, a, True, f"Not saved: {caveat} ({scores}).", caveat)
    tolerance = TOLERANCE_DB if supervised else TOLERANCE_SELF_SUPERVISED_DB
    if a < b - tolerance:
        lr = "a lower learning rate (deconv-gui finetune --lr)"
        hint = (
            f"try more photos, fewer steps or {lr}"
            if supervised
            else f"try fewer steps or {lr}; if it still gets worse, noisy photos alone cannot "
            "improve this model on them: use before/after pairs or clean photos with a "
            "matching degradation instead"
        )
        return Verdict(
            metric, b, a, True,
            f"Not saved: the fine-tuned model is worse than the base model on your held-out "
            f"photos ({scores}); {hint}.",
        )  # fmt: skip
    if a <= b + tolerance:
        return Verdict(metric, b, a, False, f"No measurable change on your held-out photos: "
                       f"{scores}.")  # fmt: skip
    return Verdict(metric, b, a, False, f"Better than the base model: {scores}.")
