"""Put a bundled model as it was at an earlier commit into the user model library, under a new
id, so that `deconv-gui bench restore --model ID --baseline NEW_ID` times the old and the
new weights side by side in one run (as README's Quality section does for the upscalers
made deeper):

    python benchmarks/library_copy.py --rev d4ddbc1 --model fsrcnn-x4 --name fsrcnn-x4-4blocks
    deconv-gui bench restore --model fsrcnn-x4 --baseline fsrcnn-x4-4blocks --megapixels 12

The copy is an ordinary library entry (a fine-tuned network's card, loader "deconv"), written
as the fine-tune panel writes one (`models.library.add_model`: atomic, with an id made from
the name that no other model has; the script prints it): remove it with ``deconv-gui models
remove NEW_ID``. Set ``DECONV_GUI_HOME`` to keep it out of your
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
    from deconv_gui.errors import DeconvError
    from deconv_gui.models.library import add_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rev", required=True, help="git commit, tag or branch")
    ap.add_argument("--model", required=True, help="bundled model id")
    ap.add_argument(
        "--name", required=True, help="the copy's name; its id is made from it (printed)"
    )
    a = ap.parse_args(argv)
    try:
        card = json.loads(git_blob(a.rev, f"resources/models/{a.model}.json"))
        weights = git_blob(a.rev, f"resources/models/{a.model}.safetensors")
    except subprocess.CalledProcessError as e:
        print(f"error: {e.stderr.decode(errors='replace').strip()}", file=sys.stderr)
        return 1
    card.pop("retired", None)
    card.pop("id", None)

    def write_files(folder: Path) -> dict[str, object]:
        (folder / "model.safetensors").write_bytes(weights)
        return {
            **card,
            "name": a.name,
            "kind": "finetuned",
            "loader": "deconv",
            "file": "model.safetensors",
            "size_bytes": len(weights),
            "sha256": hashlib.sha256(weights).hexdigest(),
        }

    try:
        folder = add_model(a.name, write_files)  # atomic, with an id no other model has
    except DeconvError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{a.model} at {a.rev} -> library model id {folder.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
