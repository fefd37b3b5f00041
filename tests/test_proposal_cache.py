"""The proposal cache checks what it reads: a good file is reused without computing anything;
a truncated, altered, junk or checksum-less one is never used — a warning names it and the
proposals are computed again (the issue's reproducer: a tampered file took R-CNN's AP from
0.684 to 0.035 without a word)."""
import warnings

import numpy as np
import pytest

from lecturelib.data import SyntheticShapes
from lecturelib.models import proposals


@pytest.fixture
def searches(tmp_path, monkeypatch):
    """A cache folder of its own and a stand-in for selective search (instant, a few boxes that
    depend on the image) that counts its calls."""
    import lecturelib.selective_search
    monkeypatch.setenv("LECTURELIB_CACHE", str(tmp_path))
    calls = []

    def search(image, mode, min_box_size):
        calls.append(mode)
        side = 4 + int(np.asarray(image).mean() * 100) % 50
        return [(0, 0, side, side), (1, 2, 3 + side, 4 + side)]
    monkeypatch.setattr(lecturelib.selective_search, "selective_search", search)
    return calls


def cache_file(folder):
    (path,) = folder.glob("proposals-*.npz")
    return path


def test_a_good_cache_is_reused_without_computing(searches, tmp_path):
    data = SyntheticShapes("test", num_images=3)
    boxes, seconds = proposals.proposals_for(data, progress=False)
    assert len(searches) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again, seconds_again = proposals.proposals_for(data, progress=False)
    assert len(searches) == 3, "nothing computed the second time"
    assert seconds_again == seconds and all(np.array_equal(a, b) for a, b in zip(boxes, again))


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def junk(path):
    path.write_bytes(b"\x00\xffnot a zip" * 50)


def tamper(path):
    """Shift every box of image 0 and write the file back with its old checksum."""
    with np.load(path) as stored:
        arrays = {k: stored[k] for k in stored.files}
    arrays["image_0"] = arrays["image_0"] + 20
    np.savez_compressed(path, **arrays)


def drop_checksum(path):
    """A file as lecturelib wrote it before the checksum."""
    with np.load(path) as stored:
        arrays = {k: stored[k] for k in stored.files if k != "sha256"}
    np.savez_compressed(path, **arrays)


@pytest.mark.parametrize("damage, reason", [(truncate, "cannot be read"),
                                            (junk, "cannot be read"),
                                            (tamper, "does not match its checksum"),
                                            (drop_checksum, "has no checksum")])
def test_a_damaged_cache_is_named_and_computed_again(searches, tmp_path, damage, reason):
    data = SyntheticShapes("test", num_images=3)
    boxes, _ = proposals.proposals_for(data, progress=False)
    path = cache_file(tmp_path)
    damage(path)
    with pytest.warns(RuntimeWarning, match=reason) as warned:
        again, _ = proposals.proposals_for(data, progress=False)
    assert str(path) in str(warned[0].message)
    assert len(searches) == 6, "computed again"
    assert all(np.array_equal(a, b) for a, b in zip(boxes, again))
    with warnings.catch_warnings():              # the file written anew is good again
        warnings.simplefilter("error")
        proposals.proposals_for(data, progress=False)
    assert len(searches) == 6 and [p.name for p in tmp_path.iterdir()] == [path.name]
