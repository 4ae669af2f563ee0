#!/usr/bin/env python3
"""The Python peer of bench_train: the same model and loop, written as a PyTorch user
would (TensorDataset + DataLoader with shuffling, torch.nn.Sequential, Adam,
cross-entropy, eval under torch.no_grad()). Runs on Debian's python3-torch, i.e.
the same LibTorch 1.13 and the same BLAS as the C++ trial.

Prints one JSON line per (architecture, threads):
  {"arch": ..., "threads": t, "train_images_per_second": ..., "eval_images_per_second": ...}
"""
import argparse
import gzip
import json
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

ARCHS = {
    "smallest": (32, 3, 64, 3, 80),
    "largest": (128, 5, 128, 5, 120),
}


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndims = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims)


def make_model(f1, k1, f2, k2, units):
    side = (28 - k1 + 1 - k2 + 1) // 2
    return nn.Sequential(
        nn.Conv2d(1, f1, k1), nn.ReLU(),
        nn.Conv2d(f1, f2, k2), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(f2 * side * side, units), nn.ReLU(),
        nn.Linear(units, 10))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--train-images", type=int, default=6400)
    ap.add_argument("--eval-images", type=int, default=5000)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--archs", nargs="+", default=list(ARCHS))
    ap.add_argument("--repeats", type=int, default=3, help="measured epochs; the best counts")
    args = ap.parse_args()

    images = read_idx(f"{args.data_dir}/train-images-idx3-ubyte.gz")
    labels = read_idx(f"{args.data_dir}/train-labels-idx1-ubyte.gz")
    x = (torch.from_numpy(images.astype(np.float32) / 255.0) - 0.2860) / 0.3530
    x = x.unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    train = TensorDataset(x[:args.train_images], y[:args.train_images])
    val = TensorDataset(x[-args.eval_images:], y[-args.eval_images:])

    for arch in args.archs:
        for threads in args.threads:
            torch.set_num_threads(threads)
            torch.manual_seed(1)
            model = make_model(*ARCHS[arch])
            opt = torch.optim.Adam(model.parameters(), lr=0.001)
            loss_fn = nn.CrossEntropyLoss()
            loader = DataLoader(train, batch_size=64, shuffle=True)

            def epoch():
                model.train()
                for xb, yb in loader:
                    opt.zero_grad()
                    loss = loss_fn(model(xb), yb)
                    loss.backward()
                    opt.step()

            epoch()  # warm-up
            train_ips = 0.0
            for _ in range(args.repeats):
                t = time.perf_counter()
                epoch()
                train_ips = max(train_ips, len(train) / (time.perf_counter() - t))

            model.eval()
            eval_loader = DataLoader(val, batch_size=1000)
            with torch.no_grad():
                for xb, _ in eval_loader:  # warm-up
                    model(xb)
                eval_ips = 0.0
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    correct = 0
                    for xb, yb in eval_loader:
                        correct += (model(xb).argmax(1) == yb).sum().item()
                    eval_ips = max(eval_ips, len(val) / (time.perf_counter() - t))
            print(json.dumps({"arch": arch, "threads": threads,
                              "train_images_per_second": train_ips,
                              "eval_images_per_second": eval_ips}), flush=True)


if __name__ == "__main__":
    main()
