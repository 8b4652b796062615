"""`PhotoList` on its own (no window): opening, loading, eviction, closing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gui_helpers import tiny_registry, write_photo

from deconv_gui.gui.display import DisplayImage
from deconv_gui.gui.document import DocState, Result
from deconv_gui.gui.photo_list import FULL_PHOTOS_KEPT, PhotoList, badge

SPEC = tiny_registry().get("tiny-conv")


@pytest.fixture
def photos(qtbot, prefs):
    made = []

    def make(**kwargs) -> PhotoList:
        p = PhotoList(prefs, **kwargs)
        made.append(p)
        return p

    yield make
    for p in made:
        p.shutdown()


def record(photos: PhotoList) -> dict[str, list]:
    seen: dict[str, list] = {k: [] for k in ("added", "current", "loaded", "notice")}
    photos.added.connect(seen["added"].append)
    photos.current_changed.connect(seen["current"].append)
    photos.loaded.connect(seen["loaded"].append)
    photos.notice.connect(lambda text, kind, ms: seen["notice"].append((text, kind)))
    return seen


def test_open_expands_folders_shows_the_first_and_remembers_it(qtbot, photos, tmp_path, prefs):
    folder = tmp_path / "shoot"
    write_photo(folder / "b.jpg", seed=1)
    write_photo(folder / "a.png", seed=2, fmt="PNG")
    (folder / "notes.txt").write_text("not a photo")
    single = write_photo(tmp_path / "single.jpg", seed=3)
    pl = photos()
    seen = record(pl)
    previewed = []
    pl.previewed.connect(previewed.append)
    with qtbot.waitSignal(pl.loaded, timeout=20000):
        docs = pl.open([folder, single])
    assert [d.name for d in docs] == ["a.png", "b.jpg", "single.jpg"]  # folder sorted
    assert seen["added"] == docs and [d.name for d in pl] == ["a.png", "b.jpg", "single.jpg"]
    assert pl.current is docs[0] and seen["current"] == [docs[0]]
    assert seen["loaded"] == [docs[0]] and docs[0].is_ready
    qtbot.waitUntil(lambda: {d.key for d in previewed} >= {docs[1].key, docs[2].key})
    assert docs[1].state is DocState.PREVIEW and docs[1].photo is None  # not shown: no photo
    assert docs[1].preview is None  # only a thumbnail is kept for photos not shown
    assert pl.paths() == [d.path for d in docs]
    assert str(folder.resolve()) in prefs.recent_files

    # opening again adds nothing and shows the photo asked for
    again = pl.open([single])
    assert again == [] and len(pl) == 3 and pl.current is docs[2]


def test_missing_and_empty_inputs_are_reported(qtbot, photos, tmp_path, prefs):
    gone = tmp_path / "gone.jpg"
    prefs.add_recent(write_photo(gone))
    gone.unlink()
    empty = tmp_path / "empty"
    empty.mkdir()
    pl = photos()
    seen = record(pl)
    assert pl.open([gone]) == []
    assert pl.open([empty]) == []
    assert [kind for _, kind in seen["notice"]] == ["error", "error"]
    assert "gone.jpg" in seen["notice"][0][0] and "empty" in seen["notice"][1][0]
    assert str(gone.resolve()) not in prefs.recent_files
    assert len(pl) == 0 and seen["added"] == []


def test_a_broken_photo_is_marked_and_reported(qtbot, photos, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    pl = photos()
    seen = record(pl)
    with qtbot.waitSignal(pl.failed, timeout=20000) as blocker:
        pl.open([bad])
    doc = blocker.args[0]
    assert doc.state is DocState.ERROR and doc.error and not doc.is_ready
    assert seen["notice"] and "broken.jpg" in seen["notice"][0][0]
    assert badge(doc) == ("error", f"{bad}\n{doc.error}")


def test_what_reading_a_photo_warns_of_is_a_notice_once(qtbot, photos, tmp_path):
    """Only an animation's first frame is read: said in a warning notice (was the log file
    only), once even when the photo is read again later."""
    from PIL import Image

    frames = [Image.new("RGB", (40, 30), (40 * i, 90, 160)) for i in range(3)]
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:])
    write_photo(tmp_path / "still.jpg")
    pl = photos()
    seen = record(pl)
    with qtbot.waitSignal(pl.loaded, timeout=20000) as blocker:
        pl.open([tmp_path / "still.jpg"])
    assert seen["notice"] == []
    with qtbot.waitSignal(pl.loaded, timeout=20000) as blocker:
        pl.open([tmp_path / "anim.webp"])
    doc = blocker.args[0]
    ((text, kind),) = seen["notice"]
    assert kind == "warning" and text.startswith("anim.webp has 3 frames") and text.endswith(".")
    doc.photo = doc.photo_view = None  # unloaded as a spare photo, then shown again
    with qtbot.waitSignal(pl.loaded, timeout=20000):
        pl._request_full(doc)
    assert len(seen["notice"]) == 1


def test_spare_full_photos_are_evicted_but_not_those_with_work(qtbot, photos, tmp_path):
    paths = [write_photo(tmp_path / f"p{i}.jpg", seed=i) for i in range(6)]
    busy_keys: set[int] = set()
    pl = photos(in_use=lambda d: d.key in busy_keys)
    docs = pl.open(paths)
    qtbot.waitUntil(lambda: docs[0].is_ready, timeout=20000)
    docs[0].result = Result(SPEC, DisplayImage.blank(4, 4))  # a run under way
    busy_keys.add(docs[1].key)
    for doc in docs[1:]:
        with qtbot.waitSignal(pl.loaded, timeout=20000):
            pl.select(doc)
    in_memory = [d for d in docs if d.photo is not None]
    spare = [d for d in in_memory if d not in (docs[0], docs[1], pl.current)]
    assert docs[0] in in_memory and docs[1] in in_memory  # work, and in use
    assert len(spare) == FULL_PHOTOS_KEPT
    evicted = [d for d in docs if d.photo is None]
    assert evicted and all(d.state is DocState.PREVIEW for d in evicted)
    # showing an evicted photo loads it again
    with qtbot.waitSignal(pl.loaded, timeout=20000):
        pl.select(evicted[0])
    assert evicted[0].is_ready


def test_close_asks_for_unsaved_results_and_selects_a_neighbour(qtbot, photos, tmp_path):
    paths = [write_photo(tmp_path / f"p{i}.jpg", seed=i) for i in range(3)]
    answers: list[bool] = []
    running: set[int] = set()
    pl = photos(ask=lambda title, text: answers.pop(0), in_use=lambda d: d.key in running)
    seen = record(pl)
    docs = pl.open(paths)
    qtbot.waitUntil(lambda: docs[0].is_ready, timeout=20000)
    pl.select(docs[1])
    docs[1].result = Result(SPEC, DisplayImage.blank(4, 4), rgb=np.zeros((4, 4, 3), np.float32))
    assert docs[1].unsaved
    answers.append(False)
    assert not pl.close(docs[1]) and len(pl) == 3  # answered No
    running.add(docs[1].key)
    assert not pl.close(docs[1]) and "being processed" in seen["notice"][-1][0]
    running.clear()
    answers.append(True)
    removed = []
    pl.removed.connect(removed.append)
    assert pl.close(docs[1])
    assert removed == [docs[1]] and pl.current is docs[2]  # the neighbour in its place
    assert pl.close(docs[2]) and pl.current is docs[0]
    assert pl.close(docs[0]) and pl.current is None and seen["current"][-1] is None
    assert len(pl) == 0 and not answers


def test_badges_follow_the_document():
    from deconv_gui.gui.document import Document

    doc = Document(path=Path("/photos/a.jpg"))
    assert badge(doc) == ("loading", None)
    doc.state = DocState.PREVIEW
    assert badge(doc) == ("", None)
    view, rgb = DisplayImage.blank(2, 2), np.zeros((2, 2, 3), np.float32)
    doc.result = Result(SPEC, view)
    assert badge(doc, running=True)[0] == "running"
    assert badge(doc)[0] == ""  # a partial result that is not running: nothing to show
    doc.result = Result(SPEC, view, rgb)
    assert badge(doc)[0] == "done"
    doc.result = Result(SPEC, view, rgb, saved_path=Path("/out/b.jpg"))
    assert badge(doc) == ("saved", f"{doc.path}\nSaved to {Path('/out/b.jpg')}")


def test_the_status_line_says_a_photo_has_transparency(tmp_path):
    from PIL import Image

    from deconv_gui.core.io import load_image
    from deconv_gui.gui.photo_list import describe_photo

    rgba = np.zeros((12, 16, 4), np.uint8)
    rgba[..., 3] = 128
    Image.fromarray(rgba).save(tmp_path / "a.png")
    Image.fromarray(rgba[..., :3]).save(tmp_path / "b.png")
    assert describe_photo(load_image(tmp_path / "a.png")) == (
        "16 × 12  ·  8-bit PNG with transparency (kept on save)"
    )
    assert describe_photo(load_image(tmp_path / "b.png")) == "16 × 12  ·  8-bit PNG"
