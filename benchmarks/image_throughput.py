"""Training throughput from a DataFrame of PNG paths vs a bare timm train step.

Protocol (fusion issue, done-criterion 4): write ``n`` RGB PNG files of ``size`` pixels,
then in one process

- **bare**: a timm ``resnet18`` (``num_classes=0``) plus a linear head, trained on
  random tensors already on the device: AdamW, bf16 autocast on CUDA, channels-last,
  ``batch_size`` images per step; images/s over ``steps`` steps after ``warmup``;
- **DeepSurv**: ``DeepSurv(image="image", tabular=[], image_encoder="resnet18")`` fitted
  on the DataFrame of paths (decoded once into the uint8 cache, standardized on the
  device), no validation split, no early stopping, no augmentation; images/s of every
  epoch after the first (from ``history_[k]["seconds"]``).

The ratio DeepSurv / bare is the share of the bare step's speed the estimator keeps
(target >= 0.85 on a GPU). Decoding time (the first pass over the PNG files) is
reported separately.

Run: ``python -m benchmarks.image_throughput [--sizes 64 224] [--n 20000] [--epochs 3]
[--device cuda] [--out benchmarks/results/image_throughput]``; ``--quick`` is a CPU
smoke run with tiny sizes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import structunstruct as su
from structunstruct.data.images import load_image_column


def write_pngs(directory: Path, n: int, size: int, seed: int = 0) -> pd.DataFrame:
    """``n`` smooth random RGB images as PNG files, with survival times and events."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(64, 8, 8, 3), dtype=np.uint8)
    paths = []
    for i in range(n):
        tile = Image.fromarray(base[i % len(base)]).resize((size, size), Image.BILINEAR)
        path = directory / f"{size}_{i}.png"
        tile.save(path)
        paths.append(str(path))
    return pd.DataFrame({"image": paths, "time": rng.exponential(1.0, n) + 0.01,
                         "event": rng.random(n) < 0.7})


def bare_images_per_second(size: int, batch_size: int, steps: int, warmup: int,
                           device: torch.device) -> float:
    """Images/s of a bare timm resnet18 train step on random tensors on ``device``."""
    import timm

    model = timm.create_model("resnet18", pretrained=False, num_classes=0)
    head = torch.nn.Linear(model.num_features, 1)
    net = torch.nn.Sequential(model, head).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    images = torch.randn(batch_size, 3, size, size, device=device).contiguous(
        memory_format=torch.channels_last)
    target = torch.randn(batch_size, 1, device=device)
    dtype = torch.bfloat16 if device.type == "cuda" else None

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = torch.nn.functional.mse_loss(net(images).float(), target)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _synchronize(device)
    return steps * batch_size / (time.perf_counter() - start)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def deepsurv_images_per_second(frame: pd.DataFrame, batch_size: int, epochs: int,
                               device: torch.device) -> tuple[float, float]:
    """Images/s of DeepSurv epochs after the first, and the seconds of the whole fit."""
    model = su.DeepSurv(
        image="image", tabular=[], image_encoder="resnet18", augment=False,
        batch_size=batch_size, max_epochs=epochs, early_stopping=None,
        validation_fraction=0.0, device=str(device), random_state=0,
    )
    start = time.perf_counter()
    model.fit(frame[["image"]], (frame["time"].to_numpy(), frame["event"].to_numpy()))
    fit_seconds = time.perf_counter() - start
    later = [record["seconds"] for record in model.history_[1:]] or [model.history_[0]["seconds"]]
    return len(frame) / float(np.median(later)), fit_seconds


def decode_images_per_second(frame: pd.DataFrame) -> float:
    """Images/s of decoding the PNG column into the uint8 cache."""
    start = time.perf_counter()
    load_image_column(frame["image"], "image", keep_uint8=True)
    return len(frame) / (time.perf_counter() - start)


def run(sizes: list[int], n: int, batch_size: int, epochs: int, device: torch.device,
        steps: int, warmup: int) -> pd.DataFrame:
    """One row per image size."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            frame = write_pngs(Path(tmp), n, size)
            decode = decode_images_per_second(frame)
            bare = bare_images_per_second(size, batch_size, steps, warmup, device)
            ours, fit_seconds = deepsurv_images_per_second(frame, batch_size, epochs, device)
            rows.append({"size": size, "n": n, "batch_size": batch_size, "device": str(device),
                         "decode_img_s": decode, "bare_img_s": bare, "deepsurv_img_s": ours,
                         "ratio": ours / bare, "fit_seconds": fit_seconds})
            print(f"{size}px: decode {decode:,.0f} img/s, bare {bare:,.0f} img/s, "
                  f"DeepSurv {ours:,.0f} img/s ({ours / bare:.2f}x)", file=sys.stderr)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 224])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="tiny CPU smoke run")
    parser.add_argument("--out", default=None, help="write OUT.csv and OUT.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.n, args.batch_size, args.epochs, args.steps, args.warmup = [32], 256, 64, 2, 4, 1
    results = run(args.sizes, args.n, args.batch_size, args.epochs, torch.device(args.device),
                  args.steps, args.warmup)
    print(results.to_markdown(index=False, floatfmt=".3g"))
    if args.out:
        from structunstruct.benchmarks.machine import machine_info

        command = "python -m benchmarks.image_throughput " + " ".join(argv or sys.argv[1:])
        info = machine_info(["torch", "timm"])
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name()
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        results.to_csv(f"{args.out}.csv", index=False)
        Path(f"{args.out}.md").write_text(
            "# Training throughput from PNG paths vs a bare timm step\n\n"
            f"Command: `{command}`\n\n"
            + "\n".join(f"- {key}: {value}" for key, value in info.items()) + "\n\n"
            + results.to_markdown(index=False, floatfmt=".3g") + "\n")


if __name__ == "__main__":
    main()
