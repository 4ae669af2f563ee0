#!/usr/bin/env python3
"""The Python peer of bench_train: the same models and training loop, written as a
PyTorch user would (TensorDataset + DataLoader with shuffling, nn.Module blocks, the
optimizer, schedule, label smoothing and batched augmentation the parameters ask for,
evaluation under torch.no_grad()), optionally under
torch.autocast("cpu", dtype=torch.bfloat16) with float32 weights and loss. Runs on
Debian's python3-torch, i.e. the same LibTorch 1.13 and the same BLAS as the C++ trial.

Architectures are parameter files with every value filled in, as
`fmnist-trial --params-file F --print-params --dry-run` prints them (bench/run.sh makes
them); without --arch, the seed's smallest and largest CNN.

--layout nchw channels_last runs each model both in PyTorch's default layout and in
torch.channels_last (model and batches), the layout the C++ trial trains in.

Prints one JSON line per (architecture, threads, layout, precision):
  {"arch": ..., "threads": t, "precision": "fp32"|"bf16", "layout": "nchw"|"channels_last",
   "train_images_per_second": ..., "eval_images_per_second": ...}
"""
import argparse
import contextlib
import gzip
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def seed_archs():
    """Without --arch: the seed's smallest and largest CNN (bench/archs/, also
    bench_train's defaults)."""
    archs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "archs")
    result = {}
    for name in ("smallest", "largest"):
        with open(os.path.join(archs, name + ".json")) as f:
            result[name] = json.load(f)
    return result


ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU,
               "leaky_relu": lambda: nn.LeakyReLU(0.01)}


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndims = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims)


def seed_cnn(p):
    f1, k1, f2, k2 = p["filter_size_c1"], p["kernel_size_c1"], p["filter_size_c2"], p["kernel_size_c2"]
    side = (28 - k1 + 1 - k2 + 1) // 2
    return nn.Sequential(
        nn.Conv2d(1, f1, k1), nn.ReLU(),
        nn.Conv2d(f1, f2, k2), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(f2 * side * side, p["nb_units"]), nn.ReLU(),
        nn.Linear(p["nb_units"], 10))


def conv_unit(cin, cout, k, separable, bn):
    layers = []
    if separable:
        layers += [nn.Conv2d(cin, cin, k, padding=k // 2, groups=cin, bias=False),
                   nn.Conv2d(cin, cout, 1, bias=not bn)]
    else:
        layers += [nn.Conv2d(cin, cout, k, padding=k // 2, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    return nn.Sequential(*layers)


class Block(nn.Module):
    def __init__(self, cin, p, i):
        super().__init__()
        kind = p[f"conv{i}_type"]
        cout, k, bn = p[f"conv{i}_channels"], p[f"conv{i}_kernel"], p[f"conv{i}_batch_norm"]
        separable = kind.startswith("separable")
        self.residual = kind.endswith("residual")
        self.first = conv_unit(cin, cout, k, separable, bn)
        self.second = conv_unit(cout, cout, k, separable, bn) if self.residual else None
        self.shortcut = (conv_unit(cin, cout, 1, False, bn)
                         if self.residual and cin != cout else nn.Identity())
        self.act = ACTIVATIONS[p[f"conv{i}_activation"]]()
        pool = p[f"conv{i}_pool"]
        self.pool = {"max": nn.MaxPool2d(2), "avg": nn.AvgPool2d(2), "none": nn.Identity()}[pool]

    def forward(self, x):
        y = self.first(x)
        if self.residual:
            y = self.second(self.act(y)) + self.shortcut(x)
        return self.pool(self.act(y))


def model_space_cnn(p):
    layers, cin, side = [], 1, 28
    for i in range(1, p["num_blocks"] + 1):
        layers.append(Block(cin, p, i))
        cin = p[f"conv{i}_channels"]
        if p[f"conv{i}_pool"] != "none":
            side //= 2
    if p["head"] == "gap":
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        features = cin
    else:
        layers.append(nn.Flatten())
        features = cin * side * side
    if p["hidden_units"] > 0:
        layers += [nn.Linear(features, p["hidden_units"]), ACTIVATIONS[p["activation"]]()]
        features = p["hidden_units"]
    if p["dropout"] > 0:
        layers.append(nn.Dropout(p["dropout"]))
    layers.append(nn.Linear(features, 10))
    return nn.Sequential(*layers)


def augment(x, p, background):
    """Random crop with padding, horizontal flip, random erasing: batched tensor ops."""
    b, c, h, w = x.shape
    pad = p.get("augment_crop", 0)
    if pad:
        padded = F.pad(x, (pad, pad, pad, pad), value=background)
        dy = torch.randint(0, 2 * pad + 1, (b,))
        dx = torch.randint(0, 2 * pad + 1, (b,))
        rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None].expand(b, c, h, w + 2 * pad)
        x = padded.gather(2, rows)
        cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :].expand(b, c, h, w)
        x = x.gather(3, cols)
    if p.get("augment_flip", False):
        flip = torch.rand(b, 1, 1, 1) < 0.5
        x = torch.where(flip, x.flip(3), x)
    erasing = p.get("augment_erasing", 0)
    if erasing:
        apply = torch.rand(b) < erasing
        area = torch.empty(b).uniform_(0.02, 0.33) * h * w
        ratio = torch.exp(torch.empty(b).uniform_(math.log(0.3), math.log(3.3)))
        eh = torch.sqrt(area * ratio).round().clamp(1, h)
        ew = torch.sqrt(area / ratio).round().clamp(1, w)
        y0 = (torch.rand(b) * (h - eh + 1)).floor()
        x0 = (torch.rand(b) * (w - ew + 1)).floor()
        r = torch.arange(h).view(1, h, 1)
        q = torch.arange(w).view(1, 1, w)
        mask = ((r >= y0.view(b, 1, 1)) & (r < (y0 + eh).view(b, 1, 1)) &
                (q >= x0.view(b, 1, 1)) & (q < (x0 + ew).view(b, 1, 1)) & apply.view(b, 1, 1))
        x = x.masked_fill(mask.unsqueeze(1), 0.0)
    return x


def make_optimizer(model, p):
    lr, wd = p.get("learning_rate", 0.001), p.get("weight_decay", 0.0)
    name = p.get("optimizer", "adam")
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    if name == "sgd":
        m = p.get("momentum", 0.9)
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=m, nesterov=m > 0,
                               weight_decay=wd)
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)


