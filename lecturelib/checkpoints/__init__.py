"""The package's own small checkpoints: stored in this folder, verified by SHA-256 at load.

``MANIFEST.json`` lists each checkpoint with its file, size, hash and the exact command that
rebuilds it (deterministically, from a seed). Nothing is ever downloaded: a missing file or a
hash mismatch is an error that names the command to run.

Every model of the course is stored the same way, ``{"state_dict": ..., "meta": summary}``
under its CLI name: :func:`save_weights` after training, :func:`load_weights` to use it.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

import torch

FOLDER = Path(__file__).parent
MANIFEST = FOLDER / "MANIFEST.json"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, altered, or was never built."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest() -> dict:
    return json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}


def load_checkpoint(name: str, folder: Path | None = None) -> dict:
    """The checkpoint dict saved as ``name`` (``state_dict`` + ``meta``), after checking its hash."""
    entries = manifest()
    if name not in entries:
        raise CheckpointError(f"no checkpoint named {name!r}; known: {sorted(entries)}. "
                              f"Build it with: python -m lecturelib train {name}")
    entry = entries[name]
    path = (folder or FOLDER) / entry["file"]
    if not path.exists():
        raise CheckpointError(f"checkpoint file {path} is missing; rebuild it with: "
                              f"{entry['command']}")
    digest = sha256(path)
    if digest != entry["sha256"]:
        raise CheckpointError(f"checkpoint {path} has SHA-256 {digest[:12]}…, the manifest expects "
                              f"{entry['sha256'][:12]}…: the file was altered or is from another "
                              f"build. Rebuild it with: {entry['command']}")
    return torch.load(path, map_location="cpu", weights_only=True)


def checkpoint_name(model: str, schedule: str | None = None) -> str:
    """The checkpoint of ``model`` trained with ``schedule`` (None: its default one)."""
    return model if schedule is None else f"{model}_{schedule}"


def train_command(model: str, seed: int = 0, schedule: str | None = None) -> str:
    """The command that trains ``model`` (recorded in the manifest beside its checkpoint)."""
    return (f"python -m lecturelib train {model}" + (f" --schedule {schedule}" if schedule else "")
            + (f" --seed {seed}" if seed else ""))


def save_weights(name: str, model: torch.nn.Module, meta: dict, command: str,
                 folder: Path | None = None) -> Path:
    """Store a trained model as checkpoint ``name`` with its training summary and the command
    that rebuilds it (:func:`train_command`)."""
    return save_checkpoint(name, {"state_dict": model.state_dict(), "meta": meta}, command,
                           folder)


def load_weights(name: str, model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with the weights of checkpoint ``name`` (hash verified), in eval mode."""
    model.load_state_dict(load_checkpoint(name)["state_dict"])
    return model.eval()


def save_checkpoint(name: str, checkpoint: dict, command: str, folder: Path | None = None) -> Path:
    """Write ``checkpoint`` atomically (temporary file + rename) and record it in the manifest."""
    folder = folder or FOLDER
    path = folder / f"{name}.pt"
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    _atomic_write(path, buffer.getvalue())
    entries = manifest() if folder == FOLDER else {}
    entries[name] = {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256(path),
                     "command": command}
    if folder == FOLDER:
        _atomic_write(MANIFEST, (json.dumps(entries, indent=2, sort_keys=True) + "\n").encode())
    return path


def save_table(path: Path, table: dict) -> Path:
    """Write a results table (an ablation's, say) as indented JSON, atomically: never a
    half-written file, even if the command is stopped while writing."""
    path = Path(path)
    _atomic_write(path, (json.dumps(table, indent=1) + "\n").encode())
    return path


def load_table(path: Path) -> dict:
    """A results table written by :func:`save_table`."""
    return json.loads(Path(path).read_text())


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
