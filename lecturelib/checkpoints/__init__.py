"""The package's own small checkpoints: stored in this folder, verified by SHA-256 at load.

``MANIFEST.json`` lists each checkpoint with its file, size, hash, training time and the exact
command that rebuilds it (deterministically, from a seed). Nothing is ever downloaded: a missing,
altered or unreadable file, or a manifest that cannot be read, is a :class:`CheckpointError`
that names the file and the command to run.

Every model of the course is stored the same way, ``{"state_dict": ..., "meta": summary}``
under its CLI name: :func:`save_weights` after training, :func:`load_weights` to use it.

**What the hash covers** (:func:`content_sha256`). Not the bytes of the ``.pt`` file but what it
holds: every tensor of the state dict (name, dtype, shape, raw bytes) and the training summary
``meta``, in a canonical form (keys sorted, floats written exactly), *leaving out the timing* —
every ``meta`` key called ``seconds`` or ending in ``_seconds``, at any depth. So a rebuild with
the same versions on the same kind of machine gives the same hash, although its wall-clock time
differs (and whatever torch's file format does with the zip around it). The timing still travels
in the file's ``meta`` (the lessons print it) and is copied into the manifest entry as
``seconds``, where the README points for measured training times. Entries hashed this way say
``"sha256_of": "content"``; manifests of before (a hash of the file's bytes) are converted by
``python -m lecturelib.checkpoints.migrate``, which re-hashes files whose old hash still holds.

**Writing is atomic for the pair (weights, manifest entry)**. :func:`save_checkpoint`:

0. reads and checks the manifest *before anything is written*: a broken one stops here;
1. writes the new ``.pt`` to a temporary file beside the old one (``.NAME.xxxx.pt``, fsync'd)
   and loads it back to check it is a checkpoint with the expected hash;
2. switches: replaces the manifest (written to a temporary file, then renamed) by one whose
   entry has the new hash and names the temporary file as ``staged``; this rename is the
   commit — before it the old pair is untouched, after it the new pair loads;
3. renames the staged file over ``NAME.pt``;
4. rewrites the manifest without ``staged``.

The loader tries ``staged`` first, then ``file``, and accepts only a file whose content hash is
the entry's, so an interruption at any step leaves the old pair or the new one loadable:
stopped before 2, the temporary file is removed (or, killed outright, left as ``.NAME.*.pt`` or
``.MANIFEST.json.*``, which the next save of NAME removes); stopped after 2, the entry points at
the new weights wherever they are. One writer at a time per folder (``make checkpoints`` trains
one model after the other): two saves at once could each drop the other's manifest entry.

:class:`CheckpointError` is a ``RuntimeError`` (what loading raised before it had a name of its
own), so existing ``except RuntimeError`` code keeps working.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Callable

import torch

__all__ = ["CheckpointError", "FOLDER", "MANIFEST", "checkpoint_name", "content_sha256",
           "is_timing", "load_checkpoint", "load_table", "load_weights", "manifest",
           "save_checkpoint", "save_table", "save_weights", "sha256", "train_command"]

FOLDER = Path(__file__).parent
MANIFEST = FOLDER / "MANIFEST.json"
CONTENT = "content"          # the value of an entry's "sha256_of" under this module's hashing
_NAME = re.compile(r"[A-Za-z0-9_]+")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class CheckpointError(RuntimeError):
    """A checkpoint or its manifest is missing, altered, unreadable, or was never built. The
    message names the file and the command that rebuilds it."""


# --- hashing --------------------------------------------------------------------------------

def sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (what manifests of before :data:`CONTENT` recorded)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_timing(key) -> bool:
    """Whether a ``meta`` key holds a wall-clock measurement, left out of the hash."""
    return isinstance(key, str) and (key == "seconds" or key.endswith("_seconds"))


def content_sha256(checkpoint: dict) -> str:
    """SHA-256 of ``{"state_dict", "meta"}`` in canonical form, timing left out (see above)."""
    canonical = {"state_dict": _canonical(checkpoint["state_dict"]),
                 "meta": _canonical(checkpoint.get("meta", {}), drop_timing=True)}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value, drop_timing: bool = False):
    """A JSON value that identifies ``value`` exactly: tensors by dtype, shape and a hash of
    their bytes; containers tagged, so that a list, a tuple-as-list and a dict never collide."""
    if isinstance(value, torch.Tensor):
        flat = value.detach().cpu().contiguous().reshape(-1)
        raw = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
        return ["tensor", str(value.dtype), list(value.shape), hashlib.sha256(raw).hexdigest()]
    if isinstance(value, dict):
        items = [[_canonical(k), _canonical(v, drop_timing)] for k, v in value.items()
                 if not (drop_timing and is_timing(k))]
        return ["dict", sorted(items, key=lambda kv: json.dumps(kv[0], sort_keys=True))]
    if isinstance(value, (list, tuple)):
        return ["list", [_canonical(v, drop_timing) for v in value]]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):                      # a numpy scalar
        return _canonical(value.item(), drop_timing)
    raise TypeError(f"a checkpoint cannot hold {type(value).__name__} ({value!r}): use tensors, "
                    "numbers, strings, lists and dicts")


# --- the manifest ---------------------------------------------------------------------------

def checkpoint_name(model: str, schedule: str | None = None) -> str:
    """The checkpoint of ``model`` trained with ``schedule`` (None: its default one)."""
    return model if schedule is None else f"{model}_{schedule}"


def train_command(model: str, seed: int = 0, schedule: str | None = None) -> str:
    """The command that trains ``model`` (recorded in the manifest beside its checkpoint)."""
    return (f"python -m lecturelib train {model}" + (f" --schedule {schedule}" if schedule else "")
            + (f" --seed {seed}" if seed else ""))


def _folder(folder: Path | None) -> Path:
    return FOLDER if folder is None else Path(folder)


def _manifest_path(folder: Path | None) -> Path:
    folder = _folder(folder)
    return MANIFEST if folder == FOLDER else folder / MANIFEST.name


def _rebuild_command(name: str, entry=None) -> str:
    """The command of ``name``'s manifest entry if it has one, else the one its name implies."""
    if isinstance(entry, dict) and isinstance(entry.get("command"), str):
        return entry["command"]
    try:
        from ..models import MODELS
        for model, recipe in MODELS.items():
            for schedule in (None, *recipe.schedules):
                if recipe.build and checkpoint_name(model, schedule) == name:
                    return train_command(model, 0, schedule)
    except ImportError:
        pass
    return train_command(name)


