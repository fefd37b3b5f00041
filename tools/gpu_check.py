"""``make gpu-check``: the Triton kernels checked on a GPU in one run, every figure in one report.

    python3 tools/gpu_check.py [--report outputs/gpu_check.json] [--dry-run]

Runs from the repository root under any ``python3`` that has torch, torchvision, triton, numba
and pytest — a bare CUDA image, no ``.venv``, none of the package's extras. Four steps, each
added to the JSON report as soon as it ends (a run cut short keeps what it measured):

1. ``tests`` — pytest over the op tests (``tests/test_ops_*.py``, ``tests/test_conv.py``,
   ``tests/test_triton*.py``) in a child process where pycocotools, ipywidgets and nbval cannot
   be imported (``tools/refuse_imports.py``), as on the GPU image: a collection error there
   names the import it lacks. With CUDA: every one of them, the Triton path on CUDA tensors at
   full sizes (``LECTURELIB_GPU_CHECK=full``, read by ``tests/full_size.py``), spread over
   pytest-xdist workers when it is installed (Triton compiles every kernel variant once).
2. ``determinism`` — each Triton op ten times on one input (``gpu_check_figures.determinism``).
3. ``benchmarks`` — ours against torchvision / cuDNN, ratios (``gpu_check_figures.benchmarks``).
4. ``bandwidth`` — the memory-bound forwards against a copy measured in the same run
   (``gpu_check_figures.bandwidth``).

``--dry-run`` (the default without CUDA) is the rehearsal: the same steps and report keys at
small sizes — a few of each op's Triton tests at their own small shapes (:data:`DRY_SELECTION`),
under Triton's interpreter when there is no GPU; tiny benchmarks, three repeats, whose ratios are
then the CPU path's against torchvision's CPU ops. Figures only a GPU gives are null, with the
reason. Exit status 0 when every selected test passed and every determinism promise held; the
speed goals are reported, not enforced. A short summary is printed at the end.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REPORT = ROOT / "outputs" / "gpu_check.json"
BLOCKED = ("pycocotools", "ipywidgets", "nbval")   # not on the GPU machine's image
TEST_FILES = ("tests/test_ops_*.py", "tests/test_conv.py", "tests/test_triton*.py")
OPS = ("box_iou", "nms", "batched_nms", "roi_pool", "roi_align", "conv2d", "conv_transpose2d")
# The op of a test module whose test names do not say it (see op_of).
FILE_OP = {"test_ops_boxes": "box_iou", "test_ops_nms": "nms", "test_ops_roi_pool": "roi_pool",
           "test_ops_roi_align": "roi_align", "test_conv": "conv2d"}
# Dry run: one to four Triton tests per op at the tests' small sizes (~10 s under the interpreter).
DRY_SELECTION = {
    "box_iou": "box_iou_adversarial and triton or box_iou_random and 0-triton",
    "nms": "nms_threshold_is_strict and triton",
    "batched_nms": "batched_nms and 3-triton",
    "roi_pool": "roi_pool_ties and triton or roi_pool_adversarial and triton",
    "roi_align": "roi_align_triton_channel_blocks or nan_roi and 2-triton",
    "conv2d": "conv2d_triton and not equals_torch or conv2d_triton_equals_torch and N2C3O6g3",
    "conv_transpose2d": "conv_transpose2d_triton_equals_torch and N2C3O6g3",
}
TIMEOUT_S = {"full": 240, "dry": 240}   # the pytest child; a hung kernel ends there
# Goals of issue 16, checked on a GPU: Triton at most torchvision's CUDA time for these
# forwards; stretch: roi_align forward at half the copy bandwidth or more.
RATIO_GOAL_OPS = ("box_iou", "nms", "roi_pool", "roi_align")


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def environment(mode: str) -> tuple[dict, dict | None, str | None]:
    """(versions, the GPU's description or None, why None)."""
    import numba
    import torch
    import torchvision
    try:
        import triton
        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    env = {"mode": mode, "python": platform.python_version(), "executable": sys.executable,
           "torch": torch.__version__, "torchvision": torchvision.__version__,
           "triton": triton_version, "numba": numba.__version__,
           "triton_interpret": os.environ.get("TRITON_INTERPRET"),
           "cpu_count": os.cpu_count()}
    if not torch.cuda.is_available():
        return env, None, "no CUDA device: the Triton path ran under Triton's interpreter"
    p = torch.cuda.get_device_properties(0)
    gpu = {"name": p.name, "multiprocessors": p.multi_processor_count,
           "memory_gib": round(p.total_memory / 2 ** 30, 1),
           "capability": f"{p.major}.{p.minor}", "cuda": torch.version.cuda,
           "cudnn": torch.backends.cudnn.version(),
           "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32}
    return env, gpu, None


def op_test_paths() -> list[str]:
    """The op test files, relative to the repository root (:data:`TEST_FILES`)."""
    return sorted({str(p.relative_to(ROOT)) for pattern in TEST_FILES for p in ROOT.glob(pattern)})


def op_of(classname: str, name: str) -> str:
    """The op a test is about: the longest op name in its name, else its module's op."""
    for op in sorted(OPS, key=len, reverse=True):
        if op in name:
            return op
    return FILE_OP.get(classname.rpartition(".")[2], "other")


def read_junit(path: Path) -> dict:
    """Counts overall and per op, the failures with their messages, the slowest tests."""
    counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    by_op = {op: {"passed": 0, "failed": 0, "skipped": 0, "triton_passed": 0} for op in OPS}
    failures, timings = [], []
    for case in ET.parse(path).getroot().iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        test = f"{classname.replace('.', '/')}.py::{name}" if classname else name
        timings.append((float(case.get("time", 0)), test))
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed" if child.tag == "failure" else "errors"
                text = (child.get("message") or "") + "\n" + (child.text or "")[-1200:]
                failures.append({"test": test, "kind": child.tag, "message": text.strip()})
            elif child.tag == "skipped":
                outcome = "skipped"
        counts[outcome] += 1
        op = op_of(classname, name)
        if op in by_op:
            key = "failed" if outcome == "errors" else outcome
            by_op[op][key] += 1
            by_op[op]["triton_passed"] += outcome == "passed" and "triton" in name
    timings.sort(reverse=True)
    return {"counts": counts, "by_op": by_op, "failures": failures[:40],
            "failures_total": len(failures),
            "slowest": [{"test": t, "seconds": round(s, 2)} for s, t in timings[:8]]}


def xdist_version() -> tuple[int, ...]:
    """pytest-xdist's version, (0,) when it is not installed."""
    from importlib import metadata
    try:
        return tuple(int(part) for part in metadata.version("pytest-xdist").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return (0,)


def run_tests(mode: str, scratch: Path, log: Path) -> dict:
    """pytest in a child that cannot import :data:`BLOCKED` (``tools/refuse_imports.py``), with
    LECTURELIB_GPU_CHECK=full and pytest-xdist's workers on a GPU; its whole output in ``log``
    (one line per test: a run stopped by the timeout shows where)."""
    import importlib.util
    junit, refused = scratch / "junit.xml", scratch / "refused.txt"
    args = ["-o", "addopts=", "-p", "no:cacheprovider", "-p", "refuse_imports", "-p", "no:nbval",
            "-v", "-rfE", "--tb=short", f"--junitxml={junit}", *op_test_paths()]
    selection = None
    if mode == "dry":
        selection = " or ".join(f"({clause})" for clause in DRY_SELECTION.values())
        args += ["-k", selection]
    elif xdist_version() >= (3, 2):   # Triton compiles each kernel variant: in parallel,
        # test by test (the repository's conftest.py would send whole modules to the workers)
        args += ["-n", str(min(8, max(2, (os.cpu_count() or 2) // 2))), "--dist", "worksteal"]
    if importlib.util.find_spec("pytest_timeout"):
        args += ["-o", "timeout=120"]
    env = dict(os.environ, LECTURELIB_REFUSE_IMPORTS=",".join(BLOCKED),
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tools"),
                                           *filter(None, [os.environ.get("PYTHONPATH")])]))
    env.pop("LECTURELIB_GPU_CHECK", None)
    if mode == "full":
        env["LECTURELIB_GPU_CHECK"] = "full"
    probe = subprocess.run([sys.executable, "-c", "import json, refuse_imports; "
                            "print(json.dumps(refuse_imports.probe()))"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    result = {"command": ["pytest", *[a for a in args if not a.startswith("--junitxml")]],
              "selection": selection or "all", "blocked_imports": list(BLOCKED),
              "blocked_probe": json.loads(probe.stdout) if probe.returncode == 0 else None,
              "full_sizes": mode == "full", "timed_out": False, "log": str(log)}
    t0 = time.perf_counter()
    with open(log, "w") as out:
        try:
            result["exit_code"] = subprocess.run(
                [sys.executable, "-m", "pytest", *args], cwd=ROOT,
                env=dict(env, LECTURELIB_REFUSED_LOG=str(refused)), stdout=out,
                stderr=subprocess.STDOUT, timeout=TIMEOUT_S[mode]).returncode
        except subprocess.TimeoutExpired:
            result["timed_out"], result["exit_code"] = True, None
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["output_tail"] = log.read_text(errors="replace")[-4000:]
    result["refused_imports"] = sorted(set(refused.read_text().split())) if refused.exists() \
        else []
    if junit.exists():
        result.update(read_junit(junit))
    result["ok"] = (result["exit_code"] == 0 and not result["timed_out"]
                    and result["blocked_probe"] == {name: "refused" for name in BLOCKED})
    return result


def goals(report: dict) -> dict:
    """Issue 16's speed goals, read off the benchmarks and bandwidth (on a GPU only)."""
    if report["mode"] != "full":
        return {"null_reason": "speed goals are GPU figures (dry run)"}
    rows = (report.get("benchmarks") or {}).get("cases") or []
    at_most_1x = {}
    for row in rows:
        if row["op"] in RATIO_GOAL_OPS and row["pass"] == "forward":
            at_most_1x[f"{row['op']} {row['case']}"] = row["ratio"] <= 1.0
    align = [c for name, c in ((report.get("bandwidth") or {}).get("cases") or {}).items()
             if name.startswith("roi_align")]
    return {"triton_at_most_1x_torchvision": at_most_1x,
            "roi_align_forward_half_of_copy_bandwidth":
                (align[0]["ours_share"] >= 0.5) if align else None}


def figures_step(report: dict, key: str, work) -> None:
    """Run ``work()`` into ``report[key]``; an exception becomes ``{"error": traceback}``."""
    t0 = time.perf_counter()
    try:
        report[key] = work()
    except Exception:   # noqa: BLE001 — the report must say what broke and carry on
        report[key] = {"error": traceback.format_exc()[-3000:], "ok": False}
    if isinstance(report[key], dict):
        report[key]["seconds"] = round(time.perf_counter() - t0, 1)
    state = "ERROR" if "error" in report[key] else "done"
    print(f"[gpu-check] {key}: {state} in {time.perf_counter() - t0:.0f} s", flush=True)


def summary(report: dict) -> str:
    """The short human-readable account printed at the end."""
    lines = [f"gpu-check ({report['mode']}) {report['finished_utc']}, "
             f"{report['seconds']:.0f} s — {'OK' if report['ok'] else 'NOT OK'}"]
    gpu = report.get("gpu")
    lines.append(f"  device: {gpu['name'] if gpu else 'CPU — ' + report['gpu_null_reason']}; "
                 f"torch {report['environment']['torch']}, triton "
                 f"{report['environment']['triton']}")
    tests = report.get("tests") or {}
    if "counts" in tests:
        c = tests["counts"]
        lines.append(f"  tests: {c['passed']} passed, {c['failed']} failed, {c['errors']} errors,"
                     f" {c['skipped']} skipped in {tests['seconds']} s"
                     + (" (TIMED OUT)" if tests.get("timed_out") else "")
                     + f"; refused imports {tests.get('blocked_probe')}")
        lines.append("    per op (passed/failed, Triton passed): " + ", ".join(
            f"{op} {v['passed']}/{v['failed']} ({v['triton_passed']})"
            for op, v in tests["by_op"].items()))
        for f in tests.get("failures", [])[:5]:
            first = f["message"].strip().splitlines()[0][:140] if f["message"].strip() else ""
            lines.append(f"    FAILED {f['test']}: {first}")
    elif tests:
        tail = tests.get("error") or tests.get("output_tail") or ""
        lines.append(f"  tests: no results (timed out: {tests.get('timed_out')}); last lines:")
        lines += ["    " + line for line in tail.strip().splitlines()[-6:]]
    det = report.get("determinism") or {}
    if "error" in det:
        lines.append(f"  determinism: ERROR {det['error'].splitlines()[-1]}")
    else:
        lines.append("  determinism (bit-identical runs, else the relative spread): " + ", ".join(
            f"{name} {'same' if v['bitwise_equal'] else format(v['relative_spread'], '.1e')}"
            f"{'' if v['ok'] else ' NOT OK'}" for name, v in det.items() if isinstance(v, dict)))
    bench = report.get("benchmarks") or {}
    if "error" in bench:
        lines.append(f"  benchmarks: ERROR {bench['error'].splitlines()[-1]}")
    elif bench:
        lines.append(f"  benchmarks, ours ({bench['ours']}) / {bench['peer']}, median of "
                     f"{bench['repeats']}:")
        for row in bench["cases"]:
            lines.append(f"    {row['op']:17s} {row['pass']:16s} {row['ratio']:6.2f}x   "
                         f"{row['ours_ms']:9.3f} / {row['peer_ms']:9.3f} ms   {row['case']}")
    bw = report.get("bandwidth") or {}
    if "error" in bw:
        lines.append(f"  bandwidth: ERROR {bw['error'].splitlines()[-1]}")
    elif bw:
        lines.append(f"  bandwidth ({bw['device']}), copy {bw['copy_gbps']:.0f} GB/s:")
        for name, c in bw["cases"].items():
            lines.append(f"    {name:28s} ours {c['ours_gbps']:8.1f} GB/s "
                         f"({100 * c['ours_share']:5.1f} %)   torchvision {c['peer_gbps']:8.1f} "
                         f"GB/s ({100 * c['peer_share']:5.1f} %)")
    g = report.get("goals") or {}
    if "null_reason" not in g and g:
        met = sum(g["triton_at_most_1x_torchvision"].values())
        lines.append(f"  goals: Triton <= 1.0x torchvision on {met} of "
                     f"{len(g['triton_at_most_1x_torchvision'])} forward cases; roi_align forward"
                     f" >= 50 % of copy bandwidth: {g['roi_align_forward_half_of_copy_bandwidth']}")
    lines.append(f"  report: {report['report_path']}; pytest log: {tests.get('log')}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT,
                        help="where the JSON report goes (default outputs/gpu_check.json)")
    parser.add_argument("--dry-run", action="store_true",
                        help="small sizes (the default without CUDA): a rehearsal, not figures")
    args = parser.parse_args(argv)
    t_start = time.perf_counter()
    os.chdir(ROOT)
    sys.path[:0] = [str(ROOT), str(Path(__file__).parent)]
    import torch
    mode = "full" if torch.cuda.is_available() and not args.dry_run else "dry"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    report_path = args.report.resolve()
    report_path.parent.mkdir(parents=True, exist_ok=True)
    env, gpu, why = environment(mode)
    report = {"schema": 1, "mode": mode, "started_utc": utc_now(),
              "report_path": str(report_path), "environment": env, "gpu": gpu,
              "gpu_null_reason": why}
    print(f"[gpu-check] {mode} run on {gpu['name'] if gpu else 'the CPU'}; report "
          f"{report_path}", flush=True)

    def save() -> None:
        report["finished_utc"] = utc_now()
        report["seconds"] = round(time.perf_counter() - t_start, 1)
        tmp = report_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=1, default=str))
        tmp.replace(report_path)

    save()
    with tempfile.TemporaryDirectory() as scratch:
        log = report_path.with_name(report_path.stem + "_pytest.log")
        figures_step(report, "tests", lambda: run_tests(mode, Path(scratch), log))
    save()
    import gpu_check_figures as figures   # tools/gpu_check_figures.py
    if device == "cpu":   # as make bench times the CPU: one thread, both sides
        torch.set_num_threads(1)
    sizes = figures.FULL if mode == "full" else figures.DRY

    def determinism():
        ops_ = figures.determinism(sizes, device)
        return {**ops_, "ok": all(v["ok"] for v in ops_.values())}

    figures_step(report, "determinism", determinism)
    save()
    figures_step(report, "benchmarks", lambda: {
        "device": device, "ours": "Triton" if device == "cuda" else "lecturelib CPU path",
        "peer": ("torchvision CUDA; cuDNN (F.conv2d) for convolution" if device == "cuda" else
                 "torchvision CPU; torch CPU (F.conv2d) for convolution"),
        "repeats": sizes.repeats, "torch_threads": torch.get_num_threads(),
        "cudnn_ratio_null_reason": None if device == "cuda" else "no CUDA: no cuDNN",
        "cases": figures.benchmarks(sizes, device)})
    save()
    figures_step(report, "bandwidth", lambda: {
        "device": device, **figures.bandwidth(sizes, device),
        "note": ("Triton launcher (kernel + its layout copies) vs torchvision's op, bytes that "
                 "must move over CUDA-event time" if device == "cuda" else
                 "CPU copy rate and the interpreter: exercises the code, not a figure")})
    report["goals"] = goals(report)
    report["ok"] = bool((report["tests"] or {}).get("ok")) and bool(
        (report["determinism"] or {}).get("ok"))
    save()
    print(summary(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
