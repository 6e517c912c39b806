"""Resumable fits: ``checkpoint_dir`` (structunstruct.training.checkpoint)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from torch import nn

import structunstruct as su
from structunstruct.training import (
    Callback,
    EarlyStopping,
    Trainer,
    TrainingConfig,
    local_torch_seed,
)
from structunstruct.training.checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[2]


class Net(nn.Module):
    """A small MLP with dropout, so the global generator matters."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))

    def forward(self, batch: dict) -> dict:
        return {"y": self.body(batch["x"])}


def mse(outputs: dict, batch: dict) -> torch.Tensor:
    return ((outputs["y"][:, 0] - batch["y"]) ** 2).mean()


def _data(n: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return {"x": x, "y": x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3 * torch.randn(n, generator=g)}


class Interrupt(Callback):
    """Raises in ``on_epoch_end`` of epoch ``at`` (before that epoch's checkpoint), or
    in ``on_train_end`` with ``at="end"`` (after the last epoch's checkpoint)."""

    def __init__(self, at: int | str | None) -> None:
        self.at = at

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        if record["epoch"] == self.at:
            raise KeyboardInterrupt(f"interrupted in epoch {self.at}")

    def on_train_end(self, trainer: Trainer) -> None:
        if self.at == "end":
            raise KeyboardInterrupt("interrupted after the last epoch")


def _trainer_fit(checkpoint_dir=None, interrupt_at=None, max_epochs=8, data_seed=0) -> Trainer:
    with local_torch_seed(0, torch.device("cpu")):
        module = Net()
    config = TrainingConfig(lr=0.02, batch_size=32, max_epochs=max_epochs, ema_decay=0.9,
                            checkpoint_dir=checkpoint_dir, checkpoint_fingerprint={"test": "unit"})
    callbacks = [EarlyStopping(patience=3), Interrupt(interrupt_at)]
    trainer = Trainer(module, mse, config, callbacks, torch.Generator().manual_seed(1))
    with local_torch_seed(2, torch.device("cpu")):
        return trainer.fit(_data(200, data_seed), _data(60, 7))


def _weights(trainer: Trainer) -> dict:
    return {k: v.clone() for k, v in trainer.module.state_dict().items()}


@pytest.fixture(scope="module")
def uninterrupted() -> Trainer:
    return _trainer_fit()


@pytest.mark.parametrize("interrupt_at", [1, 4, 8])  # 8: after the best epoch (6)
def test_trainer_resumed_after_an_interruption_ends_as_an_uninterrupted_fit(
        tmp_path, uninterrupted, interrupt_at):
    with pytest.raises(KeyboardInterrupt):
        _trainer_fit(tmp_path, interrupt_at=interrupt_at)
    saved = load_checkpoint(tmp_path)
    assert saved["epoch"] == interrupt_at - 1 if interrupt_at > 1 else saved is None
    resumed = _trainer_fit(tmp_path)
    torch.testing.assert_close(_weights(resumed), _weights(uninterrupted), rtol=0, atol=0)
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in uninterrupted.history]
    assert resumed.best_epoch == uninterrupted.best_epoch
    assert load_checkpoint(tmp_path)["complete"]


def test_resumed_after_early_stopping_stopped_ends_with_the_best_weights(tmp_path):
    reference = _trainer_fit(max_epochs=40)
    assert len(reference.history) < 40  # early stopping stopped it
    with pytest.raises(KeyboardInterrupt):
        _trainer_fit(tmp_path, interrupt_at="end", max_epochs=40)
    assert load_checkpoint(tmp_path)["epoch"] == len(reference.history)
    resumed = _trainer_fit(tmp_path, max_epochs=40)
    assert len(resumed.history) == len(reference.history)  # no further epoch ran
    assert resumed.best_epoch == reference.best_epoch < len(reference.history)
    torch.testing.assert_close(_weights(resumed), _weights(reference), rtol=0, atol=0)


def test_a_complete_checkpoint_is_not_reused_the_fit_starts_afresh(tmp_path, uninterrupted):
    _trainer_fit(tmp_path)
    again = _trainer_fit(tmp_path)
    assert len(again.history) == len(uninterrupted.history)  # trained, not restored
    torch.testing.assert_close(_weights(again), _weights(uninterrupted), rtol=0, atol=0)


def test_an_unfinished_checkpoint_of_another_run_is_refused(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        _trainer_fit(tmp_path, interrupt_at=3)
    with pytest.raises(ValueError, match=f"{tmp_path.name}.*another training run.*'train'"):
        _trainer_fit(tmp_path, data_seed=1)
    with pytest.raises(ValueError, match="another training run.*'config'"):
        _trainer_fit(tmp_path, max_epochs=9)
    assert load_checkpoint(tmp_path)["epoch"] == 2  # left as it was


def test_checkpoints_are_plain_data_and_newer_formats_are_refused(tmp_path):
    save_checkpoint(tmp_path, {"format": 99, "fingerprint": {}, "complete": False, "epoch": 1})
    with pytest.raises(ValueError, match="newer"):
        load_checkpoint(tmp_path)
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=CHECKPOINT_FILE):
        load_checkpoint(tmp_path)


