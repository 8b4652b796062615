"""`LiveQuality` and `Viewer` on their own (no window): targets, scores, stale answers,
Simulate, overlays."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import ready_document, tiny_registry, write_photo
from PySide6.QtWidgets import QStatusBar

from deconv_gui.core import metrics
from deconv_gui.core.io import load_image
from deconv_gui.core.tiling import TileProgress
from deconv_gui.gui.display import DisplayImage
from deconv_gui.gui.document import Result
from deconv_gui.gui.live_quality import LiveQuality

SPEC = tiny_registry().get("tiny-conv")


@pytest.fixture
def quality(qtbot):
    made = []

    def make(**kwargs) -> LiveQuality:
        q = LiveQuality(**kwargs)
        made.append(q)
        return q

    yield make
    for q in made:
        q.shutdown()


@pytest.fixture
def doc(tmp_path):
    return ready_document(write_photo(tmp_path / "p.png", size=(96, 72), fmt="PNG"))


def restored(doc) -> np.ndarray:
    """A stand-in result: the photo, a little darker."""
    return (doc.photo.rgb * 0.9).astype(np.float32)


def complete(doc, rgb: np.ndarray) -> Result:
    h, w = rgb.shape[:2]
    return Result(SPEC, DisplayImage.blank(h, w), rgb=rgb)


def test_reference_target_then_final_scores(qtbot, quality, doc, tmp_path):
    ref = load_image(write_photo(tmp_path / "clean.png", seed=5, fmt="PNG")).rgb
    q = quality()
    changed = []
    q.comparison_changed.connect(changed.append)
    with qtbot.waitSignal(q.scores_changed, timeout=20000):
        q.set_comparison(doc, ref, "clean.png")
    assert changed == [doc] and doc.comparison.key == "reference"
    t = doc.target
    assert t.has_reference and t.before_ssim == pytest.approx(metrics.ssim(doc.photo.rgb, ref))
    r = q.readout(doc)
    assert r.has_reference and r.label == "vs clean.png" and r.after_ssim is None

    out = restored(doc)
    doc.result = complete(doc, out)
    with qtbot.waitSignal(q.final_scored, timeout=20000):
        q.score_final(doc)
    r = q.readout(doc)
    assert r.after_ssim == pytest.approx(metrics.ssim(out, ref), abs=1e-6)
    assert r.after_psnr == pytest.approx(metrics.psnr(out, ref), abs=1e-4)
    assert r.before_ssim == pytest.approx(t.before_ssim) and not r.partial


def test_scores_of_a_former_target_are_dropped(qtbot, quality, doc, tmp_path):
    ref = load_image(write_photo(tmp_path / "clean.png", seed=5, fmt="PNG")).rgb
    q = quality()
    with qtbot.waitSignal(q.scores_changed, timeout=20000):
        q.set_comparison(doc, ref, "clean.png")
    out = restored(doc)
    doc.result = complete(doc, out)
    finals = []
    q.final_scored.connect(finals.append)
    q.score_final(doc)  # against the reference...
    q.set_comparison(doc, None)  # ...which is gone before the answer arrives
    # the metrics queue runs in order: the stale answer came first and was dropped
    qtbot.waitUntil(lambda: doc.result.final is not None, timeout=20000)
    assert len(finals) == 1 and not doc.target.has_reference
    assert doc.result.final.ssim == pytest.approx(metrics.ssim(out, doc.photo.rgb), abs=1e-6)


def test_live_estimate_from_the_finished_tiles(qtbot, quality, doc):
    q = quality()
    q.ensure_target(doc)  # against the input: at once
    out = restored(doc)
    h, w = out.shape[:2]
    doc.result = Result(SPEC, DisplayImage.blank(h, w))  # arriving
    half = w // 2
    tp = TileProgress(1, 2, (0, h, 0, half), out[:, :half], 64, "cpu")
    with qtbot.waitSignal(q.scores_changed, timeout=20000):
        q.add_tile(doc, tp)
    r = q.readout(doc)
    assert r.partial and r.fraction == 0.5
    assert r.after_ssim == pytest.approx(metrics.ssim(out[:, :half], doc.photo.rgb[:, :half]))
    q.stop_tiles()
    assert q.readout(doc).after_ssim is not None  # the estimate stays until the final scores
    assert doc.result.tiles.tiles == 1


def test_simulate_degrades_the_input_and_compares_with_the_original(qtbot, quality, doc):
    answers = [False, True]
    notices = []
    q = quality(ask=lambda title, text: answers.pop(0))
    q.notice.connect(lambda text, kind, ms: notices.append(text))
    with qtbot.waitSignal(q.comparison_changed, timeout=20000):
        q.simulate(doc, "downscale=2")
    c = doc.comparison
    assert c.key == "sim:downscale=2" and c.reference is doc.photo.rgb
    assert c.lq.shape == (36, 48, 3) and doc.input_rgb is c.lq and doc.input_view is c.lq_view
    qtbot.waitUntil(lambda: doc.target is not None, timeout=20000)  # built in the background
    assert doc.target.has_reference and doc.target.label == "vs clean original"

    doc.result = complete(doc, restored(doc))  # unsaved
    q.simulate(doc, "noise=5")  # answered No: nothing changes
    assert doc.comparison is c and doc.result is not None
    q.simulate(doc, "noise=abc")  # answered Yes, but the spec is wrong: nothing changes
    assert notices and "noise=abc" in notices[-1] and not answers
    assert doc.comparison is c and doc.result is not None
    q.set_comparison(doc, None)  # leaving Simulate drops the result of the degraded photo
    assert doc.comparison.key == "input" and doc.result is None and doc.input_rgb is doc.photo.rgb


def test_a_photo_being_processed_keeps_its_comparison(qtbot, quality, doc):
    notices = []
    q = quality(in_use=lambda d: d is doc)
    q.notice.connect(lambda text, kind, ms: notices.append((text, kind)))
    before = doc.comparison
    q.set_comparison(doc, doc.photo.rgb, "same.png")
    q.simulate(doc, "noise=5")
    assert doc.comparison is before
    assert [kind for _, kind in notices] == ["warning", "warning"]


def test_overlays_are_built_once(qtbot, quality, doc):
    q = quality()
    q.ensure_target(doc)
    doc.result = complete(doc, restored(doc))
    assert q.overlay(doc, "ssim") is None  # no scores yet
    with qtbot.waitSignal(q.final_scored, timeout=20000):
        q.score_final(doc)
    with qtbot.waitSignal(q.overlay_ready, timeout=20000) as blocker:
        assert q.overlay(doc, "ssim") is None
    assert blocker.args == [doc, "ssim"]
    img = q.overlay(doc, "ssim")
    assert img is not None and img.size == (96, 72) and q.overlay(doc, "ssim") is img


def test_viewer_shows_an_upscale_over_the_stretched_input(qtbot, quality, doc):
    from deconv_gui.gui.compare_view import CompareView
    from deconv_gui.gui.quality_panel import QualityPanel
    from deconv_gui.gui.viewer import Viewer
    from deconv_gui.gui.widgets import StatusLabels

    view, panel, bar = CompareView(), QualityPanel(), QStatusBar()
    for w in (view, panel, bar):
        qtbot.addWidget(w)
    q = quality()
    labels = StatusLabels(bar)
    viewer = Viewer(view, panel, q, labels)
    x2 = tiny_registry().get("tiny-x2")
    rgb = np.repeat(np.repeat(doc.photo.rgb, 2, axis=0), 2, axis=1)
    doc.result = Result(x2, DisplayImage.from_rgb(rgb), rgb=rgb)
    q.ensure_target(doc)
    with qtbot.waitSignal(q.final_scored, timeout=20000):
        q.score_final(doc)
    viewer.show(doc)
    assert view.before() is doc.photo_view and view.after() is doc.result.view
    assert view.scene_size() == (192, 144)
    assert labels.photo.text().endswith("→  192 × 144")
    assert panel.readout().after_ssim == pytest.approx(doc.result.final.ssim)
    viewer.show(None)
    assert (
        view.before() is None and labels.photo.text() == "" and panel.readout().after_ssim is None
    )
    labels.stop()
    viewer.stop()
