"""``make gpu-check`` rehearsed on the CPU: tools/gpu_check.py --dry-run end to end in a child
process (as on the GPU machine: pycocotools, ipywidgets and nbval refused), then its report.

The dry run covers a few Triton tests per op at the tests' small sizes under the interpreter,
the determinism step on tiny inputs and tiny benchmarks; what only a GPU can show (races, full
sizes, speed) waits for a GPU run. About 25 s of CPU time.
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from gpu_check import OPS  # noqa: E402  tools/gpu_check.py


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    report = tmp_path_factory.mktemp("gpu_check") / "gpu_check.json"
    env = {k: v for k, v in os.environ.items() if k != "LECTURELIB_GPU_CHECK"}
    proc = subprocess.run([sys.executable, "tools/gpu_check.py", "--dry-run", "--report",
                           str(report)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, json.loads(report.read_text())


def test_dry_run_passes_and_prints_a_summary(dry_run):
    proc, report = dry_run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert report["ok"] is True and report["mode"] == "dry"
    assert "gpu-check (dry)" in proc.stdout and "— OK" in proc.stdout
    for section in ("environment", "tests", "determinism", "benchmarks", "bandwidth", "goals"):
        assert report[section], section
        assert "error" not in report[section], report[section].get("error")


def test_op_tests_run_without_the_modules_the_gpu_image_lacks(dry_run):
    tests = dry_run[1]["tests"]
    assert tests["blocked_probe"] == {"ipywidgets": "refused", "nbval": "refused",
                                      "pycocotools": "refused"}
    assert tests["counts"]["failed"] == tests["counts"]["errors"] == 0, tests["failures"]
    assert tests["command"][:5] == ["pytest", "-o", "addopts=", "-p", "no:cacheprovider"]
    for op in OPS:   # the selection still names a Triton test of every op
        assert tests["by_op"][op]["triton_passed"] >= 1, (op, tests["by_op"])


def test_every_op_has_its_figures(dry_run):
    report = dry_run[1]
    determinism = report["determinism"]
    for case in ("box_iou", "nms", "batched_nms", "roi_pool forward", "roi_pool backward",
                 "roi_align forward", "roi_align backward", "conv2d forward",
                 "conv_transpose2d forward"):
        assert determinism[case]["ok"] and determinism[case]["runs"] >= 2, case
    cases = report["benchmarks"]["cases"]
    assert {row["op"] for row in cases} == set(OPS)
    for row in cases:
        assert math.isfinite(row["ratio"]) and row["ratio"] > 0, row
    bandwidth = report["bandwidth"]
    assert bandwidth["copy_gbps"] > 0
    assert {name.split()[0] for name in bandwidth["cases"]} == {"box_iou", "roi_pool", "roi_align"}
    for row in bandwidth["cases"].values():
        assert 0 < row["ours_share"] and 0 < row["peer_share"], row


def test_gpu_only_figures_are_null_with_a_reason(dry_run):
    report = dry_run[1]
    if report["gpu"] is not None:
        pytest.skip("a CUDA device is present: the dry run ran the Triton path on it")
    assert report["gpu_null_reason"] and report["goals"]["null_reason"]
    assert report["benchmarks"]["cudnn_ratio_null_reason"]


def test_goals_and_summary_of_a_gpu_report(dry_run):
    """The branches only a GPU run takes, fed the dry run's figures: issue 16's goals are read
    off the forward ratios and roi_align's bandwidth share, and the summary prints them."""
    import copy

    from gpu_check import RATIO_GOAL_OPS, goals, summary
    report = copy.deepcopy(dry_run[1])
    report.update(mode="full", gpu={"name": "a GPU"}, gpu_null_reason=None)
    met = goals(report)
    forward = [row for row in report["benchmarks"]["cases"]
               if row["op"] in RATIO_GOAL_OPS and row["pass"] == "forward"]
    assert list(met["triton_at_most_1x_torchvision"].values()) == \
        [row["ratio"] <= 1.0 for row in forward]
    share = next(c["ours_share"] for name, c in report["bandwidth"]["cases"].items()
                 if name.startswith("roi_align"))
    assert met["roi_align_forward_half_of_copy_bandwidth"] == (share >= 0.5)
    text = summary(dict(report, goals=met))
    assert "device: a GPU" in text and f"of {len(forward)} forward cases" in text


def test_junit_results_are_counted_per_op(tmp_path):
    """What a GPU run's failures look like in the report: per op, with their messages."""
    from gpu_check import read_junit
    junit = tmp_path / "junit.xml"
    junit.write_text("""<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.test_ops_nms" name="test_nms_random_equals_torchvision[0.5-1-triton]"
 time="0.5"/>
<testcase classname="tests.test_ops_nms" name="test_batched_nms_is_per_class_nms[0-triton]"
 time="2.0"><failure message="AssertionError: keep differs">trace</failure></testcase>
<testcase classname="tests.test_ops_roi_align" name="test_detectron2_hand_case" time="0.1">
 <error message="RuntimeError: CUDA error: an illegal memory access">trace</error></testcase>
<testcase classname="tests.test_triton_setup" name="test_triton_path_after_torchvision_import"
 time="0"><skipped message="checks the interpreter set-up (no CUDA)"/></testcase>
</testsuite></testsuites>""")
    result = read_junit(junit)
    assert result["counts"] == {"passed": 1, "failed": 1, "skipped": 1, "errors": 1}
    assert result["by_op"]["nms"] == {"passed": 1, "failed": 0, "skipped": 0, "triton_passed": 1}
    assert result["by_op"]["batched_nms"]["failed"] == 1
    assert result["by_op"]["roi_align"]["failed"] == 1   # an error fails its op too
    assert [f["test"] for f in result["failures"]] == [
        "tests/test_ops_nms.py::test_batched_nms_is_per_class_nms[0-triton]",
        "tests/test_ops_roi_align.py::test_detectron2_hand_case"]
    assert "illegal memory access" in result["failures"][1]["message"]
    assert result["slowest"][0] == {"test": result["failures"][0]["test"], "seconds": 2.0}
