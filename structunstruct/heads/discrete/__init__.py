"""The discrete-time (logistic-hazard) survival head of :class:`~structunstruct.MultiSurv`.

``cuts``: the time grid (pycox's ``LabTransDiscreteTime`` quantile scheme, or given);
``module``: the network, one logit per cut (deep features through the output layer,
structured terms shared by every cut); ``fitter``: the structured logistic-hazard model
as a Bernoulli GLM on person-period rows; ``head``: the head the fit template calls.
"""