# -- the estimator, killed with SIGKILL in a subprocess -----------------------------------

FIT_SCRIPT = textwrap.dedent("""
    import os, sys, time
    import numpy as np, pandas as pd
    import structunstruct as su
    from structunstruct.training import Callback

    class Stall(Callback):  # stalls in epoch STALL_EPOCH, after the checkpoint of the epoch before
        def on_epoch_end(self, trainer, record):
            if record["epoch"] == int(os.environ.get("STALL_EPOCH", 0)):
                time.sleep(120)

    data = np.load(sys.argv[3])
    X = pd.DataFrame(data["X"], columns=["x1", "x2", "x3"])
    model = su.{estimator}(**{params}, checkpoint_dir=sys.argv[1], callbacks=[Stall()])
    np.save(sys.argv[2], model.fit(X, (data["time"], data["event"])).predict(X))
""")


def _survival_data(n: int = 300) -> tuple[pd.DataFrame, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x1", "x2", "x3"])
    risk = X["x1"] - 0.5 * X["x2"] ** 2 + 0.5 * X["x1"] * X["x3"]
    time_ = rng.exponential(np.exp(-risk))
    censor = rng.exponential(2.0, n)
    return X, (np.minimum(time_, censor), time_ <= censor)


def _params() -> dict:
    return {"tabular": ["x1", "x2", "x3"], "hidden_layers": (16,), "dropout": 0.3,
            "max_epochs": 8, "early_stopping": 3, "batch_size": 32, "random_state": 3,
            "device": "cpu"}


def _run(script: Path, directory: Path, out: Path, stall_epoch: int = 0) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "STALL_EPOCH": str(stall_epoch)}
    data = script.parent / "data.npz"
    return subprocess.Popen([sys.executable, str(script), str(directory), str(out), str(data)], env=env)


