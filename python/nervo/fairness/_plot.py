"""Bar chart of a MetricFrame: one panel per metric, one bar per group, the overall value dashed."""
from __future__ import annotations

import os


def require_matplotlib(call: str):
    """``matplotlib.figure.Figure``, or an ImportError that says how to install the extra."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(f"{call} needs matplotlib, which is not installed: "
                          f"pip install 'nervo[plot]'") from exc
    return Figure


def plot_by_group(frame, path, *, metrics=None, title=None) -> str:
    """Write a bar-chart PNG of ``frame`` (a :class:`MetricFrame`) to ``path``; returns ``path``.

    Args:
        metrics: the metric names to draw (default: all but ``count``).
    Raises:
        ImportError: matplotlib missing (install ``nervo[plot]``).
        ValueError: an unknown metric name.
    """
    call = "nervo.fairness.plot_by_group"
    Figure = require_matplotlib(call)
    names = frame.metric_names
    if metrics is None:
        metrics = [m for m in names if m != "count"] or names
    for m in metrics:
        if m not in names:
            raise ValueError(f"{call}: metric {m!r} is not in the frame ({names})")
    by_group = frame.by_group
    overall = frame.overall
    if len(names) == 1:
        by_group = {g: {names[0]: v} for g, v in by_group.items()}
        overall = {names[0]: overall}
    labels = [", ".join(map(str, g)) if isinstance(g, tuple) else str(g) for g in by_group]
    fig = Figure(figsize=(max(4.0, 3.2 * len(metrics)), 3.6), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, m in zip(axes, metrics):
        vals = [row[m] for row in by_group.values()]
        ax.bar(range(len(vals)), vals, color="#4C72B0")
        ax.axhline(overall[m], color="#C44E52", linestyle="--", linewidth=1, label="overall")
        ax.set_xticks(range(len(vals)), labels, rotation=30 if len(labels) > 4 else 0)
        ax.set_title(m)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.savefig(os.fspath(path), format="png", dpi=100)
    return path
