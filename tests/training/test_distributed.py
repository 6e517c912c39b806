"""Data-parallel training on 2 CPU processes (gloo): gradients and fits equal one process.

One ``torch.multiprocessing.spawn`` of 2 workers (a free port on 127.0.0.1) runs every
check, each worker writing its numbers to ``tmp_path``; the assertions run here.

- One step's gradients under DistributedDataParallel, where each rank holds part of a
  global batch (of unequal sizes: 37 rows on 2 ranks), equal the gradients of one
  process on the whole batch, for the Cox loss (Efron and Breslow, heavily tied
  times), the PAMM Poisson loss and the normal family's negative log-likelihood. The
  module is float64, so the only differences are the order of float64 sums
  (~1e-15); the bound is the issue's 1e-6 relative.
- ``DeepSurv.fit`` and ``SemiStructuredRegressor.fit`` under 2 processes with
  ``batch_size=16`` match one process with ``batch_size=32`` (see
  :func:`test_fit_under_two_processes_matches_one_process`).
"""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch

from structunstruct.training import distributed

WORLD_SIZE = 2
N_ROWS = 37  # odd: the shards differ in size (19 and 18)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _batch(seed: int = 0) -> dict[str, torch.Tensor]:
    gen = np.random.default_rng(seed)
    x = gen.normal(size=(N_ROWS, 5))
    return {
        "x": torch.as_tensor(x),
        "time": torch.as_tensor(gen.integers(1, 6, N_ROWS).astype(np.float64)),  # many ties
        "event": torch.as_tensor((gen.random(N_ROWS) < 0.6).astype(np.float64)),
        "exposure": torch.as_tensor(gen.uniform(0.0, 2.0, (N_ROWS, 3)) * (gen.random((N_ROWS, 3)) < 0.8)),
        "status": torch.as_tensor((gen.random((N_ROWS, 3)) < 0.2).astype(np.float64)),
        "y": torch.as_tensor(x[:, 0] * 2.0 + gen.normal(size=N_ROWS)),
    }


def _losses() -> dict:
    from structunstruct.heads.distributional.deep import make_loss
    from structunstruct.heads.pamm.module import piecewise_exponential_loss
    from structunstruct.nn import cox_ph_loss, get_family

    normal = make_loss(get_family("normal"), None, [], [], N_ROWS)
    return {
        "cox_efron": lambda out, b: cox_ph_loss(out[:, :1], b["time"], b["event"], "efron"),
        "cox_breslow": lambda out, b: cox_ph_loss(out[:, :1], b["time"], b["event"], "breslow"),
        "pamm": lambda out, b: piecewise_exponential_loss(out, b["exposure"], b["status"]),
        "normal": lambda out, b: normal({"eta": out[:, :2]}, b),
    }


def _network() -> torch.nn.Module:
    torch.manual_seed(0)  # the test's own process: identical initial weights on every rank
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()


def _gradients(module: torch.nn.Module) -> np.ndarray:
    return torch.cat([p.grad.reshape(-1) for p in module.parameters()]).numpy().copy()


def _gradient_checks(rank: int) -> dict[str, np.ndarray]:
    """Per loss: this rank's DDP gradient, the single-process one, this rank's loss."""
    batch = _batch()
    lo, hi = distributed.shard_bounds(N_ROWS, rank, WORLD_SIZE)
    shard = {k: v[lo:hi] for k, v in batch.items()}
    results = {}
    for name, loss_fn in _losses().items():
        reference = _network()
        full_loss = loss_fn(reference(batch["x"]), batch)
        full_loss.backward()
        module = _network()
        ddp = distributed.wrap_data_parallel(module, torch.device("cpu"))
        with distributed.sharded_batches():
            loss = loss_fn(ddp(shard["x"]), shard)
        loss.backward()  # DDP averages the gradients over the ranks here
        results[f"{name}_ddp"] = _gradients(module)
        results[f"{name}_single"] = _gradients(reference)
        results[f"{name}_loss"] = np.array([float(loss), float(full_loss)])
    return results


def _survival_data():
    from structunstruct.datasets import load_gbsg2

    X, y = load_gbsg2()
    return X.iloc[:240].reset_index(drop=True), y[:240]


def _deepsurv(batch_size: int):
    from structunstruct import DeepSurv

    return DeepSurv(
        tabular=["age", "tsize", "pnodes", "progrec", "estrec"], dropout=0.0, batch_size=batch_size,
        hidden_layers=(16,), max_epochs=4, early_stopping=2, random_state=0, device="cpu",
    )


def _regressor(batch_size: int):
    from structunstruct import SemiStructuredRegressor

    return SemiStructuredRegressor(
        structured=["age"], tabular=["tsize", "pnodes"], dropout=0.0, batch_size=batch_size,
        hidden_layers=(8,), max_epochs=3, random_state=0, device="cpu",
    )


def _regression_data():
    X, _ = _survival_data()
    return X, np.log(X["progrec"].to_numpy() + 1.0)


