#!/usr/bin/env python3
"""Per-call time of the activations' CPU kernels in LibTorch (Debian's python3-torch, the
same 1.13 as the C++ trial's), in each layout and precision the trial runs, next to the
way nnilib's model computes them (nnilib/src/model/model.cpp):
  - GELU on a channels-last tensor, against the same call on its N,H,W,C permutation
    (contiguous: the same memory and values);
  - SiLU in bfloat16, against computing it in float32 and rounding once to bf16.
Best of --repeats calls, milliseconds, one thread by default.
  /usr/bin/python3 bench/activation_ops.py [--threads 1] [--repeats 20]
"""
import argparse
import time

import torch

F = torch.nn.functional
A = torch.ops.aten


def best_ms(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # The worst case of the default space (bench/archs/worst-case.json), batch 64.
    shapes = [(64, 32, 28, 28), (64, 96, 14, 14), (64, 160, 7, 7)]
    print(f"torch {torch.__version__}, {args.threads} thread(s), best of {args.repeats}, ms per call")
    print("| shape | dtype | op | NCHW | channels_last | nnilib's way | channels_last / nnilib |")
    print("|---|---|---|---:|---:|---:|---:|")
    for shape in shapes:
        for dtype in (torch.float32, torch.bfloat16):
            x = torch.randn(shape, dtype=dtype)
            g = torch.randn(shape, dtype=dtype)
            xc, gc = (t.contiguous(memory_format=torch.channels_last) for t in (x, g))
            xp, gp = xc.permute(0, 2, 3, 1), gc.permute(0, 2, 3, 1)
            rows = {
                "gelu": (lambda: F.gelu(x), lambda: F.gelu(xc), lambda: F.gelu(xp)),
                "gelu backward": (
                    lambda: A.gelu_backward(g, x),
                    lambda: A.gelu_backward(gc, xc),
                    lambda: A.gelu_backward(gp, xp),
                ),
            }
            if dtype == torch.bfloat16:
                rows["silu"] = (
                    lambda: F.silu(x),
                    lambda: F.silu(xc),
                    lambda: F.silu(xc.float()).bfloat16(),
                )
                rows["silu backward"] = (
                    lambda: A.silu_backward(g, x),
                    lambda: A.silu_backward(gc, xc),
                    lambda: A.silu_backward(gc.float(), xc.float()).bfloat16(),
                )
            dt = str(dtype).split(".")[-1]
            for op, (nchw, cl, ours) in rows.items():
                a, b, c = (best_ms(f, args.repeats) for f in (nchw, cl, ours))
                print(f"| {shape} | {dt} | {op} | {a:.2f} | {b:.2f} | {c:.2f} | {b / c:.1f}x |",
                      flush=True)


if __name__ == "__main__":
    main()
