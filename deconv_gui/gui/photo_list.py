"""`PhotoList`: the open photos, which one is shown, and loading them off the GUI thread.

Opening a photo adds a `Document` at once; a thumbnail and a quick preview load in the
background (`_previews`), and the full photo loads when the photo is shown (`_full`, the
latest request wins). Only a few full-size photos that hold no work stay in memory besides
the shown one (`FULL_PHOTOS_KEPT`); the others go back to their thumbnail and load again
when shown. The list owns no widget: the window follows its signals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal

from deconv_gui.core.image import Photo
from deconv_gui.core.io import READ_EXTENSIONS, load_image, load_preview
from deconv_gui.gui.display import DisplayImage, display_colour, over_checker, to_rgb8
from deconv_gui.gui.document import DocState, Document
from deconv_gui.gui.filmstrip import THUMB, thumbnail_image
from deconv_gui.gui.preferences import Preferences
from deconv_gui.gui.runner import TaskQueue
from deconv_gui.logs import WarningCollector, as_sentences

FULL_PHOTOS_KEPT = 2  # full-size photos kept in memory besides the shown one (no work in them)
PREVIEW_SIDE = 1024


def image_filter() -> str:
    """The file dialogs' filter for photos."""
    exts = " ".join(f"*{e}" for e in sorted(READ_EXTENSIONS))
    return f"Images ({exts});;All files (*)"


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders replaced by the images they hold (sorted, not recursive;
    `deconv_gui.core.inputs.expand_inputs`, which leaves special files out)."""
    from deconv_gui.core.inputs import expand_inputs

    found = expand_inputs([Path(p).expanduser() for p in paths])
    return [*found.paths, *found.missing]


def describe_photo(photo: Photo) -> str:
    """Size, bit depth, format and the metadata it carries, for the status bar."""
    m = photo.meta
    parts = [f"{photo.width} × {photo.height}", f"{m.bit_depth}-bit {m.format}"]
    if m.alpha is not None:  # shown over a checkerboard; results keep it when saved
        parts[-1] += " with transparency (kept on save)"
    extras = [x for x, present in (("ICC", m.icc_profile), ("EXIF", m.exif)) if present]
    if extras:
        parts.append(" ".join(extras))
    return "  ·  ".join(parts)


def describe_document(doc: Document) -> str:
    """The shown photo in the status bar: its size and format, what it is compared with,
    the size of its result."""
    if doc.photo is None:
        return doc.name
    text = describe_photo(doc.photo)
    if doc.comparison.lq is not None:
        text = f"Simulated {doc.simulation}  ·  {text}"
    if doc.result is not None and doc.result.rgb is not None:
        h, w = doc.result.rgb.shape[:2]
        text += f"  →  {w} × {h}"
    return text


def badge(doc: Document, *, running: bool = False) -> tuple[str, str | None]:
    """The filmstrip badge of `doc` (a `filmstrip.BADGES` key or "") and its tooltip (None:
    leave the tooltip as it is)."""
    r = doc.result
    if doc.state is DocState.ERROR:
        return "error", f"{doc.path}\n{doc.error}"
    if running:
        state = "running"
    elif r is not None and not r.partial:
        state = "saved" if r.saved_path is not None else "done"
    else:
        state = "loading" if doc.state is DocState.LOADING else ""
    if r is not None and r.saved_path is not None:
        return state, f"{doc.path}\nSaved to {r.saved_path}"
    if doc.photo is not None:
        return state, f"{doc.path}\n{describe_photo(doc.photo)}"
    return state, None


#: side (thumbnail pixels) of the checkerboard squares behind a transparent photo's thumbnail
THUMB_CHECKER = 6


def _thumb8(rgb: np.ndarray) -> np.ndarray:
    """A thumbnail (twice `THUMB`, for sharp high-DPI screens) of RGB or RGBA ``rgb``; an
    RGBA picture is shown over a checkerboard, as the viewer shows it."""
    h, w = rgb.shape[:2]
    s = min(THUMB.width() * 2 / w, THUMB.height() * 2 / h, 1.0)
    small = cv2.resize(
        rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
    )
    if small.ndim == 3 and small.shape[2] == 4:
        small = over_checker(small[..., :3], small[..., 3], THUMB_CHECKER)
    return to_rgb8(small)


def _preview(path: Path) -> tuple[DisplayImage, np.ndarray]:
    preview = load_preview(path, max_side=PREVIEW_SIDE, alpha=True)
    return DisplayImage.from_rgb(np.ascontiguousarray(preview[..., :3])), _thumb8(preview)


class PhotoList(QObject):
    """The open photos in the order they were opened, and the one shown (``current``).

    ``ask(title, text) -> bool`` answers questions (closing an unsaved result);
    ``in_use(doc) -> bool`` tells a photo being processed (never closed nor evicted).

    Signals: ``added(doc)``, ``removed(doc)``, ``current_changed(doc | None)``,
    ``thumbnail_ready(doc, QImage)``, ``previewed(doc)`` (thumbnail and preview are in),
    ``loaded(doc)`` (the full photo is in), ``failed(doc)`` (it could not be read),
    ``notice(text, kind, timeout_ms)`` for the message bar.
    """

    added = Signal(object)
    removed = Signal(object)
    current_changed = Signal(object)
    thumbnail_ready = Signal(object, object)
    previewed = Signal(object)
    loaded = Signal(object)
    failed = Signal(object)
    notice = Signal(str, str, int)

    def __init__(
        self,
        prefs: Preferences,
        parent: QObject | None = None,
        *,
        ask: Callable[[str, str], bool] = lambda *_: True,
        in_use: Callable[[Document], bool] = lambda _doc: False,
    ) -> None:
        super().__init__(parent)
        self._prefs = prefs
        self._ask = ask
        self._in_use = in_use
        self._docs: dict[int, Document] = {}
        self._current: Document | None = None
        self._loaded_order: list[Document] = []  # full photos in memory, oldest first
        self._full_requested: set[int] = set()
        self._previews = TaskQueue(self)  # thumbnails and previews
        self._full = TaskQueue(self)  # the full photo that is shown

    # ------------------------------------------------------------------ reading
    @property
    def documents(self) -> Mapping[int, Document]:
        return MappingProxyType(self._docs)

    @property
    def current(self) -> Document | None:
        return self._current

    def get(self, key: object) -> Document | None:
        return self._docs.get(key) if isinstance(key, int) else None

    def __iter__(self) -> Iterator[Document]:
        return iter(list(self._docs.values()))

    def __len__(self) -> int:
        return len(self._docs)

    def paths(self) -> list[Path]:
        return [d.path for d in self._docs.values()]

    # ------------------------------------------------------------------ opening
    def expand(self, paths: Iterable[str | Path]) -> list[Path]:
        """The photos that `paths` (files and folders) stand for: the one folder lister."""
        return expand_paths(paths)

    def open(self, paths: Iterable[str | Path]) -> list[Document]:
        """Open photos (folders are expanded) and show the first; returns the new documents.

        A photo already open is not opened twice (it is shown instead)."""
        raw = list(paths)
        missing = [p for p in raw if not Path(p).expanduser().exists()]
        if missing:
            for p in missing:
                self._prefs.remove_recent(p)
            names = ", ".join(Path(p).name for p in missing[:3]) + ("…" if len(missing) > 3 else "")
            self.notice.emit(f"Not found (moved or deleted?): {names}", "error", 0)
            raw = [p for p in raw if p not in missing]
            if not raw:
                return []
        files = self.expand(raw)
        if not files:
            if raw:
                self.notice.emit("No photos found in " + ", ".join(str(p) for p in raw), "error", 0)
            return []
        new: list[Document] = []
        first: Document | None = None
        already_open = {d.path: d for d in self._docs.values()}
        for path in files:
            existing = already_open.get(path)
            if existing is not None:
                first = first or existing
                continue
            doc = Document(path=path)
            self._docs[doc.key] = doc
            already_open[path] = doc
            self.added.emit(doc)
            if first is not None:
                self._queue_preview(doc)  # the first one shown gets the full load at once
            new.append(doc)
            first = first or doc
        for item in reversed(raw):  # what was asked for (a folder stays one entry)
            if Path(item).exists():
                self._prefs.add_recent(item)
        if first is not None:
            self.select(first)
        return new

    def select(self, doc: Document) -> None:
        """Show `doc`: its full photo starts loading if it is not in memory."""
        if doc.key not in self._docs:
            return
        self._current = doc
        self._request_full(doc)
        self.current_changed.emit(doc)

    def close(self, doc: Document | None) -> bool:
        """Close a photo (asking first when its result is not saved); True when closed."""
        if doc is None or doc.key not in self._docs:
            return False
        if self._in_use(doc):
            self.notice.emit("This photo is being processed: cancel first (Esc).", "warning", 0)
            return False
        if doc.unsaved and not self._ask(
            "Close photo", f"The result for {doc.name} is not saved. Close it anyway?"
        ):
            return False
        keys = list(self._docs)
        idx = keys.index(doc.key)
        del self._docs[doc.key]
        self._loaded_order = [d for d in self._loaded_order if d is not doc]
        self.removed.emit(doc)  # the filmstrip may select a neighbour while handling it
        if doc is self._current:
            self._current = None
            rest = list(self._docs.values())
            if rest:
                self.select(rest[min(max(idx, 0), len(rest) - 1)])
            else:
                self.current_changed.emit(None)
        return True

    def shutdown(self) -> None:
        for q in (self._previews, self._full):
            q.shutdown()

    # ------------------------------------------------------------------ loading
    def _queue_preview(self, doc: Document) -> None:
        """Thumbnail and quick preview of a photo (the full image loads when it is shown)."""
        path = doc.path
        self._previews.submit(
            lambda: _preview(path),
            on_result=lambda value: self._on_preview_loaded(doc, value),
            on_error=lambda msg, _details: self._on_failed(doc, msg),
        )

    def _request_full(self, doc: Document) -> None:
        """Load the full photo of `doc` (the latest request wins; earlier ones are dropped)."""
        if doc.photo is not None or doc.state is DocState.ERROR or doc.key in self._full_requested:
            return
        self._full_requested.add(doc.key)
        path, want_preview = doc.path, doc.preview is None

        def job():
            if want_preview:
                yield _preview(path)
            with WarningCollector() as said:  # e.g. only an animation's first frame is read
                photo = load_image(path)
            view = DisplayImage.from_rgb(photo.rgb, display_colour(photo.meta.icc_profile))
            return photo, view, DisplayImage.transparency(photo.meta.alpha), tuple(said)

        self._full.submit(
            job,
            key="full",
            on_progress=lambda item: self._on_preview_loaded(doc, item),
            on_result=lambda value: self._on_full_loaded(doc, value),
            on_error=lambda msg, _details: self._on_failed(doc, msg),
            on_cancel=lambda: self._full_requested.discard(doc.key),
        )

    def _on_preview_loaded(self, doc: Document, value: tuple[DisplayImage, np.ndarray]) -> None:
        if doc.key not in self._docs:
            return
        preview, thumb = value
        # keep the preview only while it stands in for the full photo on screen; a folder of
        # hundreds of photos then costs a thumbnail each
        doc.preview = preview if doc is self._current and doc.photo is None else None
        if doc.state is DocState.LOADING:
            doc.state = DocState.PREVIEW
        self.thumbnail_ready.emit(doc, thumbnail_image(thumb))
        self.previewed.emit(doc)

    def _on_full_loaded(
        self,
        doc: Document,
        value: tuple[Photo, DisplayImage, DisplayImage | None, tuple[str, ...]],
    ) -> None:
        self._full_requested.discard(doc.key)
        if doc.key not in self._docs:
            return
        doc.photo, doc.photo_view, doc.alpha_view, said = value
        if said and said != doc.load_warnings:  # said once, not at every reload
            self.notice.emit(as_sentences(said), "warning", 0)
        doc.load_warnings = said
        doc.state, doc.error = DocState.READY, ""
        doc.preview = None  # the full photo replaces it
        self._loaded_order = [d for d in self._loaded_order if d is not doc] + [doc]
        self._unload_spare_photos()
        self.loaded.emit(doc)

    def _unload_spare_photos(self) -> None:
        """Keep at most `FULL_PHOTOS_KEPT` full photos that hold no work, besides the shown one.

        A photo with a result, a reference or a simulation, or one being processed, stays.
        """
        spare = [
            d
            for d in self._loaded_order
            if d is not self._current
            and not self._in_use(d)
            and not d.has_work
            and d.photo is not None
        ]
        for d in spare[: max(0, len(spare) - FULL_PHOTOS_KEPT)]:
            d.photo = d.photo_view = d.alpha_view = d.preview = None
            d.target = None
            d.state = DocState.PREVIEW  # the thumbnail stays; selecting it loads the photo again
            self._loaded_order.remove(d)

    def _on_failed(self, doc: Document, message: str) -> None:
        self._full_requested.discard(doc.key)
        if doc.key not in self._docs:
            return
        doc.state, doc.error = DocState.ERROR, message
        # the core's messages name the file already ("Cannot read x.jpg: ...")
        text = message if doc.name in message else f"Could not open {doc.name}: {message}"
        self.notice.emit(text, "error", 0)
        self.failed.emit(doc)