def _worker(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE
    )
    try:
        results = _gradient_checks(rank)
        X, y = _survival_data()
        model = _deepsurv(batch_size=16).fit(X, y)  # global batch: 32 rows
        results["fit_eta"] = model.predict(X)
        results["fit_valid_loss"] = np.array([r["valid_loss"] for r in model.history_])
        X, y = _regression_data()
        results["regression_mean"] = _regressor(batch_size=16).fit(X.drop(columns="progrec"), y).predict(
            X.drop(columns="progrec"))
        np.savez(f"{out}/rank{rank}.npz", **results)
    finally:
        torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    torch.multiprocessing.spawn(_worker, args=(_free_port(), str(out)), nprocs=WORLD_SIZE, join=True)
    return [dict(np.load(out / f"rank{r}.npz")) for r in range(WORLD_SIZE)]


@pytest.mark.parametrize("loss", ["cox_efron", "cox_breslow", "pamm", "normal"])
def test_one_step_gradients_equal_the_single_process_gradients(two_process_results, loss):
    for rank, results in enumerate(two_process_results):
        single, ddp = results[f"{loss}_single"], results[f"{loss}_ddp"]
        assert np.abs(single).max() > 1e-3  # a gradient worth comparing
        relative = np.linalg.norm(ddp - single) / np.linalg.norm(single)
        assert relative <= 1e-6, (loss, rank, relative)
    # the ranks' loss values average to the loss of the global batch
    values = [r[f"{loss}_loss"] for r in two_process_results]
    assert np.mean([v[0] for v in values]) == pytest.approx(values[0][1], rel=1e-6)  # normal: float32


def test_fit_under_two_processes_matches_one_process(two_process_results):
    """Two processes with 16 rows each train on exactly the rows one process with 32 sees.

    Same initial weights, same shuffles, same validation rows, no dropout; the
    gradients agree up to the order of float32 sums (~1e-7 relative per step: DDP sums
    the ranks' gradients, the single process sums over all rows at once). Over 4
    epochs of 7 AdamW steps the log-risks differed by 6e-8 (bound: 1e-5). A wrong
    shard (rank 1 training on rank 0's rows) fails here; a wrong gradient scale does
    not (AdamW is invariant to it): the gradient test above catches that. Both ranks
    end with rank 0's weights, bit for bit.
    """
    X, y = _survival_data()
    single = _deepsurv(batch_size=32).fit(X, y)
    eta0, eta1 = (r["fit_eta"] for r in two_process_results)
    np.testing.assert_array_equal(eta0, eta1)
    np.testing.assert_allclose(
        two_process_results[0]["fit_valid_loss"], [r["valid_loss"] for r in single.history_], rtol=1e-4
    )
    np.testing.assert_allclose(eta0, single.predict(X), atol=1e-5)
    assert np.abs(single.predict(X) - single.predict(X).mean()).max() > 0.05  # it learned something


def test_shards_of_each_batch_make_up_the_single_process_batch():
    from structunstruct.training import iterate_batches

    data = {"row": torch.arange(23)}
    single = [b["row"] for b in iterate_batches(data, 9, torch.Generator().manual_seed(3))]
    shards = [
        [b["row"] for b in iterate_batches(data, 9, torch.Generator().manual_seed(3), shard=(r, 3))]
        for r in range(3)
    ]
    assert all(len(s) == len(single) for s in shards)
    for step, batch in enumerate(single):
        assert torch.equal(torch.cat([s[step] for s in shards]), batch)
        assert max(len(s[step]) for s in shards) - min(len(s[step]) for s in shards) <= 1


def test_init_distributed_outside_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.init_distributed() is False  # a plain run: nothing to do
    assert (distributed.rank(), distributed.world_size(), distributed.is_main_process()) == (0, 1, True)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(OSError, match="lacks.*MASTER_ADDR.*torchrun"):
        distributed.init_distributed()
    with distributed.sharded_batches():  # without a process group the batch is the whole batch
        assert not distributed.in_sharded_batch()
        value = distributed.global_mean(torch.tensor(6.0), 4)
    assert float(value) == 1.5


def test_distributional_fit_under_two_processes_matches_one_process(two_process_results):
    """SemiStructuredRegressor (normal): the same arithmetic as above, for a row-mean loss."""
    X, y = _regression_data()
    X = X.drop(columns="progrec")
    single = _regressor(batch_size=32).fit(X, y).predict(X)
    two = [r["regression_mean"] for r in two_process_results]
    np.testing.assert_array_equal(two[0], two[1])
    np.testing.assert_allclose(two[0], single, atol=1e-5)
    assert np.ptp(single) > 0.1


def test_torchrun_example_saves_a_model_that_loads_in_one_process(tmp_path):
    """The README's launch: 2 CPU processes fit joint fusion, rank 0 saves, one process loads."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    example = root / "examples" / "ddp_joint_fusion.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    small = ["--rows", "160", "--epochs", "1"]
    subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
         str(example), "--out", str(tmp_path / "m"), *small],
        check=True, env=env, timeout=300, capture_output=True,
    )
    assert (tmp_path / "m" / "model" / "config.json").is_file()
    checked = subprocess.run(
        [sys.executable, str(example), "--check", str(tmp_path / "m"), *small],
        check=True, env=env, timeout=120, capture_output=True, text=True,
    )
    assert "largest difference from rank 0's predictions: 0" in checked.stdout
