"""report.html's charts: matplotlib figures as inline SVG, with numbered axes and text kept as text."""

import io

import numpy as np

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def svg_of(figure, name: str) -> str:
    """The figure as an <svg> element for an HTML page; name salts its ids, so charts on one page never share
    a clip path id."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def new_figure(title: str, x_label: str, y_label: str, unit_range: bool = False):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.8, 3.0), dpi=100)
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.grid(alpha=0.3)
    if unit_range:
        axes.set_ylim(0, 1.02)
    return figure, axes


def epoch_chart(series: dict[str, list[tuple[int, float]]], title: str, y_label: str, unit_range: bool = False) -> str:
    """One line per stage over the run's epochs, each epoch a point (a one-epoch stage is one visible dot)."""
    from matplotlib.ticker import MaxNLocator

    if not any(series.values()):
        return ""
    figure, axes = new_figure(title, "epoch (all stages)", y_label, unit_range)
    for index, (name, points) in enumerate(series.items()):
        if points:
            xs, ys = zip(*points)
            axes.plot(xs, ys, marker="o", markersize=4, color=COLOURS[index % len(COLOURS)], label=name)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(fontsize=8)
    return svg_of(figure, title)


def pr_chart(curves: dict[str, tuple[np.ndarray, np.ndarray]], marks: dict[str, list[tuple[float, float, str]]],
             title: str) -> str:
    """Precision over recall, one line per curve, with each curve's chosen operating points marked and named."""
    figure, axes = new_figure(title, "recall", "precision", unit_range=True)
    axes.set_xlim(0, 1.02)
    for index, (name, (recall, precision)) in enumerate(curves.items()):
        colour = COLOURS[index % len(COLOURS)]
        axes.plot(recall, precision, color=colour, label=name, linewidth=1.4)
        # Marks at one point (a global threshold equal to the tags' own) share one dot and one label: drawn apart,
        # their labels printed over each other.
        at_point: dict[tuple, list[str]] = {}
        for mark_recall, mark_precision, label in marks.get(name, []):
            at_point.setdefault((round(mark_recall, 3), round(mark_precision, 3)), []).append(label)
        for (mark_recall, mark_precision), labels in at_point.items():
            axes.plot([mark_recall], [mark_precision], marker="o", markersize=6, color=colour,
                      markeredgecolor="black")
            axes.annotate(" = ".join(labels), (mark_recall, mark_precision), textcoords="offset points",
                          xytext=(4, 4), fontsize=7)
    # Below the axes, not on them: inside, it covered the low-precision curves of the weakest tags and their marks.
    axes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    return svg_of(figure, title)
