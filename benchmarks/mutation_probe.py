"""Mutation probe: do the tests fail when the core math is wrong?

Each mutant is a plausible one-line bug (a sign flip, an off-by-one index, a dropped
term, a swapped argument, a wrong constant) written as ``(file, exact original
substring, replacement)``, so the list can be re-applied after the code moves. One at a
time, the substring is replaced in the file, the test files that cover that module run
with ``-x`` and a timeout, the outcome is recorded (killed: a test failed or errored;
survived: every test passed) and the file is restored. A mutant whose original text is
not found (or is found more than once) is reported as "not applicable" and skipped.

Run from the repository root (it edits the working tree and restores it, also when
interrupted or terminated; run it on a copy of the tree to keep working meanwhile)::

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python -m benchmarks.mutation_probe \
        --output benchmarks/results/mutation_probe.md

``--only NAME ...`` runs a subset; ``--list`` prints the mutants.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path("structunstruct")


@dataclass(frozen=True)
class Mutant:
    """A one-line bug: ``original`` (exact, unique in ``path``) becomes ``replacement``."""

    name: str
    path: str
    original: str
    replacement: str
    what: str


#: Test files that cover each mutated module (paths relative to the package), fast ones
#: first: with ``-x`` a killed mutant stops at its first failing test.
TESTS: dict[str, tuple[str, ...]] = {
    "heads/cox/loss.py": ("tests/heads/cox/test_losses.py", "tests/estimators/test_properties.py", "tests/estimators/test_trained_math.py",
                     "tests/estimators/test_deepsurv.py"),
    "heads/pamm/module.py": ("tests/estimators/test_properties.py", "tests/estimators/test_trained_math.py", "tests/heads/pamm/test_pamm.py"),
    "nn/orthogonalization.py": ("tests/estimators/test_trained_math.py", "tests/estimators/test_deepsurv.py", "tests/heads/pamm/test_pamm.py",
                                "tests/heads/distributional/test_regression.py"),
    "heads/distributional/families.py": ("tests/heads/distributional/test_families.py", "tests/estimators/test_properties.py", "tests/heads/distributional/test_regression.py"),
    "nn/encoders/pixels.py": ("tests/data/test_image_storage.py", "tests/estimators/test_early_fusion.py"),
    "data/inputs.py": ("tests/data/test_image_storage.py", "tests/estimators/test_image_cache.py", "tests/estimators/test_early_fusion.py"),
    "heads/pamm/ped.py": ("tests/heads/pamm/test_ped.py", "tests/estimators/test_trained_math.py", "tests/heads/pamm/test_pamm.py"),
    "heads/cox/fitter.py": ("tests/heads/cox/test_cox_classical.py", "tests/estimators/test_trained_math.py", "tests/estimators/test_deepsurv.py"),
    "heads/pamm/glm.py": ("tests/heads/distributional/test_penalized_fits.py", "tests/estimators/test_trained_math.py", "tests/heads/pamm/test_pamm.py", "tests/heads/distributional/test_regression.py"),
    "heads/distributional/fitter.py": ("tests/heads/distributional/test_penalized_fits.py", "tests/heads/distributional/test_families.py", "tests/estimators/test_trained_math.py", "tests/heads/distributional/test_regression.py"),
    "metrics/_concordance.py": ("tests/metrics/test_metrics.py", "tests/estimators/test_properties.py"),
    "metrics/_brier.py": ("tests/metrics/test_metrics.py", "tests/estimators/test_properties.py"),
    "metrics/_auc.py": ("tests/metrics/test_metrics.py", "tests/estimators/test_properties.py"),
    "metrics/_validation.py": ("tests/metrics/test_metrics.py", "tests/estimators/test_properties.py"),
    "estimators/late.py": ("tests/estimators/test_trained_math.py", "tests/estimators/test_late_fusion.py"),
    "estimators/survival.py": ("tests/estimators/test_trained_math.py", "tests/estimators/test_late_fusion.py", "tests/estimators/test_deepsurv.py"),
    "heads/pamm/head.py": ("tests/estimators/test_trained_math.py", "tests/heads/pamm/test_pamm.py"),
    "heads/cox/head.py": ("tests/estimators/test_trained_math.py", "tests/estimators/test_deepsurv.py"),
    "heads/distributional/head.py": ("tests/estimators/test_trained_math.py", "tests/heads/distributional/test_families.py", "tests/heads/distributional/test_regression.py"),
    "heads/distributional/deep.py": ("tests/estimators/test_trained_math.py", "tests/heads/distributional/test_families.py", "tests/heads/distributional/test_regression.py"),
}

M = Mutant
MUTANTS: tuple[Mutant, ...] = (
    # -- Cox partial likelihood (nn/losses.py) -------------------------------------------
    M("cox-sort-ascending", "heads/cox/loss.py", 'order = np.argsort(-time, kind="stable")',
      'order = np.argsort(time, kind="stable")', "risk sets sorted the wrong way"),
    M("cox-scale-by-rows", "heads/cox/loss.py", "else 1.0 / max(risk_sets.n_events, 1)",
      "else 1.0 / max(len(risk_sets.order), 1)", "loss averaged over rows, not events"),
    M("cox-loss-sign", "heads/cox/loss.py", "loss = ops.dot(scored, den - eta) * scale",
      "loss = ops.dot(scored, eta - den) * scale", "sign of the loss"),
    M("cox-efron-sign", "heads/cox/loss.py", "den = lrs + corr", "den = lrs - corr", "Efron correction sign"),
    M("cox-grad-sign", "heads/cox/loss.py", "grad = ops.exp(eta + after) - scored",
      "grad = ops.exp(eta + after) + scored", "sign in the analytic gradient"),
    M("cox-efron-rank", "heads/cox/loss.py", "return np.where(e > 0, rank / np.maximum(d, 1.0), 0.0)",
      "return np.where(e > 0, (rank + 1) / np.maximum(d, 1.0), 0.0)", "Efron fraction off by one"),
    M("cox-tied-riskset", "heads/cox/loss.py", "lrs = lrs[risk_sets.last]", "lrs = lrs[risk_sets.first]",
      "tied rows left out of their own risk set"),
    # -- PAMM loss and module (nn/pamm.py) -------------------------------------------------
    M("pamm-offset-dropped", "heads/pamm/module.py", "linear = log_hazard.float() + log_exposure",
      "linear = log_hazard.float()", "log-exposure offset dropped from the event term"),
    M("pamm-exposure-dropped", "heads/pamm/module.py", "nll = exposure * torch.exp(log_hazard.float()) - status * linear",
      "nll = torch.exp(log_hazard.float()) - status * linear", "exposure dropped from the rate"),
    M("pamm-mean-over-cells", "heads/pamm/module.py", "return global_mean(nll.sum(), at_risk.sum())",
      "return global_mean(nll.sum(), nll.numel())", "averaged over all cells, not at-risk ones"),
    M("pamm-deep-left-out", "heads/pamm/module.py", 'log_hazard = out["eta"] + (self.baseline_basis @ self.baseline)[None, :]',
      'log_hazard = out["structured"] + (self.baseline_basis @ self.baseline)[None, :]',
      "deep part left out of the trained hazard"),
    M("pamm-penalty-constant", "heads/pamm/module.py", "return 0.5 * coef @ self.penalty @ coef",
      "return coef @ self.penalty @ coef", "penalty twice too large"),
    M("pamm-penalty-dropped", "heads/pamm/head.py", "return nll + module.penalty_value() / n_cells",
      "return nll", "smoothing penalty dropped from the deep loss"),
    M("pamm-refit-without-deep", "heads/pamm/head.py", "offset = rows.offset + (0.0 if shift is None else shift[rows.subject])",
      "offset = rows.offset", "deep part left out of the final refit"),
    M("pamm-coef-scale", "heads/pamm/head.py", "est.coef_ = fit.coef[index] / scale",
      "est.coef_ = fit.coef[index] * scale", "coefficients back-scaled the wrong way"),
    M("pamm-cov-unscaled", "heads/pamm/head.py",
      "covariance = fit.covariance[np.ix_(index, index)] / np.outer(scale, scale)",
      "covariance = fit.covariance[np.ix_(index, index)]", "covariance not back-scaled"),
    # -- PED (data/ped.py) ----------------------------------------------------------------------
    M("ped-interval-side", "heads/pamm/ped.py",
      'k = np.searchsorted(cuts, np.asarray(time, dtype=np.float64), side="left") - 1',
      'k = np.searchsorted(cuts, np.asarray(time, dtype=np.float64), side="right") - 1',
      "a time on a cut put in the next interval"),
    M("ped-full-width-exposure", "heads/pamm/ped.py", "exposure = stop - cuts[interval]",
      "exposure = cuts[interval + 1] - cuts[interval]", "last interval gets its full width"),
    M("ped-events-after-horizon", "heads/pamm/ped.py", "observed = event & (time <= cuts[-1])",
      "observed = event", "events after the last cut counted"),
    M("ped-status-off-by-one", "heads/pamm/ped.py", "status = (observed[subject] & (interval == last[subject]))",
      "status = (observed[subject] & (interval == last[subject] - 1))", "event in the previous interval"),
    M("ped-dense-exposure", "heads/pamm/ped.py",
      "exposure = np.clip(time[:, None] - cuts[None, :-1], 0.0, widths[None, :])",
      "exposure = np.clip(time[:, None] - cuts[None, 1:], 0.0, widths[None, :])", "dense exposure from the wrong cut"),
    M("ped-cumhaz-partial", "heads/pamm/ped.py",
      "return cumulative[k] + hazard[k] * (np.asarray(times) - cuts[k])[:, None]",
      "return cumulative[k]", "cumulative hazard drops the partial interval"),
    M("ped-quantile-cuts", "heads/pamm/ped.py", "points = np.quantile(event_times, np.arange(1, cuts + 1) / cuts)",
      "points = np.quantile(event_times, np.arange(cuts) / cuts)", "cut quantiles off by one"),
    # -- orthogonalization -------------------------------------------------------------------
    M("orth-skipped-in-training", "nn/orthogonalization.py", "            return orthogonal_complement(latent, design, weight)",
      "            return latent", "cell skipped during training (the refit would mask it)"),
    M("orth-no-intercept", "nn/orthogonalization.py",
      "    x1 = with_intercept(design).to(latent.dtype)\n    if weight is None:",
      "    x1 = design.to(latent.dtype)\n    if weight is None:", "projection without the intercept"),
    M("orth-predict-sign", "nn/orthogonalization.py", "return latent - x1 @ self.projection.to(latent.dtype)",
      "return latent + x1 @ self.projection.to(latent.dtype)", "sign of the stored projection"),
    # -- families --------------------------------------------------------------------------------
    M("poisson-lgamma-dropped", "heads/distributional/families.py", "return y * eta - torch.exp(eta) - torch.lgamma(y + 1)",
      "return y * eta - torch.exp(eta)", "Poisson log-likelihood without log y!"),
    M("bernoulli-softplus-sign", "heads/distributional/families.py", "return y * eta - nn.functional.softplus(eta)",
      "return y * eta + nn.functional.softplus(eta)", "Bernoulli log-likelihood sign"),
    M("gamma-rate-inverted", "heads/distributional/families.py", 'return Gamma(shape, shape / params["loc"], validate_args=False)',
      'return Gamma(shape, params["loc"] / shape, validate_args=False)', "gamma rate inverted"),
    M("negbin-variance", "heads/distributional/families.py", 'return params["loc"] + params["scale"] * params["loc"] ** 2',
      'return params["loc"] + params["scale"] * params["loc"]', "negative binomial variance"),
    M("lognormal-mean", "heads/distributional/families.py", 'return torch.exp(params["loc"] + params["scale"] ** 2 / 2)',
      'return torch.exp(params["loc"])', "log-normal mean without the variance term"),
    M("laplace-variance", "heads/distributional/families.py", 'return 2 * params["scale"] ** 2',
      'return params["scale"] ** 2', "Laplace variance constant"),
    M("beta-swapped", "heads/distributional/families.py", "return Beta(mu * phi, (1 - mu) * phi, validate_args=False)",
      "return Beta((1 - mu) * phi, mu * phi, validate_args=False)", "beta shape parameters swapped"),
    M("logit-link-sign", "heads/distributional/families.py", "return np.log(value) - np.log1p(-value)",
      "return np.log(value) + np.log1p(-value)", "logit link sign"),
    # -- distributional regression, deep part ----------------------------------------------
    M("ssdr-penalty-dropped", "heads/distributional/deep.py",
      "nll = nll + 0.5 * (w @ matrix.to(w.device) @ w) / n_rows", "nll = nll + 0.0 * (w @ w)",
      "smoothing penalty dropped from the deep loss"),
    M("ssdr-penalty-columns", "heads/distributional/deep.py",
      "slice(s.columns.start - 1, s.columns.stop - 1)", "slice(s.columns.start, s.columns.stop)",
      "penalty applied to the wrong weights (off by one)"),
    M("ssdr-loc-weights", "heads/distributional/deep.py",
      "location.structured.weight.copy_(torch.as_tensor(coef[0][1:], dtype=torch.float32)[None, :])",
      "location.structured.weight.copy_(torch.as_tensor(coef[0][:-1], dtype=torch.float32)[None, :])",
      "location weights misaligned"),
    M("ssdr-intercept-index", "heads/distributional/deep.py", "module.intercepts[j] = float(coef[j + 1][0])",
      "module.intercepts[j] = float(coef[j][0])", "further parameters start from the wrong intercept"),
    M("ssdr-scale-columns", "heads/distributional/head.py",
      'arrays = {**state.arrays, **{f"structured_{n}": m[:, 1:].astype(np.float32)',
      'arrays = {**state.arrays, **{f"structured_{n}": m[:, :-1].astype(np.float32)',
      "scale columns misaligned in training"),
    M("ssdr-refit-without-deep", "heads/distributional/head.py",
      "return self.fit_classical(module, state, [deep] + [None] * (len(matrices) - 1), init=start.coef)",
      "return self.fit_classical(module, state, [None] * len(matrices), init=start.coef)", "deep part left out of the final refit"),
    M("ssdr-nll-sign", "heads/distributional/deep.py",
      'nll = -global_mean(log_prob.sum(), len(log_prob))',
      'nll = global_mean(log_prob.sum(), len(log_prob))', "deep loss sign"),
    # -- GLM (IRLS) --------------------------------------------------------------------------------
    M("glm-weights", "heads/pamm/glm.py", "w = prob.weights * d**2 / _variance(prob.family, mu)",
      "w = prob.weights * d / _variance(prob.family, mu)", "IRLS weights with d, not d^2"),
    M("glm-offset-in-z", "heads/pamm/glm.py", "z = eta - prob.offset + (prob.y - mu) / d",
      "z = eta + (prob.y - mu) / d", "offset left in the working response"),
    M("glm-penalty-constant", "heads/pamm/glm.py", "new = _solve(prob.gram(w) + 2 * S, prob.crossprod(w * z))",
      "new = _solve(prob.gram(w) + S, prob.crossprod(w * z))", "penalty constant"),
    M("glm-poisson-loglik", "heads/pamm/glm.py", "terms = special.xlogy(y, mu) - mu - special.gammaln(y + 1)",
      "terms = special.xlogy(y, mu) - mu", "Poisson log-likelihood without log y!"),
    M("glm-edf-unpenalized", "heads/pamm/glm.py", "influence = np.linalg.pinv(inner.gram + 2 * S) @ inner.gram",
      "influence = np.linalg.pinv(inner.gram) @ inner.gram", "edf ignores the penalty"),
    # -- classical Cox ------------------------------------------------------------------------------
    M("cox-breslow-shift-sign", "heads/cox/fitter.py",
      "increments = blocks.event_count / current.s0 * np.exp(-current.shift)",
      "increments = blocks.event_count / current.s0 * np.exp(current.shift)", "Breslow baseline scaling"),
    M("breslow-shift-dropped", "heads/cox/fitter.py", "increments = deaths / risk[start] * np.exp(-shift)",
      "increments = deaths / risk[start]", "Breslow for a linear predictor, shift dropped"),
    M("breslow-tied-riskset", "heads/cox/fitter.py", 'start = np.searchsorted(t, event_times, side="left")',
      'start = np.searchsorted(t, event_times, side="right")', "tied rows left out of the risk set"),
    M("cox-gradient-sign", "heads/cox/fitter.py", "gradient = self.x_event_sum - a @ s1 + b @ d1",
      "gradient = self.x_event_sum - a @ s1 - b @ d1", "Efron term sign in the gradient"),
    M("cox-loglik-shift", "heads/cox/fitter.py", "loglik = loglik_events - float(log_phi.sum()) - shift * len(bl.tie_group)",
      "loglik = loglik_events - float(log_phi.sum()) + shift * len(bl.tie_group)", "log-likelihood shift sign"),
    M("cox-stops-early", "heads/cox/fitter.py", "converged = bool(np.max(np.abs(step), initial=0.0) < tol)",
      "converged = bool(np.max(np.abs(step), initial=0.0) > tol)", "Newton stops after one step"),
    M("cox-efron-phi-sign", "heads/cox/fitter.py", "phi -= np.multiply(frac, np.take(d0, bl.tie_group), out=terms[1])",
      "phi += np.multiply(frac, np.take(d0, bl.tie_group), out=terms[1])", "Efron denominator sign"),
    # -- distributional Newton fit ----------------------------------------------------------------
    M("dist-edf", "heads/distributional/fitter.py", "edf = float(np.trace(covariance @ info))",
      "edf = float(np.trace(info))", "edf from the information alone"),
    M("dist-penalty-constant", "heads/distributional/fitter.py",
      "return -self.log_likelihood(theta) + 0.5 * theta @ self.penalty @ theta",
      "return -self.log_likelihood(theta) + theta @ self.penalty @ theta", "penalty constant"),
    M("dist-covariance-unpenalized", "heads/distributional/fitter.py",
      "covariance = np.linalg.pinv((penalized + penalized.T) / 2)", "covariance = np.linalg.pinv((info + info.T) / 2)",
      "covariance without the penalty"),
    # -- metrics ----------------------------------------------------------------------------------------
    M("harrell-sign", "metrics/_concordance.py",
      'return float(concordance_index_censored(y["event"], y["time"], risk)[0])',
      'return float(concordance_index_censored(y["event"], y["time"], -risk)[0])', "risk sign in C"),
    M("uno-train-ignored", "metrics/_concordance.py", "return float(concordance_index_ipcw(train, y, risk, tau=float(tau))[0])",
      "return float(concordance_index_ipcw(y, y, risk, tau=float(tau))[0])", "censoring from y_true"),
    M("y-train-ignored", "metrics/_validation.py", '    return check_target(y_train, "y_train")',
      "    return y_true", "y_train ignored by every IPCW metric"),
    M("auc-train-swapped", "metrics/_auc.py", "train, _censor_after(y, times[-1]), risk, times",
      "y, _censor_after(y, times[-1]), risk, times", "td-AUC censoring from y_true"),
    M("auc-censor-boundary", "metrics/_auc.py", 'out["event"] &= out["time"] <= last_time',
      'out["event"] &= out["time"] < last_time', "event at the last time censored"),
    M("brier-train-swapped", "metrics/_brier.py",
      "times, scores = sksurv_metrics.brier_score(train, _clip_times(y, train), survival, times)",
      "times, scores = sksurv_metrics.brier_score(y, _clip_times(y, train), survival, times)",
      "Brier censoring from y_true"),
    M("ibs-train-swapped", "metrics/_brier.py",
      "sksurv_metrics.integrated_brier_score(train, _clip_times(y, train), survival, times)",
      "sksurv_metrics.integrated_brier_score(y, _clip_times(y, train), survival, times)",
      "IBS censoring from y_true"),
    # -- late fusion -----------------------------------------------------------------------------------
    M("late-in-sample-stacking", "estimators/late.py", "member = clone(est).fit(X.iloc[train], target[train])",
      "member = clone(est).fit(X, target)", "stacking on in-sample predictions"),
    M("late-mean-weights", "estimators/late.py", "self.weights_ = np.full(len(names), 1.0 / len(names))",
      "self.weights_ = np.full(len(names), 1.0)", "mean combination sums instead"),
    M("late-baseline-without-eta", "estimators/late.py",
      'times, cumhaz = breslow_cumulative_hazard(target["time"], target["event"], eta)',
      'times, cumhaz = breslow_cumulative_hazard(target["time"], target["event"], 0 * eta)',
      "baseline hazard ignores the combined predictor"),
    M("late-hazard-sign", "estimators/survival.py", "np.outer(values, np.exp(self.predict(X)))",
      "np.outer(values, np.exp(-self.predict(X)))", "hazard ratio sign"),
    # -- image standardization ------------------------------------------------------------------------
    M("pixels-std-dropped", "nn/encoders/pixels.py", "return (x - mean) / std", "return x - mean",
      "no division by the standard deviation"),
    M("pixels-no-divisor", "nn/encoders/pixels.py", "self.pixel_divisor = float(round(1.0 / pixel_scale))",
      "self.pixel_divisor = 1.0", "uint8 not scaled to [0, 1]"),
    M("pixels-moments-scale", "data/inputs.py", "mean, std = _channel_moments(images, self.pixel_scale_)",
      "mean, std = _channel_moments(images, 1.0)", "statistics on the 0-255 scale"),
    # -- deep Cox training ---------------------------------------------------------------------------------
    M("deepsurv-loss-sign", "heads/cox/head.py",
      'return cox_ph_loss(outputs["eta"], batch["time"], batch["event"], ties)',
      'return cox_ph_loss(-outputs["eta"], batch["time"], batch["event"], ties)', "deep Cox trained backwards"),
    M("deepsurv-refit-without-deep", "heads/cox/head.py",
      "fit = fit_cox(self.design, self.time, self.event, ties=est.ties, offset=deep, init=init, **self.options)",
      "fit = fit_cox(self.design, self.time, self.event, ties=est.ties, offset=None, init=init, **self.options)",
      "deep part left out of the final refit"),
)


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed, survived, not applicable, timeout
    line: int | None = None
    by: str = ""
    seconds: float = 0.0


def _drop_bytecode(path: Path) -> None:
    for pyc in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
        pyc.unlink(missing_ok=True)


def _first_failure(output: str) -> str:
    match = re.search(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.MULTILINE)
    if match:
        return match.group(1)
    return "collection error" if "error" in output.lower() else "?"


def run_tests(tests: tuple[str, ...], timeout: float) -> tuple[int | None, str]:
    """Run pytest on ``tests``; return (exit code or None on timeout, output)."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
               "-p", "no:randomly", *tests]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None, ""
    return done.returncode, done.stdout + done.stderr