class _Lazy:
    """A command found only when an error message needs it (finding it imports the models)."""

    def __init__(self, find: Callable[[], str]):
        self.find = find

    def __str__(self) -> str:
        return self.find()


def _restore_hint(path: Path, rebuild) -> str:
    return (f"Restore the shipped manifest (e.g. `git checkout -- {path}`), or delete it and "
            f"rebuild: {rebuild}")


def manifest(folder: Path | None = None, *,
             rebuild: str | Callable[[], str] = "make checkpoints") -> dict:
    """The manifest's entries ``{name: {"file", "bytes", "sha256", "sha256_of", "command", …}}``
    (``{}`` if there is none yet), each checked for its fields and their types.

    Raises :class:`CheckpointError` naming the manifest and ``rebuild`` (the command to suggest,
    or a function that finds it) if it is not valid JSON (binary junk, a torn write) or an entry
    lacks a field or has one of the wrong type."""
    path = _manifest_path(folder)
    if callable(rebuild):
        rebuild = _Lazy(rebuild)
    if not path.exists():
        return {}
    try:
        entries = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"the checkpoint manifest {path} is not valid JSON ({exc}). "
                              + _restore_hint(path, rebuild)) from exc
    except OSError as exc:
        raise CheckpointError(f"the checkpoint manifest {path} cannot be read ({exc}). "
                              + _restore_hint(path, rebuild)) from exc
    if not isinstance(entries, dict):
        raise CheckpointError(f"the checkpoint manifest {path} holds a {type(entries).__name__}, "
                              "not an object of entries. " + _restore_hint(path, rebuild))
    for name, entry in entries.items():
        problem = _entry_problem(name, entry)
        if problem:
            raise CheckpointError(f"the checkpoint manifest {path}: entry {name!r} {problem}. "
                                  + _restore_hint(path, _rebuild_command(name, entry)))
    return entries