def _wait_for_epoch(directory: Path, epoch: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = load_checkpoint(directory) if (directory / CHECKPOINT_FILE).exists() else None
        if state is not None and state["epoch"] >= epoch:
            return
        assert process.poll() is None, "the fit ended before it could be killed"
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint of epoch {epoch} after {timeout} s")


def test_deepsurv_killed_with_sigkill_resumes_to_the_uninterrupted_predictions(tmp_path):
    X, y = _survival_data()
    np.savez(tmp_path / "data.npz", X=X.to_numpy(), time=y[0], event=y[1])
    script = tmp_path / "fit.py"
    script.write_text(FIT_SCRIPT.format(estimator="DeepSurv", params=repr(_params())))
    directory, out = tmp_path / "checkpoints", tmp_path / "risk.npy"
    killed = _run(script, directory, out, stall_epoch=4)
    try:
        _wait_for_epoch(directory, 3, killed)
        killed.send_signal(signal.SIGKILL)
    finally:
        killed.kill()
        killed.wait()
    assert killed.returncode == -signal.SIGKILL
    assert load_checkpoint(directory)["epoch"] == 3 and not out.exists()
    resumed = _run(script, directory, out)
    assert resumed.wait(timeout=120) == 0
    assert load_checkpoint(directory)["complete"]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the subprocesses (the optimizer's kernel depends on it)
    try:
        reference = su.DeepSurv(**_params()).fit(X, y)
    finally:
        torch.set_num_threads(threads)
    assert len(reference.history_) > 4
    np.testing.assert_allclose(np.load(out), reference.predict(X), rtol=1e-6, atol=0)


def test_estimator_checkpoint_dir_needs_an_integer_random_state(tmp_path):
    X = pd.DataFrame({"x1": np.arange(40.0)})
    y = (np.arange(40.0) + 1, np.ones(40, bool))
    model = su.DeepSurv(tabular=["x1"], max_epochs=1, checkpoint_dir=tmp_path, random_state=None)
    with pytest.raises(ValueError, match="checkpoint_dir.*random_state"):
        model.fit(X, y)
    model.set_params(random_state=0, risk_set_memory=16)
    with pytest.raises(NotImplementedError, match="risk_set_memory"):
        model.fit(X, y)


# -- the other estimators, interrupted in-process -----------------------------------------


def _regression_data(n: int = 200) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x1", "x2", "x3"])
    return X, X["x1"].to_numpy() + np.sin(2 * X["x2"].to_numpy()) + 0.3 * rng.normal(size=n)


@pytest.mark.parametrize("name", ["DeepPAMM", "SemiStructuredRegressor"])
def test_other_estimators_resume_to_the_uninterrupted_predictions(tmp_path, name):
    if name == "DeepPAMM":
        X, y = _survival_data(200)
        params = {"structured": "x1", "cuts": 5}
    else:
        X, y = _regression_data()
        params = {"structured": "x1"}
    params.update(tabular=["x2", "x3"], hidden_layers=(8,), dropout=0.3, max_epochs=6,
                  early_stopping=3, batch_size=32, random_state=5, device="cpu")
    cls = getattr(su, name)
    reference = cls(**params, callbacks=[Interrupt(None)]).fit(X, y)
    with pytest.raises(KeyboardInterrupt):
        cls(**params, callbacks=[Interrupt(4)], checkpoint_dir=tmp_path).fit(X, y)
    assert load_checkpoint(tmp_path)["epoch"] == 3
    resumed = cls(**params, callbacks=[Interrupt(None)], checkpoint_dir=tmp_path).fit(X, y)
    assert load_checkpoint(tmp_path)["complete"]
    assert len(resumed.history_) == len(reference.history_) == 6
    np.testing.assert_allclose(resumed.predict(X), reference.predict(X), rtol=1e-6, atol=0)


def test_checkpoint_dir_survives_clone_save_and_load(tmp_path):
    X, y = _survival_data(120)
    model = su.DeepSurv(tabular=["x1", "x2"], hidden_layers=(8,), max_epochs=2, random_state=0,
                        device="cpu", checkpoint_dir=tmp_path / "checkpoints").fit(X, y)
    assert clone(model).get_params()["checkpoint_dir"] == tmp_path / "checkpoints"
    loaded = su.load(model.save(tmp_path / "model"))
    assert loaded.get_params()["checkpoint_dir"] == tmp_path / "checkpoints"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_late_fusion_members_checkpoint_in_their_own_directories(tmp_path):
    X, y = _survival_data(120)
    X["note"] = np.where(X["x1"] > 0, "high risk", "low risk")
    model = su.DeepSurv(tabular=["x1", "x2"], text="note", fusion="late", hidden_layers=(8,),
                        max_epochs=2, random_state=0, device="cpu", checkpoint_dir=tmp_path).fit(X, y)
    members = dict(model.late_.estimators_)
    assert set(members) == {"tabular", "text"}
    for member in members:
        assert load_checkpoint(tmp_path / member)["complete"]


# -- data-parallel: rank 0 writes, every rank resumes its own dropout generator -----------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ddp_fit(rank: int, checkpoint_dir=None, interrupt_at=None) -> Trainer:
    with local_torch_seed(0, torch.device("cpu")):
        module = Net()
    config = TrainingConfig(lr=0.02, batch_size=16, max_epochs=5, ema_decay=0.9,
                            checkpoint_dir=checkpoint_dir)
    callbacks = [EarlyStopping(patience=3), Interrupt(interrupt_at)]
    trainer = Trainer(module, mse, config, callbacks, torch.Generator().manual_seed(1))
    with local_torch_seed(2 + rank, torch.device("cpu")):  # each rank its own dropout, as estimators do
        return trainer.fit(_data(100, 0), _data(30, 7))


def _ddp_worker(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                                         rank=rank, world_size=2)
    try:
        reference = _ddp_fit(rank)
        try:
            _ddp_fit(rank, f"{out}/checkpoints", interrupt_at=3)
        except KeyboardInterrupt:
            pass
        resumed = _ddp_fit(rank, f"{out}/checkpoints")
        np.savez(f"{out}/rank{rank}.npz", reference=_flat(reference), resumed=_flat(resumed))
    finally:
        torch.distributed.destroy_process_group()


def _flat(trainer: Trainer) -> np.ndarray:
    return torch.cat([v.reshape(-1) for v in trainer.module.state_dict().values()]).numpy()


def test_data_parallel_fit_resumes_on_every_rank(tmp_path):
    torch.multiprocessing.spawn(_ddp_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    results = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    for result in results:
        np.testing.assert_array_equal(result["resumed"], result["reference"])
    np.testing.assert_array_equal(results[0]["resumed"], results[1]["resumed"])
    assert load_checkpoint(tmp_path / "checkpoints")["complete"]


def test_estimator_refuses_an_unfinished_checkpoint_of_other_parameters(tmp_path):
    X, y = _survival_data(120)
    params = {"tabular": ["x1", "x2"], "hidden_layers": (8,), "max_epochs": 4, "random_state": 0,
              "device": "cpu"}
    with pytest.raises(KeyboardInterrupt):
        su.DeepSurv(**params, callbacks=[Interrupt(3)], checkpoint_dir=tmp_path).fit(X, y)
    other = su.DeepSurv(**{**params, "lr": 0.01}, callbacks=[Interrupt(None)], checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match=f"checkpoint_dir '.*{tmp_path.name}'.*'param.lr'"):
        other.fit(X, y)
    same = su.DeepSurv(**params, callbacks=[Interrupt(None)], checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="another training run.*'n_train'.*'train'"):
        same.fit(X.iloc[:100], (y[0][:100], y[1][:100]))  # other rows
    assert len(same.fit(X, y).history_) == 4  # the right data: resumed
