"""`LiveQuality` and `Viewer` on their own (no window): targets, scores, stale answers,
Simulate, overlays."""

from __future__ import annotations

import numpy as np
import pytest
from gui_helpers import ready_document, tiny_registry, write_photo
from PySide6.QtWidgets import QStatusBar

from deconv_gui.core import metrics
from deconv_gui.core.finish import match_size
from deconv_gui.core.io import load_image
from deconv_gui.core.tiling import TileProgress
from deconv_gui.gui.display import DisplayImage, diff_overlay, ssim_overlay, to_bgra8
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
    assert doc.target.has_reference and doc.target.label == "vs your photo"

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
    assert img is not None and img.image.size == (96, 72) and q.overlay(doc, "ssim") is img
    assert img.kind == "ssim" and img.title.startswith("SSIM map vs input")


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
    with qtbot.waitSignal(q.enlarged_ready, timeout=20000):
        viewer.show(doc)  # at first the input itself (smoothly filtered), then...
    # ...the honest before: the input enlarged with Lanczos to the result's size
    lanczos = to_bgra8(match_size(doc.photo.rgb, rgb))
    assert np.array_equal(view.before().levels[0], lanczos)
    assert view.labels() == ("Before (enlarged with Lanczos)", "After · Upscale x2")
    assert view.after() is doc.result.view
    assert view.scene_size() == (192, 144)
    assert labels.photo.text().endswith("→  192 × 144")
    assert panel.readout().after_ssim == pytest.approx(doc.result.final.ssim)
    viewer.show(None)
    assert (
        view.before() is None and labels.photo.text() == "" and panel.readout().after_ssim is None
    )
    labels.stop()
    viewer.stop()


# ----------------------------------------------------------------------------- issue 14
def test_simulate_keeps_the_photos_own_result_and_gives_it_back(qtbot, quality, doc):
    asked = []
    q = quality(ask=lambda title, text: asked.append(text) or True)
    own = complete(doc, restored(doc))  # unsaved
    doc.result = own
    with qtbot.waitSignal(q.comparison_changed, timeout=20000):
        q.simulate(doc, "noise=25")
    assert not asked  # nothing is lost, so nothing to ask
    assert doc.result is None and doc.simulation == "noise=25"
    assert doc.reference_view is doc.photo_view  # the clean original can be shown
    doc.result = complete(doc, restored(doc))  # a result of the degraded photo
    with qtbot.waitSignal(q.comparison_changed, timeout=20000):
        q.simulate(doc, "noise=50")  # another degradation: that result goes (asked first)
    assert len(asked) == 1 and doc.result is None
    q.set_comparison(doc, None)
    # the same result back (its scores are made again against the input)
    assert doc.result.rgb is own.rgb and doc.result.spec is own.spec
    assert doc.comparison.key == "input"


def test_a_reference_that_does_not_match_the_photo_gets_a_warning(qtbot, quality, doc, tmp_path):
    import cv2

    q = quality()
    notices = []
    q.notice.connect(lambda text, kind, ms: notices.append((text, kind)))
    other_shape = write_photo(tmp_path / "square.png", size=(80, 80), fmt="PNG")
    with qtbot.waitSignal(q.notice, timeout=20000):
        q.load_reference(doc, other_shape)
    assert notices[-1][1] == "warning" and "shape (80 × 80)" in notices[-1][0]
    # same shape, another picture: the photo turned upside down and mirrored
    flipped = tmp_path / "other.png"
    cv2.imwrite(str(flipped), (doc.photo.rgb[::-1, ::-1, ::-1] * 255).astype(np.uint8))
    with qtbot.waitSignal(q.notice, timeout=20000):
        q.load_reference(doc, flipped)
    text, kind = notices[-1]
    assert kind == "warning" and "does not look like p.png" in text and "SSIM" in text
    assert doc.comparison.key == "input" and len(notices) == 2
    # a noisier version of the same photo is a fine reference
    clean = write_photo(tmp_path / "clean.png", seed=9, fmt="PNG")
    with qtbot.waitSignal(q.comparison_changed, timeout=20000):
        q.load_reference(doc, clean)
    assert doc.comparison.key == "reference" and len(notices) == 2
    assert doc.reference_view is not None and doc.reference_view.size == (96, 72)


