"""The command line refuses bad numbers the way argparse refuses a bad choice — exit status 2,
one line on stderr naming the option and the allowed range, no traceback — and a broken
manifest or checkpoint with one line naming the file (status 1), before any training starts."""
import json

import pytest

from lecturelib import checkpoints
from lecturelib.cli import main
from lecturelib.models import MODELS, Recipe


@pytest.mark.parametrize("argv, message", [
    # was a ZeroDivisionError traceback (rcnn) or silently all 128 images (backbone)
    ("evaluate rcnn --num-images 0", "argument --num-images: 0 is out of range: expected an "
                                     "integer from 1 to the split's size"),
    ("evaluate backbone --num-images 0", "argument --num-images: 0 is out of range"),
    ("evaluate fast_rcnn --num-images -1", "argument --num-images: -1 is out of range"),
    ("evaluate rcnn --num-images 100000000000000000000", "argument --num-images: 1000"),
    ("evaluate rcnn --num-images 129", "129 is out of range: the test split has 128 images"),
    ("evaluate rcnn --split val --num-images 200", "the val split has 128 images"),
    ("evaluate rcnn --num-images 2.5", "invalid value '2.5': expected an integer"),
    # was a traceback from the scene generator after the model was built
    ("train backbone --seed -2000", "argument --seed: -2000 is out of range: expected an "
                                    "integer from 0 to 2147483647"),
    ("train backbone --seed 2147483648", "argument --seed: 2147483648 is out of range"),
    ("train backbone --seed x", "argument --seed: invalid value 'x'"),
])
def test_bad_numbers_exit_2_with_the_option_and_its_range(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv.split())
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err


def test_evaluate_backbone_honours_num_images(capsys):
    assert main(["evaluate", "backbone", "--num-images", "2"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["images"] == 2 and 0 < report["crops"] < 20


@pytest.fixture
def broken_manifest(tmp_path, monkeypatch):
    """The checkpoints folder swapped for one whose manifest is binary junk."""
    monkeypatch.setattr(checkpoints, "FOLDER", tmp_path)
    monkeypatch.setattr(checkpoints, "MANIFEST", tmp_path / "MANIFEST.json")
    (tmp_path / "MANIFEST.json").write_bytes(bytes(range(256)))
    return tmp_path / "MANIFEST.json"


def test_train_checks_the_manifest_before_training(broken_manifest, monkeypatch, capsys):
    def build(**kwargs):
        raise AssertionError("trained although the manifest is broken")
    monkeypatch.setitem(MODELS, "backbone", Recipe(build=build, load=MODELS["backbone"].load))
    with pytest.raises(SystemExit) as stop:
        main(["train", "backbone", "--seed", "3"])
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert str(broken_manifest) in err and "python -m lecturelib train backbone --seed 3" in err
    assert "Traceback" not in err and list(broken_manifest.parent.iterdir()) == [broken_manifest]


def test_evaluate_names_a_broken_checkpoint(broken_manifest, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", "backbone", "--num-images", "1"])
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert str(broken_manifest) in err and "python -m lecturelib train backbone" in err
