"""Convolution speed: our paths against PyTorch's, measured in the same run.

CPU (always): the im2col + matmul path (``backend="cpu"``) against ``F.conv2d`` on one thread,
for the layer the issue names (64 -> 64 channels, 3x3, 56x56) and a few neighbours; the
transposed-convolution path against ``F.conv_transpose2d``. Ratios are ours / torch (>1:
slower), from the median of repeats. The teaching path should stay within 10x.

GPU (only when CUDA is available): the Triton implicit-GEMM kernel against cuDNN.

    python benchmarks/bench_conv.py
"""
from __future__ import annotations


import torch
import torch.nn.functional as F

from lecturelib.ops.conv import conv2d, conv_transpose2d
from timing import median_time  # benchmarks/timing.py

CPU_LIMIT = 10.0   # the im2col path must stay within 10x of F.conv2d on the 64-channel layer



# (name, N, C, O, H, k, stride, padding, dilation, groups)
CPU_LAYERS = [
    ("64ch 56x56 3x3 (ResNet stage 1)", 1, 64, 64, 56, 3, 1, 1, 1, 1),
    ("64ch 56x56 3x3 dilation 2",       1, 64, 64, 56, 3, 1, 2, 2, 1),
    ("128ch 28x28 3x3 stride 2",        1, 128, 128, 28, 3, 2, 1, 1, 1),
    ("3->64 224x224 7x7 stride 2",      1, 3, 64, 224, 7, 2, 3, 1, 1),
    ("64ch 56x56 3x3 depthwise",        1, 64, 64, 56, 3, 1, 1, 1, 64),
]


def bench_cpu() -> float:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"CPU, 1 thread, torch {torch.__version__}; ratio = ours / torch (median of repeats)")
    print(f"{'layer':36s} {'torch ms':>9s} {'im2col ms':>10s} {'ratio':>6s}")
    first_ratio = None
    for name, N, C, O, H, k, s, p, d, g in CPU_LAYERS:
        x = torch.randn(N, C, H, H)
        w = torch.randn(O, C // g, k, k)
        b = torch.randn(O)
        with torch.no_grad():
            t_ref = median_time(lambda: F.conv2d(x, w, b, s, p, d, g))
            t_ours = median_time(lambda: conv2d(x, w, b, s, p, d, g, backend="cpu"))
        ratio = t_ours / t_ref
        first_ratio = ratio if first_ratio is None else first_ratio
        print(f"{name:36s} {t_ref * 1e3:9.2f} {t_ours * 1e3:10.2f} {ratio:6.2f}")

    print(f"\n{'transposed layer':36s} {'torch ms':>9s} {'zero-ins ms':>10s} {'ratio':>6s}")
    for name, C, O, H, k, s, p, op in [("64->32 28->56 4x4 stride 2", 64, 32, 28, 4, 2, 1, 0),
                                       ("64->32 28->56 3x3 stride 2", 64, 32, 28, 3, 2, 1, 1)]:
        x = torch.randn(1, C, H, H)
        w = torch.randn(C, O, k, k)
        with torch.no_grad():
            t_ref = median_time(lambda: F.conv_transpose2d(x, w, None, s, p, op))
            t_ours = median_time(lambda: conv_transpose2d(x, w, None, s, p, op, backend="cpu"))
        print(f"{name:36s} {t_ref * 1e3:9.2f} {t_ours * 1e3:10.2f} {t_ours / t_ref:6.2f}")
    return first_ratio


def bench_gpu() -> None:
    torch.manual_seed(0)
    dev = "cuda"
    sync = torch.cuda.synchronize
    print(f"\nGPU {torch.cuda.get_device_name()}: Triton implicit GEMM vs cuDNN "
          f"(tf32 allowed: {torch.backends.cudnn.allow_tf32}); ratio = Triton / cuDNN")
    print(f"{'layer':36s} {'dtype':>8s} {'cuDNN ms':>9s} {'Triton ms':>10s} {'ratio':>6s}")
    layers = [("N=32 64ch 56x56 3x3", 32, 64, 64, 56, 3, 1, 1, 1, 1),
              ("N=32 128ch 28x28 3x3 stride 2", 32, 128, 128, 28, 3, 2, 1, 1, 1),
              ("N=32 256ch 14x14 3x3 dilation 2", 32, 256, 256, 14, 3, 1, 2, 2, 1)]
    for dtype in (torch.float32, torch.float16):
        for name, N, C, O, H, k, s, p, d, g in layers:
            x = torch.randn(N, C, H, H, device=dev, dtype=dtype)
            w = torch.randn(O, C // g, k, k, device=dev, dtype=dtype)
            with torch.no_grad():
                ref = F.conv2d(x, w, None, s, p, d, g)
                ours = conv2d(x, w, None, s, p, d, g, backend="triton")
                err = ((ours - ref).abs().max() / ref.abs().max()).item()
                t_ref = median_time(lambda: F.conv2d(x, w, None, s, p, d, g), sync=sync)
                t_ours = median_time(lambda: conv2d(x, w, None, s, p, d, g, backend="triton"),
                                     sync=sync)
            print(f"{name:36s} {str(dtype)[6:]:>8s} {t_ref * 1e3:9.3f} {t_ours * 1e3:10.3f} "
                  f"{t_ours / t_ref:6.2f}   (max rel err {err:.1e})")


def main() -> None:
    ratio = bench_cpu()
    status = "within" if ratio <= CPU_LIMIT else "OVER"
    print(f"\nim2col / F.conv2d on the 64-channel 56x56 layer: {ratio:.2f}x ({status} the "
          f"{CPU_LIMIT:.0f}x budget)")
    if torch.cuda.is_available():
        bench_gpu()
    else:
        print("\nno CUDA device: Triton vs cuDNN skipped")
    if ratio > CPU_LIMIT:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
