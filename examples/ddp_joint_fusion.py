"""Joint fusion (tabular + image) DeepSurv trained data-parallel with ``torchrun``.

Launch on a CPU with two processes (gloo), then check in one process that the saved
model predicts what rank 0 predicted::

    torchrun --nproc_per_node 2 examples/ddp_joint_fusion.py --out ddp-model
    python examples/ddp_joint_fusion.py --check ddp-model

On a machine with GPUs the same command uses NCCL and one GPU per process
(``--nproc_per_node`` = number of GPUs; pass ``--device auto``).

What happens under ``torchrun``: every process builds the same data (every rank holds
all rows in memory and trains on its part of every global batch of
``batch_size * world_size`` rows); the Cox loss gathers the risk scores of all
processes, so risk sets span the global batch; rank 0 decides early stopping; after
training every process computes the Breslow baseline and the orthogonalization
projection on all rows with rank 0's weights; only rank 0 writes the model.

Rank 0 saves the fitted estimator with ``model.save`` (JSON and safetensors, no pickle)
and its predictions on the training rows beside it; ``--check`` loads it with
``structunstruct.load`` on the CPU and compares.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import structunstruct as su
from structunstruct.training import distributed


def make_data(n: int):
    """The semi-synthetic MNIST survival data, identical in every process."""
    return su.datasets.make_survival_images(n=n, random_state=0)


def train(out: Path, n: int, epochs: int, batch_size: int, device: str) -> None:
    distributed.init_distributed()  # no-op under plain `python`
    X, y = make_data(n)
    model = su.DeepSurv(
        structured=["age", "sex"], tabular=["biomarker"], image="image", fusion="joint",
        orthogonalize=True, batch_size=batch_size, max_epochs=epochs, random_state=0,
        device=device,
    )
    model.fit(X, y)
    risk = model.predict(X)
    if distributed.is_main_process():  # rank 0 alone writes
        out.mkdir(parents=True, exist_ok=True)
        model.save(out / "model")
        np.save(out / "predictions.npy", risk)
        print(f"world size {distributed.world_size()}: C-index {model.score(X, y):.3f}, "
              f"saved to {out}")
        print(model.summary_[["coef", "se", "p"]].round(3).to_string())
    if distributed.is_distributed():
        torch_distributed().barrier()
        torch_distributed().destroy_process_group()


def torch_distributed():
    import torch.distributed

    return torch.distributed


def check(out: Path, n: int) -> None:
    model = su.load(out / "model", device="cpu")
    X, _ = make_data(n)
    expected = np.load(out / "predictions.npy")
    difference = np.abs(model.predict(X) - expected).max()
    print(f"largest difference from rank 0's predictions: {difference:.3g}")
    if difference > 1e-5:
        raise SystemExit("the loaded model does not predict what rank 0 predicted")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("ddp-model"))
    parser.add_argument("--check", type=Path, help="load the model saved in this folder and compare")
    parser.add_argument("--rows", type=int, default=1000, help="rows of make_survival_images")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32, help="rows per process and step")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.check is not None:
        check(args.check, args.rows)
    else:
        train(args.out, args.rows, args.epochs, args.batch_size, args.device)


if __name__ == "__main__":
    main()
