"""The backtest's one picture: accuracy over the windows per policy, with its retrainings marked.

matplotlib's Agg backend renders to a file without a display, so the PNG is the same on a laptop,
a CI runner and a container. Deployed retrainings are triangles on the policy's line, rejected
ones open circles, each on the first window the new model served (or would have); known
concept changes (the generator's) are dashed vertical lines.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["plot_accuracy"]

_COLOURS = {"never": "#7f7f7f", "every": "#1f77b4", "drift": "#d62728"}


def plot_accuracy(
    results: Sequence[Mapping[str, Any]], path: Path, *, title: str = "", changes: Sequence[float] = ()
) -> Path:
    """Write the PNG to `path`; `changes` are window positions (fractional) of concept changes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 4.8), dpi=110)
    for result in results:
        windows = result.get("perWindow") or []
        if not windows:
            continue
        name = str(result["policy"])
        colour = _COLOURS.get(name)
        xs = [w["index"] for w in windows]
        ys = [w.get("accuracy") if _finite(w.get("accuracy")) else math.nan for w in windows]
        axes.plot(xs, ys, marker=".", linewidth=1.6, label=name, color=colour)
        deployed = _marks(windows, ys, "deployed")
        rejected = _marks(windows, ys, "rejected")
        if deployed:
            axes.scatter(
                [x for x, _ in deployed],
                [y for _, y in deployed],
                marker="^",
                s=60,
                color=colour,
                zorder=3,
                label=f"{name}: retrained, deployed",
            )
        if rejected:
            axes.scatter(
                [x for x, _ in rejected],
                [y for _, y in rejected],
                marker="o",
                s=45,
                facecolors="none",
                edgecolors=colour,
                zorder=3,
                label=f"{name}: retrained, rejected",
            )
    for number, position in enumerate(changes, start=1):
        axes.axvline(position, linestyle="--", color="#444444", linewidth=1)
        axes.annotate(
            f"change {number}",
            (position, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            fontsize=8,
        )
    axes.set_xlabel("window (a mark sits on the first window the retrained model served, or would have)")
    axes.set_ylabel("accuracy of the served labels")
    axes.set_ylim(0.0, 1.0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower left", ncol=2)
    axes.set_title(title or "mlops backtest: accuracy per window")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def _marks(windows: Sequence[Mapping[str, Any]], ys: Sequence[float], outcome: str) -> list[tuple[int, float]]:
    """Where a retraining's model starts serving: a run before the window's traffic (labels,
    `every`) serves that window, a run after it (the drift check, the recheck) the next one."""
    marks = set()
    for window in windows:
        for run in window.get("runs", []):
            if run.get("outcome") == outcome:
                marks.add(window["index"] + (1 if run.get("phase") == "end" else 0))
    return [(index, ys[index]) for index in sorted(marks) if index < len(ys)]


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(float(value))