def make_schedule(optimizer, p, total_steps):
    schedule = p.get("schedule", "constant")
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    if schedule == "one_cycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=p["learning_rate"],
                                                   total_steps=total_steps)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--train-images", type=int, default=3200)
    ap.add_argument("--eval-images", type=int, default=5000)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--precision", nargs="+", default=["fp32", "bf16"],
                    help="fp32, and/or bf16 (torch.autocast on the CPU)")
    ap.add_argument("--arch", nargs="+", default=[],
                    help="NAME=FILE: full parameters (fmnist-trial --print-params --dry-run)")
    ap.add_argument("--repeats", type=int, default=3, help="measured epochs; the best counts")
    ap.add_argument("--layout", nargs="+", default=["nchw"], choices=["nchw", "channels_last"],
                    help="channels_last: the model and every batch in torch.channels_last, as "
                    "PyTorch's CPU performance guide advises")
    args = ap.parse_args()

    archs = {}
    for a in args.arch:
        name, path = a.split("=", 1)
        with open(path) as f:
            archs[name] = json.load(f)
    if not archs:
        archs = seed_archs()

    images = read_idx(f"{args.data_dir}/train-images-idx3-ubyte.gz")
    labels = read_idx(f"{args.data_dir}/train-labels-idx1-ubyte.gz")
    mean, std = 0.2860, 0.3530
    x = (torch.from_numpy(images.astype(np.float32) / 255.0) - mean) / std
    x = x.unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    train = TensorDataset(x[:args.train_images], y[:args.train_images])
    val = TensorDataset(x[-args.eval_images:], y[-args.eval_images:])
    background = (0.0 - mean) / std

    runs = [(t, n, p, layout, precision) for t in args.threads for n, p in archs.items()
            for layout in args.layout for precision in args.precision]
    for threads, name, p, layout, precision in runs:
        torch.set_num_threads(threads)
        torch.manual_seed(1)
        model = model_space_cnn(p) if "num_blocks" in p else seed_cnn(p)
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        model = model.to(memory_format=fmt)
        epochs = 1 + args.repeats
        batch = p.get("batch_size", 64)
        loader = DataLoader(train, batch_size=batch, shuffle=True)
        opt = make_optimizer(model, p)
        sched = make_schedule(opt, p, epochs * len(loader))
        smoothing = p.get("label_smoothing", 0.0)
        do_augment = any(p.get(k) for k in ("augment_crop", "augment_flip",
                                            "augment_erasing"))

        def autocast():
            if precision == "bf16":
                return torch.autocast("cpu", dtype=torch.bfloat16)
            return contextlib.nullcontext()

        def epoch():
            model.train()
            for xb, yb in loader:
                if do_augment:
                    xb = augment(xb, p, background)
                xb = xb.contiguous(memory_format=fmt)
                opt.zero_grad()
                with autocast():
                    out = model(xb)
                loss = F.cross_entropy(out.float(), yb, label_smoothing=smoothing)
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()

        epoch()  # warm-up
        train_ips = 0.0
        for _ in range(args.repeats):
            t = time.perf_counter()
            epoch()
            train_ips = max(train_ips, len(train) / (time.perf_counter() - t))

        model.eval()
        eval_loader = DataLoader(val, batch_size=1000)
        with torch.no_grad(), autocast():
            for xb, _ in eval_loader:  # warm-up
                model(xb.contiguous(memory_format=fmt))
            eval_ips = 0.0
            for _ in range(args.repeats):
                t = time.perf_counter()
                correct = 0
                for xb, yb in eval_loader:
                    out = model(xb.contiguous(memory_format=fmt))
                    correct += (out.float().argmax(1) == yb).sum().item()
                eval_ips = max(eval_ips, len(val) / (time.perf_counter() - t))
        print(json.dumps({"arch": name, "threads": threads, "precision": precision,
                          "layout": layout,
                          "train_images_per_second": train_ips,
                          "eval_images_per_second": eval_ips}), flush=True)


if __name__ == "__main__":
    main()
