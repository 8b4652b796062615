"""`RestoreSession` and `BatchController` on their own (no window)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from gui_helpers import SLOW_CALLS, ready_document, write_photo
from PIL import Image
from PySide6.QtWidgets import QWidget

from deconv_gui.core.degrade import parse_spec
from deconv_gui.gui import restore_session
from deconv_gui.gui.batch_controller import BatchController
from deconv_gui.gui.display import DisplayImage, to_bgra8
from deconv_gui.gui.document import Comparison, Result
from deconv_gui.gui.restore_panel import RunSettings
from deconv_gui.gui.restore_session import RestoreSession
from deconv_gui.models.registry import LoadOptions


@pytest.fixture
def session(qtbot, prefs):
    made = []

    def make(**kwargs) -> RestoreSession:
        s = RestoreSession(prefs, **kwargs)
        made.append(s)
        return s

    yield make
    for s in made:
        s.shutdown()


CPU = LoadOptions(device="cpu")


def test_a_run_fills_in_a_result_tile_by_tile(qtbot, session, registry, tmp_path):
    doc = ready_document(write_photo(tmp_path / "p.jpg", size=(160, 96)))
    s = session()
    tiles, started = [], []
    s.started.connect(lambda d: started.append((d, d.result)))
    s.tile_done.connect(lambda d, tp: tiles.append(tp))
    with qtbot.waitSignal(s.finished, timeout=20000) as blocker:
        assert s.run(doc, registry.get("tiny-x2"), CPU, tile_size=64)
        assert s.is_busy and s.running_doc is doc
    assert blocker.args == [doc]
    ((d, partial),) = started
    assert d is doc and partial.partial and partial.view.size == (320, 192)
    r = doc.result
    assert not r.partial and r.rgb.shape == (192, 320, 3) and r.view is partial.view
    assert r.spec.id == "tiny-x2" and r.seconds > 0 and r.saved_path is None
    assert r.meta.exif == doc.photo.meta.exif  # what is saved with it
    assert len(tiles) == tiles[-1].total > 1 and tiles[-1].done == tiles[-1].total
    # the tiles were painted into the view in the worker: all of it, with the result's pixels
    assert np.array_equal(r.view.levels[0], to_bgra8(r.rgb))
    assert not s.is_busy and s.running_doc is None and doc.unsaved


def test_cancel_and_failure_put_the_previous_result_back(qtbot, session, registry, tmp_path):
    doc = ready_document(write_photo(tmp_path / "big.jpg", size=(384, 320)))
    previous = Result(registry.get("tiny-conv"), DisplayImage.blank(320, 384),
                      rgb=np.zeros((320, 384, 3), np.float32))  # fmt: skip
    doc.result = previous
    notices = []
    s = session()
    s.notice.connect(lambda text, kind, ms: notices.append(text))
    SLOW_CALLS.clear()
    with qtbot.waitSignal(s.tile_done, timeout=20000):
        assert s.run(doc, registry.get("tiny-slow"), CPU, tile_size=64)
    assert doc.result is not previous and doc.result.partial
    with qtbot.waitSignal(s.cancelled, timeout=20000):
        assert s.cancel()
    assert doc.result is previous and not s.is_busy
    assert SLOW_CALLS[0].calls < 30  # 6 x 5 tiles in all

    statuses = []
    s.status.connect(lambda text, ms: statuses.append(text))
    with qtbot.waitSignal(s.failed, timeout=20000) as blocker:
        assert s.run(doc, registry.get("tiny-crash"), CPU)
    assert blocker.args[0] is doc and "broke on purpose" in blocker.args[1]
    # the status bar had kept "Running ... on big.jpg…" for good
    assert statuses[0].startswith("Running") and statuses[-1] == "Processing big.jpg failed"
    assert doc.result is previous
    assert notices and "big.jpg" in notices[-1] and "broke on purpose" in notices[-1]
    assert not s.cancel()  # nothing runs


def test_what_keeps_a_run_from_starting(qtbot, session, registry, tmp_path, monkeypatch):
    from deconv_gui.models.registry import ModelSpec

    doc = ready_document(write_photo(tmp_path / "p.jpg"))
    asked, notices = [], []
    s = session(ask=lambda title, text: asked.append(text) or False)
    s.notice.connect(lambda text, kind, ms: notices.append(text))
    monkeypatch.setattr(restore_session, "LARGE_RESULT_MP", 0.001)
    assert not s.run(doc, registry.get("tiny-x2"), CPU)
    assert asked and "MP" in asked[0]
    deblur = ModelSpec("k", "Kernel", "deblur", 1, "classical", "", build=lambda o: None,
                       params=("kernel",))  # fmt: skip
    assert not s.run(doc, deblur, LoadOptions(device="cpu", params={"kernel": "gaussian:x"}))
    assert notices and "Invalid blur kernel" in notices[0]
    doc.photo = None  # evicted: not ready
    assert not s.run(doc, registry.get("tiny-conv"), CPU)
    assert not s.is_busy and doc.result is None


def test_what_saving_warns_of_is_shown_not_only_logged(qtbot, session, registry, tmp_path):
    """Transparency saved as JPEG: the CLI says so on stderr; the app said nothing (the log
    file only). Now a warning notice names it; a save without warnings shows none."""
    rgba = np.zeros((40, 48, 4), np.uint8)
    rgba[..., 2], rgba[10:, :, 3] = 160, 255
    Image.fromarray(rgba).save(tmp_path / "logo.png")
    doc = ready_document(tmp_path / "logo.png")
    s = session()
    notices = []
    s.notice.connect(lambda text, kind, ms: notices.append((text, kind)))
    with qtbot.waitSignal(s.finished, timeout=20000):
        s.run(doc, registry.get("tiny-conv"), CPU)
    with qtbot.waitSignal(s.saved, timeout=20000):
        s.save_to(doc, tmp_path / "logo.png.png")
    assert notices == []
    with qtbot.waitSignal(s.saved, timeout=20000):
        s.save_to(doc, tmp_path / "logo.jpg")
    ((text, kind),) = notices
    assert kind == "warning" and text.startswith("Saved logo.jpg, but: ")
    assert "holds no transparency" in text


def test_output_names_and_saving(qtbot, session, registry, prefs, tmp_path):
    photo = write_photo(tmp_path / "in" / "street.jpg")
    doc = ready_document(photo)
    s = session()
    doc.result = Result(registry.get("tiny-x2"), DisplayImage.blank(2, 2))
    assert s.output_path(doc) == photo.with_name("street_x2.jpg")
    doc.comparison = Comparison("sim:noise=5")
    assert s.output_path(doc).name == "street_sim_x2.jpg"
    prefs.output_dir, prefs.suffix = str(tmp_path / "out"), "_mine"
    assert s.output_path(doc) == tmp_path / "out" / "street_sim_mine.jpg"

    prefs.output_dir = ""
    doc.comparison = Comparison()
    statuses = []
    s.status.connect(lambda text, ms: statuses.append(text))
    s.save(doc)  # a partial result is not saved
    assert statuses == []
    with qtbot.waitSignal(s.finished, timeout=20000):
        s.run(doc, registry.get("tiny-conv"), CPU)
    with qtbot.waitSignal(s.saved, timeout=20000) as blocker:
        s.save(doc)
    out = photo.with_name("street_mine.jpg")
    assert blocker.args == [doc, out] and doc.result.saved_path == out and not doc.unsaved
    with Image.open(out) as im:
        assert im.size == (96, 72) and im.getexif().get(0x010F) == "TestCam"

    # a new result of the same photo is saved under the same name after asking
    doc.result = replace(doc.result, saved_path=None)
    asked = []
    s2 = session(ask=lambda title, text: asked.append(text) or False)
    mtime = out.stat().st_mtime_ns
    s2.save(doc)
    assert asked and "already exists" in asked[0] and out.stat().st_mtime_ns == mtime


def test_batch_controller_runs_the_panel_settings(qtbot, prefs, registry, tmp_path):
    paths = [write_photo(tmp_path / "in" / f"p{i}.jpg", seed=i) for i in range(2)]
    parent = QWidget()
    qtbot.addWidget(parent)
    settings = [RunSettings(registry.get("tiny-conv"), CPU)]
    other_busy = [False]
    batch = BatchController(prefs, parent, settings=lambda: settings[0] if settings else None,
                            can_start=lambda: not other_busy[0])  # fmt: skip
    try:
        dlg = batch.open_dialog(paths)
        assert dlg is not None and batch.open_dialog(paths) is dlg  # one at a time
        dlg.output_edit.setText(str(tmp_path / "out"))
        other_busy[0] = True
        assert not batch.start() and "Wait" in dlg.summary_label.text()
        other_busy[0] = False
        progress = []
        batch.progressed.connect(progress.append)
        with qtbot.waitSignal(batch.finished, timeout=20000) as blocker:
            assert batch.start()
        summary = blocker.args[0]
        assert [p.name for p, _ in summary.done] == ["p0.jpg", "p1.jpg"]
        assert batch.last_summary is summary and "2 saved" in dlg.summary_label.text()
        assert (tmp_path / "out" / "p1_denoised.jpg").is_file()
        assert [bp.index for bp in progress if bp.finished] == [0, 1]
        dlg.close()
        qtbot.waitUntil(lambda: batch.dialog is None)
        settings.clear()  # no model chosen
        assert batch.open_dialog(paths) is None
    finally:
        batch.shutdown()


def test_simulated_kernel_and_result_records():
    cmp = Comparison("sim:noise=5,blur=motion:9:30", lq=np.zeros((2, 2, 3), np.float32))
    assert cmp.simulation == "noise=5,blur=motion:9:30" and cmp.label == "vs your photo"
    assert cmp.blur_kernel == "motion:9:30"
    assert Comparison("sim:noise=5").blur_kernel == "" and Comparison().simulation is None
    assert parse_spec(cmp.simulation)  # the spec it holds is a valid degradation
    assert Comparison("reference", reference_name="clean.png").label == "vs clean.png"
