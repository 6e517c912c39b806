"""The Cox proportional hazards head.

``loss``: the partial likelihood of a mini-batch (Efron/Breslow ties) and the risk-set
memory; ``fitter``: Newton-Raphson to convergence and the Breslow baseline hazard;
``head``: the head of :class:`~structunstruct.DeepSurv`.
"""
