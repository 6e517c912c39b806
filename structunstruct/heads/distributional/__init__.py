"""The semi-structured deep distributional regression head.

``families``: the distribution families (registry) and the torch predictor of every
parameter; ``fitter``: the penalized Newton fitter of the structured parts; ``terms``:
each parameter's structured design; ``deep``: the network's loss and weights; ``head``:
the head of :class:`~structunstruct.SemiStructuredRegressor`.
"""