def test_what_reading_a_reference_warned_of_is_shown(qtbot, quality, doc, tmp_path):
    """A two-page TIFF as the reference: its first page is used and a notice says so (the
    warning was only in the log file)."""
    from PIL import Image

    frame = Image.fromarray((doc.photo.rgb * 255).astype(np.uint8))
    tif = tmp_path / "clean.tif"
    frame.save(tif, save_all=True, append_images=[frame.rotate(180)])
    q = quality()
    notices = []
    q.notice.connect(lambda text, kind, ms: notices.append((text, kind)))
    with qtbot.waitSignal(q.notice, timeout=20000):
        q.load_reference(doc, tif)
    assert doc.comparison.key == "reference" and doc.comparison.reference_name == "clean.tif"
    text, kind = notices[-1]
    assert kind == "warning" and text.startswith("Reading the reference: clean.tif has 2 frames")


def test_lookalike_ssim_tells_the_same_scene_from_another():
    from deconv_gui.core.degrade import parse_spec
    from deconv_gui.gui.quality import LOOKALIKE_MIN_SSIM, lookalike_ssim
    from deconv_gui.paths import sample_photo

    path = sample_photo()
    if not path.is_file():
        pytest.skip("the sample photo is not in resources/sample")
    clean = load_image(path).rgb
    for spec in ("noise=50", "blur=gaussian:3", "downscale=4", "jpeg=10"):
        assert lookalike_ssim(parse_spec(spec).apply(clean, seed=0), clean) > 0.9, spec
    assert lookalike_ssim(clean, clean[::-1, ::-1]) < LOOKALIKE_MIN_SSIM


def test_overlays_are_auto_contrasted():
    rng = np.random.default_rng(0)
    a = rng.random((64, 64, 3)).astype(np.float32)
    b = a.copy()
    b[:32] += 0.02  # a faint change over the top half
    d = diff_overlay(a, b)
    assert d.span == pytest.approx(0.02, abs=1e-3)  # the top colour goes to the largest
    top = d.image.levels[0][:32].reshape(-1, 4)[:, :3].astype(int)
    assert top.sum(axis=1).mean() > 3 * 200  # bright (inferno's top is pale yellow)
    assert d.image.levels[0][32:, :, :3].max() < 20  # unchanged: black
    assert d.low_label == "none" and d.high_label == "2 % or more"
    same = diff_overlay(a, a)
    assert same.span == pytest.approx(2 / 255)  # no change is not blown up into noise
    m = np.ones((40, 40), np.float32)
    m[:20] = 0.7
    s = ssim_overlay(m, "your photo")
    assert s.span == pytest.approx(0.3, abs=1e-6) and s.high_label == "0.70 or less"
    assert s.title == "SSIM map vs your photo: red is least alike"
    b_, g_, r_ = s.image.levels[0][0, 0, :3]
    assert r_ > 100 > b_  # least alike: red end of turbo
    b_, g_, r_ = s.image.levels[0][-1, -1, :3]
    assert b_ > r_  # alike: blue end


def test_viewer_pairs_with_a_simulation(qtbot, quality, doc):
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
    with qtbot.waitSignal(q.comparison_changed, timeout=20000):
        q.simulate(doc, "noise=25")
    doc.result = complete(doc, restored(doc))
    viewer.show(doc)
    assert panel.pair_row.isVisibleTo(panel)
    assert view.labels() == ("Degraded (noise=25)", "After · Denoise")
    assert view.before() is doc.comparison.lq_view and view.after() is doc.result.view
    viewer.set_pair("reference")
    assert view.labels() == ("Your photo", "After · Denoise")
    assert view.before() is doc.photo_view and view.after() is doc.result.view
    viewer.set_pair("reference_input")
    assert view.labels() == ("Your photo", "Degraded (noise=25)")
    assert view.before() is doc.photo_view and view.after() is doc.comparison.lq_view
    with pytest.raises(ValueError, match="unknown pair"):
        viewer.set_pair("nonsense")
    q.set_comparison(doc, None)  # no reference: the pair choice goes, before/after again
    viewer.show(doc)
    assert not panel.pair_row.isVisibleTo(panel) and view.labels()[0] == "Before"
    labels.stop()
    viewer.stop()
