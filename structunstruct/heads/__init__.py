"""The heads: each model's math in one package.

- :mod:`~structunstruct.heads.cox`: the Cox model (mini-batch partial likelihood,
  Newton-Raphson fitter, Breslow baseline, risk-set memory) behind
  :class:`~structunstruct.DeepSurv`;
- :mod:`~structunstruct.heads.pamm`: piecewise exponential additive mixed models
  (PED split, interval terms, penalized Poisson GLM fitter, torch module, effects)
  behind :class:`~structunstruct.DeepPAMM`;
- :mod:`~structunstruct.heads.distributional`: distributional regression (families,
  Newton fitter, structured parts, deep loss) behind
  :class:`~structunstruct.SemiStructuredRegressor`;
- :mod:`~structunstruct.heads.discrete`: the discrete-time logistic-hazard model (cut
  points, person-period Bernoulli GLM, torch module) behind :class:`~structunstruct.MultiSurv`.

Each package's ``head.py`` holds the head the estimators' one fit template calls
(:class:`~structunstruct.estimators.base.Head`): check the target, fit the classical
model, wrap the additive predictor, give the loss, refit and store the fitted state.
"""
