"""Interpretability: attributions of a model's class scores to its input features.

``saliency``, ``gradient_x_input``, ``smoothgrad``, ``integrated_gradients`` (with its
convergence delta) and ``occlusion`` take ``(model, x, target)`` and return an array shaped like
``x``; ``plot`` writes a heatmap overlay PNG; ``nervo explain`` runs them from the command line.
All are batched and bounded in memory by ``internal_batch_size``; the model is put in eval mode
and its parameters' ``.grad`` is left untouched.
"""
METHOD_NAMES = ("saliency", "gradient_x_input", "smoothgrad", "integrated_gradients", "occlusion")

__all__ = list(METHOD_NAMES) + ["plot", "METHODS", "METHOD_NAMES"]


def __getattr__(name):
    # Imported on first use: ``nervo.explain.cli`` (the CLI registration) must not pull in the
    # autograd stack just to build the argument parser.
    if name in METHOD_NAMES:
        from nervo.explain import attribution
        return getattr(attribution, name)
    if name == "plot":
        from nervo.explain._plot import plot
        return plot
    if name == "METHODS":
        from nervo.explain import attribution
        return {m: getattr(attribution, m) for m in METHOD_NAMES}
    raise AttributeError(f"module 'nervo.explain' has no attribute {name!r}")
