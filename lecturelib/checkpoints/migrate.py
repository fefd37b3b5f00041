"""Convert a manifest of before the content hash: ``python -m lecturelib.checkpoints.migrate``.

Manifests written before :func:`lecturelib.checkpoints.content_sha256` recorded the SHA-256 of
each ``.pt`` file's bytes, and those bytes hold the training's wall-clock seconds, so no rebuild
could ever match them. This rewrites each such entry with the content hash (weights and meta,
timing left out) and the training time as ``seconds``, *without touching the ``.pt`` files*
(the shipped weights stay bit-identical). An entry is converted only if its file still has the
recorded file hash — a file altered since is never blessed with a new hash — and the manifest
is replaced in one rename, so a stopped migration changes nothing. Entries already converted are
left as they are; running it twice is harmless.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from . import (CONTENT, CheckpointError, _atomic_write, _folder, _manifest_bytes,
               _manifest_path, content_sha256, manifest, sha256)


def migrate_manifest(folder: Path | None = None) -> list[str]:
    """Re-hash the manifest of ``folder`` (default: the package's) by content; returns the
    names of the entries converted. Raises :class:`CheckpointError` (and writes nothing) if a
    file to convert is missing or no longer has the hash its entry recorded."""
    folder = _folder(folder)
    entries = manifest(folder)
    converted = []
    for name, entry in entries.items():
        if entry.get("sha256_of") == CONTENT:
            continue
        path = folder / entry["file"]
        if not path.exists():
            raise CheckpointError(f"checkpoint file {path} is missing; rebuild it with: "
                                  f"{entry['command']}")
        if sha256(path) != entry["sha256"]:
            raise CheckpointError(f"checkpoint {path} no longer has the SHA-256 its manifest entry "
                                  f"recorded, so it is not converted; rebuild it with: "
                                  f"{entry['command']}")
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        entry.update(sha256=content_sha256(checkpoint), sha256_of=CONTENT)
        seconds = checkpoint.get("meta", {}).get("seconds")
        if type(seconds) in (int, float):
            entry["seconds"] = round(seconds, 1)
        converted.append(name)
    if converted:
        _atomic_write(_manifest_path(folder), _manifest_bytes(entries))
    return converted


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lecturelib.checkpoints.migrate",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--folder", type=Path, default=None,
                        help="a folder of checkpoints with its MANIFEST.json (default: the "
                             "package's own)")
    args = parser.parse_args(argv)
    try:
        converted = migrate_manifest(args.folder)
    except CheckpointError as exc:
        parser.exit(1, f"{parser.prog}: error: {exc}\n")
    print(f"converted {len(converted)} entr{'y' if len(converted) == 1 else 'ies'}: "
          f"{', '.join(converted) or 'none needed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
