"""`Advisor`: looks at each photo once it is loaded (`core.analyze`, off the GUI thread, with
the default denoiser as its noise probe: `models.registry.noise_probe`) and turns the
suggestion into a recipe of installed models.

`analysis(doc)` is the photo's `Analysis` once it is ready (``analyzed(doc)`` says when);
`suggested_recipe(analysis)` the steps with the model the CLI's ``analyze`` would name for
each (`models.registry.model_for_step`) and the suggested strength where the model takes
one; `suggestion_text(analysis)` the plain words, noting steps no installed model does.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject, Signal

from deconv_gui.core.analyze import RAW_NOISY_SNR, Analysis, analyze
from deconv_gui.core.recipe import Recipe, RecipeStep
from deconv_gui.gui.document import Document
from deconv_gui.gui.runner import TaskQueue
from deconv_gui.models.registry import ModelRegistry, jpeg_probe, model_for_step, noise_probe

#: long side of the copy analysed (the measures are statistics; a 24 MP photo takes seconds)
ANALYSIS_SIDE = 2048


class Advisor(QObject):
    """Suggestions per photo (see the module doc). Signals: ``analyzed(doc)``."""

    analyzed = Signal(object)

    def __init__(self, registry: ModelRegistry, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self._queue = TaskQueue(self)
        self._done: dict[int, Analysis] = {}

    def look_at(self, doc: Document) -> None:
        """Analyse `doc`'s photo in the background (once)."""
        if doc.key in self._done or doc.photo is None:
            return
        rgb, meta = doc.photo.rgb, doc.photo.meta
        denoiser, jpeg_remover = noise_probe(self.registry), jpeg_probe(self.registry)

        def done(a: Analysis) -> None:
            self._done[doc.key] = a
            self.analyzed.emit(doc)

        def work() -> Analysis:
            h, w = rgb.shape[:2]
            a = analyze(_analysis_copy(rgb), meta, denoiser=denoiser, jpeg_remover=jpeg_remover)
            return replace(a, width=w, height=h)

        self._queue.submit(work, on_result=done, key=f"analyze-{doc.key}")

    def analysis(self, doc: Document | None) -> Analysis | None:
        return self._done.get(doc.key) if doc is not None else None

    def forget(self, doc: Document) -> None:
        self._done.pop(doc.key, None)

    def suggested_recipe(self, a: Analysis, *, ordinary: bool = False) -> Recipe | None:
        """The suggestion's steps with installed models. ``ordinary``: the input is an
        ordinary picture (Simulate's degraded copy of a RAW photo), so the photo denoiser
        stands in for the RAW denoiser, on Auto."""
        steps = []
        for st in a.steps:
            task = "denoise" if ordinary and st.task == "raw-denoise" else st.task
            spec = model_for_step(self.registry, task, st.scale, camera=a.camera, iso=a.iso)
            if spec is None:
                continue
            strength = None
            if task == st.task and spec.strength is not None and st.strength is not None:
                lo, hi = spec.strength.minimum, spec.strength.maximum
                strength = float(min(max(st.strength, lo), hi))
                if spec.strength.auto:
                    strength = None if spec.task == "jpeg" else strength
            steps.append(RecipeStep(spec.id, strength))
        return Recipe(tuple(steps)) if steps else None

    def suggestion_text(self, a: Analysis) -> str:
        text = a.summary()
        missing = [
            s.label for s in a.steps if model_for_step(self.registry, s.task, s.scale) is None
        ]
        if missing:
            text += f" ({', '.join(missing)}: no model installed for this yet)"
        return text

    def simulate_caveat(self, doc: Document | None) -> str:
        """Why Simulate's scores would mislead on `doc` ("" when its photo looks clean or is
        not analysed yet): Simulate compares results with the photo as it is, so noise, JPEG
        artifacts or blur of its own count against a model that also removes them."""
        a = self.analysis(doc)
        if a is None:
            return ""
        if a.raw_snr is not None:  # judged on the sensor data, not on the development
            noisy = a.raw_snr < RAW_NOISY_SNR
            found = [f"noisy (its sensor data: {a.raw_noise_words()})"] * noisy
        else:
            found = [f for f in a.findings() if not f.startswith("small")]
        if not found:
            return ""
        return (
            f"Your photo is already {' and '.join(found)}. Simulate compares results with it "
            "as it is, so a model that also cleans that up scores lower: judge by eye, or "
            "simulate on a clean photo."
        )

    def shutdown(self) -> None:
        self._queue.shutdown()


def _analysis_copy(rgb):  # noqa: ANN001, ANN202 - numpy in and out
    """The photo as analysed: the full photo up to `ANALYSIS_SIDE`, else its centre crop of
    that side (noise, JPEG blocks and blur are measured at the photo's own scale, so it is
    cropped, not shrunk)."""
    h, w = rgb.shape[:2]
    if max(h, w) <= ANALYSIS_SIDE:
        return rgb
    y, x = max(0, (h - ANALYSIS_SIDE) // 2), max(0, (w - ANALYSIS_SIDE) // 2)
    return rgb[y : y + ANALYSIS_SIDE, x : x + ANALYSIS_SIDE]
