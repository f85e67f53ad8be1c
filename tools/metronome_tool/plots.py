"""PNG plots of reports with matplotlib (Debian's python3-matplotlib, Agg backend: no display):
per-guest CPU shares per policy, and the slice timeline of the first 50 ms of a run (the
report's "timeline": who had the CPU when, and when the CPU idled on a guest's behalf)."""
import sys


def _pyplot():
    """matplotlib.pyplot, or None when matplotlib cannot be imported. A Python from pyenv or a
    virtual environment does not see Debian's package: its folder is tried too (same 3.x ABI)."""
    try:
        import matplotlib
    except ImportError:
        debian = "/usr/lib/python3/dist-packages"
        if debian in sys.path:
            return None
        sys.path.append(debian)
        try:
            import matplotlib
        except ImportError:
            return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def available():
    return _pyplot() is not None


COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
IDLE_COLOUR = "#bbbbbb"


def shares(title, labelled, path):
    """Grouped bars: one group per labelled report (a policy), one bar per guest's share of the
    CPU, plus the CPU's idle share. A guest's slot time it did not use (halted on its behalf
    under `fixed`) is drawn hatched on top of its bar."""
    plt = _pyplot()
    names = []
    for _, rep in labelled:
        for g in rep["guests"]:
            if g["name"] not in names:
                names.append(g["name"])
    bars = names + ["(idle)"]
    width = 0.8 / len(bars)
    fig, ax = plt.subplots(figsize=(max(6, 2.2 * len(labelled) + 2), 4.2))
    for b, name in enumerate(bars):
        xs, ys, halted = [], [], []
        for i, (_, rep) in enumerate(labelled):
            total = rep["duration_ticks"]
            if name == "(idle)":
                value, extra = rep["idle_ticks"] * 100 / total, 0
            else:
                g = next((g for g in rep["guests"] if g["name"] == name), None)
                if g is None:
                    continue
                value = g["ran_ticks"] * 100 / total
                extra = (g["halted_ticks"] or 0) * 100 / total
            xs.append(i - 0.4 + width * (b + 0.5))
            ys.append(value)
            halted.append(extra)
        colour = IDLE_COLOUR if name == "(idle)" else COLOURS[b % len(COLOURS)]
        ax.bar(xs, ys, width, color=colour, label=name)
        if any(halted):
            ax.bar(xs, halted, width, bottom=ys, color="white", edgecolor=colour, hatch="//",
                   linewidth=0.5)
        for x, y in zip(xs, ys):
            ax.text(x, y + 0.5, f"{y:.1f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(labelled)))
    ax.set_xticklabels([label for label, _ in labelled], fontsize=9)
    ax.set_ylabel("% of the CPU (ran; hatched: halted in its own slot)")
    ax.set_title(title, fontsize=10)
    ax.set_ylim(0, max(45, ax.get_ylim()[1] * 1.25))  # room for the legend above the bars
    ax.legend(fontsize=8, ncol=min(len(bars), 6), loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def timelines(title, labelled, path):
    """One panel per labelled report: a row per guest, its running spans as solid bars and the
    time the CPU idled on its behalf shaded; idle on nobody's behalf in the bottom row."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(labelled), 1, figsize=(10, 1.0 + 1.45 * len(labelled)),
                             squeeze=False)
    for (label, rep), ax in zip(labelled, axes[:, 0]):
        names = [g["name"] for g in rep["guests"]]
        per_ms = rep["tsc_hz"] / 1000
        timeline = rep.get("timeline", {"spans": [], "window_ticks": 0})
        rows = {i: [] for i in range(len(names))}
        halted = {i: [] for i in range(len(names))}
        idle = []
        for guest, kind, start, end in timeline["spans"]:
            span = (start / per_ms, (end - start) / per_ms)
            if kind == "idle":
                idle.append(span)
            elif kind == "halted":
                halted[guest].append(span)
            else:
                rows[guest].append(span)
        labels = names + ["(idle)"]
        for i in range(len(names)):
            y = len(labels) - 1 - i
            colour = COLOURS[i % len(COLOURS)]
            # An edge line keeps spans narrower than a pixel (a tick's work) visible.
            ax.broken_barh(rows[i], (y - 0.35, 0.7), facecolors=colour, edgecolor=colour,
                           linewidth=0.8)
            ax.broken_barh(halted[i], (y - 0.35, 0.7), facecolors=colour, alpha=0.25,
                           hatch="//", edgecolor=colour, linewidth=0)
        ax.broken_barh(idle, (-0.35, 0.7), facecolors=IDLE_COLOUR)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(list(reversed(labels)), fontsize=8)
        ax.set_xlim(0, timeline["window_ticks"] / per_ms if timeline["window_ticks"] else 50)
        ax.set_title(label, fontsize=9, loc="left")
        ax.grid(axis="x", alpha=0.3)
        if timeline.get("dropped"):
            ax.text(0.99, 0.9, f"{timeline['dropped']} spans not recorded", fontsize=7,
                    ha="right", transform=ax.transAxes)
    axes[-1, 0].set_xlabel("ms since the start of the run (solid: running; shaded: the CPU "
                           "idles in the guest's own slot; grey: idle)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
