"""Checkpoints as one atomic unit (weights, manifest entry): interrupted at every step of a write,
killed at every step, a manifest or file corrupted every way we know — the old pair or the new
one loads, never neither, and every failure is a CheckpointError naming the file and the
command that rebuilds it. Also: the content hash leaves timing out (a rebuild gives the same
hash), and the migration from manifests of file hashes. All on copies in tmp_path."""
import json
import os
import tempfile

import pytest
import torch

from lecturelib import checkpoints
from lecturelib.checkpoints import CheckpointError
from lecturelib.checkpoints.migrate import main as migrate_main
from lecturelib.checkpoints.migrate import migrate_manifest

COMMAND = "python -m lecturelib train toy"


def toy(value: float, seconds: float = 1.0) -> dict:
    """A small checkpoint whose weights are all ``value``."""
    return {"state_dict": {"w": torch.full((3, 2), value), "b": torch.full((2,), value)},
            "meta": {"loss": value, "seconds": seconds, "steps": {"a": {"fit_seconds": 2.0}}}}


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A checkpoints folder of its own (the package's folder is never touched), holding ``toy``
    (weights 1.0) and ``other``."""
    live = tmp_path / "live"
    live.mkdir()
    monkeypatch.setattr(checkpoints, "FOLDER", live)
    monkeypatch.setattr(checkpoints, "MANIFEST", live / "MANIFEST.json")
    checkpoints.save_checkpoint("toy", toy(1.0), COMMAND)
    checkpoints.save_checkpoint("other", toy(5.0), "python -m lecturelib train other")
    return live


def weights_of(name="toy", folder=None) -> float:
    return float(checkpoints.load_checkpoint(name, folder)["state_dict"]["w"][0, 0])


def hidden_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


class Faults:
    """Counts the calls of every step a save makes on disk (temporary file, write, fsync,
    chmod, rename, torch's serialisation) and calls ``at(k)`` just before the k-th."""

    STEPS = [(os, "replace"), (os, "fsync"), (os, "chmod"), (os, "fdopen"), (os, "open"),
             (tempfile, "mkstemp"), (torch, "save"), (torch, "load")]

    def __init__(self, monkeypatch, at):
        self.calls, self.at, self.busy = 0, at, False
        for module, name in self.STEPS:
            monkeypatch.setattr(module, name, self._wrap(getattr(module, name)))

    def _wrap(self, original):
        def step(*args, **kwargs):
            if not self.busy:
                self.calls += 1
                self.busy = True
                try:
                    self.at(self.calls)
                finally:
                    self.busy = False
            return original(*args, **kwargs)
        return step


def test_a_save_interrupted_at_every_step_leaves_the_old_or_the_new_pair(folder, monkeypatch):
    outcomes, k = [], 0
    while True:
        k += 1
        reached = []
        with monkeypatch.context() as m:
            def fail(call, k=k):
                if call == k:
                    reached.append(k)
                    raise OSError(f"injected failure at step {k}")
            faults = Faults(m, fail)
            try:
                checkpoints.save_checkpoint("toy", toy(2.0), COMMAND)
            except (OSError, CheckpointError) as exc:   # CheckpointError: the new file unreadable
                assert f"step {k}" in str(exc)
        loaded = weights_of()                         # never neither
        assert loaded in (1.0, 2.0), f"interrupted at step {k}: weights {loaded}"
        assert weights_of("other") == 5.0
        staged = checkpoints.manifest()["toy"].get("staged")
        assert set(hidden_files(folder)) <= {staged}, f"step {k}: stray {hidden_files(folder)}"
        outcomes.append(loaded)
        if not reached:                                # the save ran past its last step
            break
        checkpoints.save_checkpoint("toy", toy(1.0), COMMAND)    # back to the old pair
    assert faults.calls >= 10 and k == faults.calls + 1, "every step was interrupted once"
    assert 1.0 in outcomes and 2.0 in outcomes[:-1], "some steps keep the old, some the new"
    assert hidden_files(folder) == [] and "staged" not in checkpoints.manifest()["toy"]


def test_a_save_killed_at_any_point_leaves_the_old_or_the_new_pair(folder, monkeypatch, tmp_path):
    # a copy of the folder as it is on disk before every step: what a kill there would leave
    snapshots = []

    def snapshot(call):
        copy = tmp_path / f"killed_before_step_{call}"
        copy.mkdir()
        for path in folder.iterdir():
            (copy / path.name).write_bytes(path.read_bytes())
        snapshots.append(copy)
    with monkeypatch.context() as m:
        Faults(m, snapshot)
        checkpoints.save_checkpoint("toy", toy(2.0), COMMAND)
    assert len(snapshots) >= 10
    seen = []
    for copy in snapshots:
        seen.append(weights_of("toy", copy))
        assert seen[-1] in (1.0, 2.0) and weights_of("other", copy) == 5.0, copy.name
    assert seen[0] == 1.0 and seen[-1] == 2.0
    # the next save over a killed one recovers and leaves nothing behind
    for copy in snapshots:
        checkpoints.save_checkpoint("toy", toy(3.0), COMMAND, folder=copy)
        assert weights_of("toy", copy) == 3.0 and hidden_files(copy) == [], copy.name


def entry_with(**changes) -> dict:
    entry = {"file": "toy.pt", "bytes": 10, "sha256": "0" * 64, "sha256_of": "content",
             "command": COMMAND}
    entry.update(changes)
    return {"toy": {k: v for k, v in entry.items() if v is not None}}


CORRUPT_MANIFESTS = {
    "invalid JSON": b'{"toy": {"file": "toy.pt", "sha',
    "binary junk": bytes(range(256)) * 3,
    "empty": b"",
    "a list": b"[1, 2]",
    "entry not an object": json.dumps({"toy": "toy.pt"}).encode(),
    "no sha256": json.dumps(entry_with(sha256=None)).encode(),
    "no command": json.dumps(entry_with(command=None)).encode(),
    "no file": json.dumps(entry_with(file=None)).encode(),
    "sha256 a number": json.dumps(entry_with(sha256=123)).encode(),
    "sha256 not hex": json.dumps(entry_with(sha256="xyz")).encode(),
    "command a list": json.dumps(entry_with(command=["python"])).encode(),
    "file outside the folder": json.dumps(entry_with(file="../toy.pt")).encode(),
    "bytes a string": json.dumps(entry_with(bytes="10")).encode(),
}


@pytest.mark.parametrize("variant", CORRUPT_MANIFESTS)
def test_a_corrupt_manifest_is_named_and_nothing_is_replaced(folder, variant):
    manifest = folder / "MANIFEST.json"
    before = (folder / "toy.pt").read_bytes()
    manifest.write_bytes(CORRUPT_MANIFESTS[variant])
    with pytest.raises(CheckpointError) as error:
        checkpoints.load_checkpoint("toy")
    assert str(manifest) in str(error.value) and COMMAND in str(error.value), str(error.value)
    # train's save stops before anything is written: the old .pt is untouched
    with pytest.raises(CheckpointError, match="MANIFEST.json"):
        checkpoints.save_checkpoint("toy", toy(2.0), COMMAND)
    assert (folder / "toy.pt").read_bytes() == before and hidden_files(folder) == []
    assert manifest.read_bytes() == CORRUPT_MANIFESTS[variant]


def test_broken_checkpoint_files_are_named_with_the_command(folder):
    path = folder / "toy.pt"
    good = path.read_bytes()
    manifest = json.loads((folder / "MANIFEST.json").read_text())

    def expect(match):
        with pytest.raises(CheckpointError, match=match) as error:
            checkpoints.load_checkpoint("toy")
        assert str(path) in str(error.value) and COMMAND in str(error.value), str(error.value)
    path.write_bytes(good[:len(good) // 2])                              # a torn write
    expect("cannot be read as a checkpoint.*torn")
    # a file whose hash the manifest records but that is no checkpoint (was `KeyError: 101`)
    path.write_text('{"not": "a checkpoint"}')
    entry = {**manifest["toy"], "sha256": checkpoints.sha256(path), "bytes": path.stat().st_size}
    (folder / "MANIFEST.json").write_text(json.dumps({**manifest, "toy": entry}))
    expect("cannot be read as a checkpoint")
    torch.save({"weights": torch.ones(2)}, path)                        # torch's, but no checkpoint
    expect("is not a checkpoint")
    (folder / "MANIFEST.json").write_text(json.dumps(manifest))
    path.write_bytes(good)
    other = toy(1.5)
    torch.save(other, path)                                             # a checkpoint, altered
    expect("content SHA-256")
    path.unlink()
    expect("missing")


def test_the_hash_leaves_timing_out_and_covers_the_rest():
    base = checkpoints.content_sha256(toy(1.0, seconds=1.0))
    assert checkpoints.content_sha256(toy(1.0, seconds=99.0)) == base
    slower = toy(1.0)
    slower["meta"]["steps"]["a"]["fit_seconds"] = 7.0
    assert checkpoints.content_sha256(slower) == base
    changed = toy(1.0)
    changed["meta"]["loss"] = 1.0000001
    assert checkpoints.content_sha256(changed) != base
    changed = toy(1.0)
    changed["state_dict"]["b"] = changed["state_dict"]["b"].double()
    assert checkpoints.content_sha256(changed) != base
    changed = toy(1.0)
    changed["meta"]["steps"] = [["a", {"fit_seconds": 2.0}]]            # a list is not a dict
    assert checkpoints.content_sha256(changed) != base


@pytest.mark.usefixtures("one_thread")
def test_training_the_backbone_twice_gives_the_same_hash(tmp_path):
    # a reduced schedule (seconds, not minutes); the manifest's hash ignores the wall clock
    from lecturelib.models.backbone import pretrain
    digests, seconds = [], []
    for run in ("first", "second"):
        model, summary = pretrain(num_images=6, epochs=2, batch_size=8, heldout_images=2,
                                  progress=False)
        (tmp_path / run).mkdir()
        checkpoints.save_weights("backbone", model, summary, "python -m lecturelib train "
                                 "backbone", folder=tmp_path / run)
        entry = checkpoints.manifest(tmp_path / run)["backbone"]
        digests.append(entry["sha256"])
        seconds.append(entry["seconds"])
        loaded = checkpoints.load_checkpoint("backbone", tmp_path / run)
        assert loaded["meta"]["seconds"] == summary["seconds"], "the time is kept for lessons"
    assert digests[0] == digests[1]
    assert all(s > 0 for s in seconds)


def test_migration_rehashes_verified_files_and_nothing_else(folder):
    manifest = folder / "MANIFEST.json"
    before = (folder / "toy.pt").read_bytes()
    entries = json.loads(manifest.read_text())
    legacy = {name: {"file": e["file"], "bytes": e["bytes"], "command": e["command"],
                     "sha256": checkpoints.sha256(folder / e["file"])}
              for name, e in entries.items()}
    manifest.write_text(json.dumps(legacy))
    with pytest.raises(CheckpointError, match="checkpoints.migrate"):
        checkpoints.load_checkpoint("toy")
    # an altered file is never blessed with a new hash, and nothing is written
    (folder / "other.pt").write_bytes((folder / "other.pt").read_bytes() + b"x")
    with pytest.raises(CheckpointError, match="other.pt"):
        migrate_manifest()
    assert json.loads(manifest.read_text()) == legacy
    (folder / "other.pt").write_bytes((folder / "other.pt").read_bytes()[:-1])
    assert sorted(migrate_manifest()) == ["other", "toy"]
    assert json.loads(manifest.read_text()) == entries     # what a save today would write
    assert weights_of() == 1.0 and (folder / "toy.pt").read_bytes() == before
    assert migrate_manifest() == []
    assert migrate_main(["--folder", str(folder)]) == 0


def test_the_shipped_manifest_hashes_content():
    for name, entry in checkpoints.manifest().items():
        assert entry["sha256_of"] == "content" and entry["seconds"] > 0, name
