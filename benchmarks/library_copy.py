"""Put a bundled model as it was at an earlier commit into the user model library, under a new
id, so that `deconv-gui bench restore --model ID --baseline NEW_ID` times the old and the
new weights side by side in one run (as README's Quality section does for the upscalers
made deeper):

    python benchmarks/library_copy.py --rev d4ddbc1 --model fsrcnn-x4 --id fsrcnn-x4-4blocks
    deconv-gui bench restore --model fsrcnn-x4 --baseline fsrcnn-x4-4blocks --megapixels 12

The copy is an ordinary library entry (a fine-tuned network's card, loader "deconv"): remove
it with ``deconv-gui models remove NEW_ID``. Set ``DECONV_GUI_HOME`` to keep it out of your
own library.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def git_blob(rev: str, path: str) -> bytes:
    """The bytes of ``path`` at ``rev`` in this repository."""
    return subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:{path}"], check=True, capture_output=True
    ).stdout


def main(argv: list[str] | None = None) -> int:
    from deconv_gui import paths
    from deconv_gui.models.imported import is_valid_id, read_card

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rev", required=True, help="git commit, tag or branch")
    ap.add_argument("--model", required=True, help="bundled model id")
    ap.add_argument("--id", required=True, help="the copy's id in the library")
    a = ap.parse_args(argv)
    if not is_valid_id(a.id):
        ap.error(f"invalid id {a.id!r}")
    try:
        card = json.loads(git_blob(a.rev, f"resources/models/{a.model}.json"))
        weights = git_blob(a.rev, f"resources/models/{a.model}.safetensors")
    except subprocess.CalledProcessError as e:
        print(f"error: {e.stderr.decode(errors='replace').strip()}", file=sys.stderr)
        return 1
    folder = paths.user_models_dir() / a.id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_bytes(weights)
    card.pop("retired", None)
    card.update(
        id=a.id,
        name=f"{card.get('name', a.model)} ({a.rev})",
        kind="finetuned",
        loader="deconv",
        file="model.safetensors",
        size_bytes=len(weights),
        sha256=hashlib.sha256(weights).hexdigest(),
    )
    (folder / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    read_card(folder)  # the library accepts it (raises ModelError otherwise)
    print(f"{a.model} at {a.rev} -> {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