def _entry_problem(name: str, entry) -> str | None:
    """What is wrong with one manifest entry, or None."""
    if not _NAME.fullmatch(name):
        return "is not a checkpoint name (letters, digits and _ only)"
    if not isinstance(entry, dict):
        return f"is a {type(entry).__name__}, not an object"
    for field in ("file", "sha256", "command"):
        if field not in entry:
            return f"has no {field!r}"
        if not isinstance(entry[field], str):
            return f"has a {type(entry[field]).__name__} for {field!r}, not a string"
    for field in ("file", "staged"):
        value = entry.get(field)
        if field in entry and (not isinstance(value, str) or not value
                               or Path(value).name != value or value in (".", "..")):
            return f"has {field!r} = {value!r}, not a file name in the checkpoints folder"
    if not _HEX64.fullmatch(entry["sha256"]):
        return f"has sha256 = {entry['sha256']!r}, not 64 lower-case hex digits"
    if "bytes" in entry and (type(entry["bytes"]) is not int or entry["bytes"] < 0):
        return f"has bytes = {entry['bytes']!r}, not a size"
    if "seconds" in entry and (type(entry["seconds"]) not in (int, float)):
        return f"has seconds = {entry['seconds']!r}, not a number"
    return None


# --- loading --------------------------------------------------------------------------------

def load_checkpoint(name: str, folder: Path | None = None) -> dict:
    """The checkpoint dict saved as ``name`` (``state_dict`` + ``meta``), after checking its
    content hash against the manifest. Every failure is a :class:`CheckpointError` naming the
    file and the command that rebuilds it."""
    folder = _folder(folder)
    entries = manifest(folder, rebuild=lambda: _rebuild_command(name))
    if name not in entries:
        raise CheckpointError(f"no checkpoint named {name!r} in {_manifest_path(folder)}; known: "
                              f"{sorted(entries)}. Build it with: {_rebuild_command(name)}")
    entry = entries[name]
    command = entry["command"]
    if entry.get("sha256_of") != CONTENT:
        raise CheckpointError(
            f"the manifest entry of {folder / entry['file']} in {_manifest_path(folder)} records a "
            "hash of the file's bytes (a manifest of before the content hash): convert it with "
            f"`python -m lecturelib.checkpoints.migrate`, or rebuild it with: {command}")
    candidates = [folder / f for f in (entry.get("staged"), entry["file"]) if f]
    present = [path for path in candidates if path.exists()]
    if not present:
        raise CheckpointError(f"checkpoint file {candidates[-1]} is missing; rebuild it with: "
                              f"{command}")
    problems = []
    for path in present:
        checkpoint, problem = _read_verified(path, entry["sha256"], entry.get("bytes"))
        if problem is None:
            return checkpoint
        problems.append(f"checkpoint {path} {problem}")
    raise CheckpointError("; ".join(problems) + f". Rebuild it with: {command}")


def _read_verified(path: Path, digest: str, size: int | None = None):
    """``(checkpoint, None)`` if ``path`` holds a checkpoint whose content hash is ``digest``,
    else ``(None, what is wrong)``."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:   # torn zip, another format, junk: torch raises many kinds
        actual = path.stat().st_size
        torn = (f"; it has {actual} bytes, the manifest recorded {size}: a torn or interrupted "
                "write?" if size is not None and actual != size else "")
        why = " ".join(str(exc).split())[:120]
        return None, f"cannot be read as a checkpoint ({type(exc).__name__}: {why}){torn}"
    if not (isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict)
            and isinstance(checkpoint.get("meta", {}), dict)
            and all(isinstance(v, torch.Tensor) for v in checkpoint["state_dict"].values())):
        return None, ("is not a checkpoint (a dict with a 'state_dict' of tensors and a 'meta' "
                      "dict)")
    try:
        actual = content_sha256(checkpoint)
    except TypeError as exc:
        return None, f"is not a checkpoint ({exc})"
    if actual != digest:
        return None, (f"has content SHA-256 {actual[:12]}…, the manifest expects "
                      f"{digest[:12]}…: the file was altered or is from another build")
    return checkpoint, None


def load_weights(name: str, model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with the weights of checkpoint ``name`` (hash verified), in eval mode."""
    model.load_state_dict(load_checkpoint(name)["state_dict"])
    return model.eval()


