"""The piecewise exponential additive mixed model head.

``ped``: piecewise exponential data (split at cut points, exposures, hazard integrals);
``terms``: baseline, time-varying and random-effect terms of the interval design;
``glm``: the penalized Poisson GLM fitter; ``module``: the torch module and loss;
``effects``: partial effects with bands; ``head``: the head of :class:`~structunstruct.DeepPAMM`.
"""