def probe(mutant: Mutant, timeout: float) -> Outcome:
    """Apply one mutant, run its tests, restore the file."""
    path = PACKAGE / mutant.path
    source = path.read_text()
    if source.count(mutant.original) != 1:
        return Outcome(mutant, "not applicable")
    line = source[: source.index(mutant.original)].count("\n") + 1
    start = time.perf_counter()
    try:
        path.write_text(source.replace(mutant.original, mutant.replacement))
        _drop_bytecode(path)
        code, output = run_tests(TESTS[mutant.path], timeout)
    finally:
        path.write_text(source)
        _drop_bytecode(path)
    seconds = time.perf_counter() - start
    if code is None:
        return Outcome(mutant, "killed (timeout)", line, "timeout", seconds)
    if code == 0:
        return Outcome(mutant, "survived", line, "", seconds)
    return Outcome(mutant, "killed", line, _first_failure(output), seconds)


def table(outcomes: list[Outcome]) -> str:
    """The results as a markdown table with the kill rate."""
    applicable = [o for o in outcomes if o.status != "not applicable"]
    killed = [o for o in applicable if o.status.startswith("killed")]
    rate = len(killed) / max(len(applicable), 1)
    lines = [
        f"Killed {len(killed)} of {len(applicable)} applicable mutants ({rate:.0%}); "
        f"{len(outcomes) - len(applicable)} not applicable.",
        "",
        "| mutant | where | bug | outcome | killed by | s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for o in outcomes:
        where = f"{o.mutant.path}:{o.line}" if o.line else o.mutant.path
        lines.append(f"| {o.mutant.name} | {where} | {o.mutant.what} | {o.status} | {o.by} | {o.seconds:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="mutant names to run")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per mutant")
    parser.add_argument("--output", type=Path, help="write the markdown table here")
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    args = parser.parse_args(argv)
    mutants = [m for m in MUTANTS if not args.only or m.name in args.only]
    if args.list:
        for m in mutants:
            print(f"{m.name:32s} {m.path:30s} {m.what}")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # restore the file when killed
    outcomes = []
    for m in mutants:
        outcome = probe(m, args.timeout)
        print(f"{m.name:32s} {outcome.status:16s} {outcome.by} ({outcome.seconds:.0f} s)", flush=True)
        outcomes.append(outcome)
    report = table(outcomes)
    print(report)
    if args.output:
        args.output.write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