# --- saving ---------------------------------------------------------------------------------

def save_weights(name: str, model: torch.nn.Module, meta: dict, command: str,
                 folder: Path | None = None) -> Path:
    """Store a trained model as checkpoint ``name`` with its training summary and the command
    that rebuilds it (:func:`train_command`)."""
    return save_checkpoint(name, {"state_dict": model.state_dict(), "meta": meta}, command,
                           folder)


def save_checkpoint(name: str, checkpoint: dict, command: str, folder: Path | None = None) -> Path:
    """Write ``checkpoint`` as ``NAME.pt`` and its manifest entry, as one atomic unit (the
    steps are in the module's docstring). Returns the path of the ``.pt``."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"name must be letters, digits and _ only, got {name!r}")
    folder = _folder(folder)
    manifest_path = _manifest_path(folder)
    entries = manifest(folder, rebuild=command)                               # step 0
    digest = content_sha256(checkpoint)
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    data = buffer.getvalue()
    entry = {"file": f"{name}.pt", "bytes": len(data), "sha256": digest, "sha256_of": CONTENT,
             "command": command}
    seconds = checkpoint.get("meta", {}).get("seconds")
    if type(seconds) in (int, float):
        entry["seconds"] = round(seconds, 1)
    staged = _write_temporary(folder, f".{name}.", ".pt", data)               # step 1
    try:
        _, problem = _read_verified(staged, digest, len(data))
        if problem:
            raise CheckpointError(f"the new checkpoint {staged} {problem}; nothing was replaced. "
                                  f"Run again: {command}")
        _atomic_write(manifest_path, _manifest_bytes(                         # step 2: commit
            {**entries, name: {**entry, "staged": staged.name}}))
    except BaseException:
        if not _refers_to(manifest_path, name, staged.name):
            staged.unlink(missing_ok=True)
        raise
    path = folder / entry["file"]
    os.replace(staged, path)                                                  # step 3
    _fsync_folder(folder)
    _atomic_write(manifest_path, _manifest_bytes({**entries, name: entry}))   # step 4
    for stale in [*folder.glob(f".{name}.*.pt"), *folder.glob(f".{manifest_path.name}.*")]:
        stale.unlink(missing_ok=True)                # left by a save that was killed outright
    return path


def _manifest_bytes(entries: dict) -> bytes:
    return (json.dumps(entries, indent=2, sort_keys=True) + "\n").encode()


def _refers_to(manifest_path: Path, name: str, staged: str) -> bool:
    """Whether the manifest on disk points ``name`` at ``staged`` (the commit happened). When
    in doubt, yes: a stray file is better than a lost checkpoint."""
    try:
        return json.loads(manifest_path.read_text()).get(name, {}).get("staged") == staged
    except FileNotFoundError:
        return False
    except Exception:
        return True


def save_table(path: Path, table: dict) -> Path:
    """Write a results table (an ablation's, say) as indented JSON, atomically: never a
    half-written file, even if the command is stopped while writing."""
    path = Path(path)
    _atomic_write(path, (json.dumps(table, indent=1) + "\n").encode())
    return path


def load_table(path: Path) -> dict:
    """A results table written by :func:`save_table`."""
    return json.loads(Path(path).read_text())


def _write_temporary(folder: Path, prefix: str, suffix: str, data: bytes) -> Path:
    """``data`` in a new file of this process's own in ``folder``, on disk (fsync'd)."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` at once: a temporary file beside it, then a rename."""
    tmp = _write_temporary(path.parent, f".{path.name}.", "", data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; best effort: a rename done is done)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
