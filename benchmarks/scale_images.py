"""Joint fusion at scale: one epoch on up to 1e6 cached 28x28 images, time and peak memory.

Data: ``rows + holdout`` rows of the ``make_survival_images`` "hybrid" recipe (MNIST
digits from the package's loader, drawn with replacement from its 5,000 digits; known
log hazard ratio from the digit and from age, sex, biomarker; two noise columns; about
30 % censored), built without holding the decoded images in anonymous memory: the
images are written in chunks of 65,536 into ONE ``uint8`` ``.npy`` file of shape
(n, 28, 28), reopened read-only memory-mapped, and the DataFrame's ``image`` column
holds one 28x28 view of that file per row (the image column accepts arrays or file
paths, one per cell; views of one memory map are arrays, so no per-row files are
needed). Each ``rows`` runs in its own process (``--one``), which builds the data, then
(1) decodes the training image column into the package's cache
(``load_image_column(..., keep_uint8=True, cache_dir=DIR)``, as ``fit`` does; timed,
with the content hash timed apart), (2) fits ``DeepSurv(structured=[age, sex,
biomarker, noise1, noise2], image="image", fusion="joint", image_cache=DIR,
max_epochs=1, early_stopping=None, validation_fraction=0, batch_size=256,
random_state=0)`` (one epoch; ``fit`` re-hashes the column and reuses the cache file),
(3) predicts the held-out rows in chunks of 10,000 and reports Harrell's C (and that of
the true risk). Memory: ``VmHWM`` (peak resident set, anonymous plus file-backed pages)
after each step, and the peak of ``RssAnon`` (anonymous memory only, sampled every
0.05 s by a thread): resident pages of the memory-mapped files count in ``VmHWM`` but
the kernel can drop them, anonymous memory it cannot.

Run: ``OMP_NUM_THREADS=2 python -m benchmarks.scale_images [--rows 50000 1000000]
[--holdout 10000] [--workdir DIR] [--timeout 1800]``; every finished run is appended
to ``results/scale_images.csv``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from structunstruct.benchmarks.machine import load_average, machine_info

RESULTS = Path(__file__).resolve().parent / "results"
STRUCTURED = ["age", "sex", "biomarker", "noise1", "noise2"]
CHUNK = 65_536


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def _gib(kib: int) -> float:
    return round(kib / 2**20, 3)


class AnonPeak:
    """Peak of ``RssAnon`` sampled by a daemon thread."""

    def __init__(self, every: float = 0.05) -> None:
        self.peak = _status_kib("RssAnon")
        self._every = every
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            self.peak = max(self.peak, _status_kib("RssAnon"))
            time.sleep(self._every)


def build_data(n_total: int, path: Path, seed: int = 0):
    """Covariates, target, true risk and a read-only memory map of the images."""
    from structunstruct.data.targets import make_survival_target
    from structunstruct.datasets._mnist import _mnist
    from structunstruct.datasets._survival_images import _hybrid

    rng = np.random.default_rng(seed)
    pool, labels = _mnist()
    rows = rng.choice(pool.shape[0], size=n_total, replace=n_total > pool.shape[0])
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n_total, *pool.shape[1:]))
    for start in range(0, n_total, CHUNK):
        out[start:start + CHUNK] = pool[rows[start:start + CHUNK]]
    out.flush()
    del out
    digits = labels[rows].copy()
    draw = _hybrid(digits, rng, image_effect=1.0, tabular_effect=1.0, censoring=0.3, baseline_hazard=0.1)
    images = np.asarray(np.load(path, mmap_mode="r"))  # plain ndarray views of the map
    column = np.empty(n_total, dtype=object)
    for i in range(n_total):
        column[i] = images[i]
    X = draw.covariates.assign(image=column)
    return X, make_survival_target(draw.time, draw.event), draw.risk


def run_one(n: int, holdout: int, workdir: Path) -> dict:
    import torch

    import structunstruct as su
    from structunstruct.data.images import image_cache_key, load_image_column
    from structunstruct.metrics import concordance_index_harrell

    sampler = AnonPeak()
    row: dict = {"rows": n, "holdout": holdout, "torch_threads": torch.get_num_threads()}
    workdir.mkdir(parents=True, exist_ok=True)
    source, cache = workdir / f"images-{n}.npy", workdir / f"cache-{n}"
    start = time.perf_counter()
    X, y, risk = build_data(n + holdout, source)
    row["data_s"] = round(time.perf_counter() - start, 2)
    row["source_file_gib"] = round(source.stat().st_size / 2**30, 3)
    train, test = X.iloc[:n], X.iloc[n:]
    row["rss_anon_gib_data"] = _gib(_status_kib("RssAnon"))
    row["vmhwm_gib_data"] = _gib(_status_kib("VmHWM"))

    start = time.perf_counter()
    image_cache_key(train["image"], None)
    row["hash_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    cached = load_image_column(train["image"], "image", keep_uint8=True, cache_dir=cache)
    row["cache_build_s"] = round(time.perf_counter() - start, 2)  # hash + decode into file
    del cached
    files = sorted(cache.glob("images-*.npy"))
    row["cache_file_gib"] = round(sum(f.stat().st_size for f in files) / 2**30, 3)
    row["vmhwm_gib_cache"] = _gib(_status_kib("VmHWM"))
    row["rss_anon_peak_gib_cache"] = _gib(sampler.peak)

    model = su.DeepSurv(structured=STRUCTURED, image="image", fusion="joint", image_cache=cache,
                        max_epochs=1, early_stopping=None, validation_fraction=0, batch_size=256,
                        random_state=0)
    start = time.perf_counter()
    model.fit(train, y[:n])
    row["fit_s"] = round(time.perf_counter() - start, 2)  # re-hash, cache reuse, one epoch
    row["vmhwm_gib_fit"] = _gib(_status_kib("VmHWM"))
    row["rss_anon_peak_gib_fit"] = _gib(sampler.peak)

    start = time.perf_counter()
    pred = np.concatenate([model.predict(test.iloc[i:i + 10_000]) for i in range(0, holdout, 10_000)])
    row["predict_s"] = round(time.perf_counter() - start, 2)
    row["c_index_holdout"] = round(float(concordance_index_harrell(y[n:], pred)), 4)
    row["c_index_oracle"] = round(float(concordance_index_harrell(y[n:], risk[n:])), 4)
    row["vmhwm_gib"] = _gib(_status_kib("VmHWM"))
    row["rss_anon_peak_gib"] = _gib(sampler.peak)
    row["rss_anon_gib_end"] = _gib(_status_kib("RssAnon"))
    row["rss_file_gib_end"] = _gib(_status_kib("RssFile"))
    row["n_x_784_gib"] = round(n * 784 / 2**30, 3)
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--holdout", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the image and cache files go (default: a temporary directory, removed)")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--keep", action="store_true", help="keep the image and cache files")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.holdout, args.workdir)), flush=True)
        return
    csv = RESULTS / "scale_images.csv"
    info = machine_info(["numpy", "torch", "pandas"])
    print("Machine: " + "; ".join(f"{k}: {v}" for k, v in info.items()), flush=True)
    for n in args.rows:
        workdir = args.workdir or Path(tempfile.mkdtemp(prefix="scale_images-"))
        command = [sys.executable, "-m", "benchmarks.scale_images", "--one", str(n),
                   "--holdout", str(args.holdout), "--workdir", str(workdir)]
        start = time.perf_counter()
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
            row = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else {
                "rows": n, "failed": (out.stderr.strip().splitlines() or ["?"])[-1]}
        except subprocess.TimeoutExpired:
            row = {"rows": n, "failed": f"over {args.timeout:.0f} s (stopped)"}
        row["process_s"] = round(time.perf_counter() - start, 2)
        row["load_average_end"] = load_average()
        if not args.keep:
            (workdir / f"images-{n}.npy").unlink(missing_ok=True)
            shutil.rmtree(workdir / f"cache-{n}", ignore_errors=True)
            if args.workdir is None:
                shutil.rmtree(workdir, ignore_errors=True)
        print(row, flush=True)
        done = pd.read_csv(csv) if csv.exists() else pd.DataFrame()
        pd.concat([done, pd.DataFrame([row])], ignore_index=True).to_csv(csv, index=False)


if __name__ == "__main__":
    main()
