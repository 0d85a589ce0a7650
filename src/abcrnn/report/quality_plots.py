"""The plots of `abcrnn quality`, one per metric family: distributions, form, novelty, diversity.

Each plot shows the sample sets of the first run in the table (the best run's, in the workflow),
one colour per temperature, beside the real test tunes (grey) and the shuffled floor (dotted).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from abcrnn.analysis.distributions import FAMILIES, profile
from abcrnn.notation.melody import bars_per_part, two_part_form
from abcrnn.report.figures import plt, save
from abcrnn.analysis.quality import Measured, TuneSet
from abcrnn.analysis.similarity import within

REAL = "#808080"
MAX_PAIRS = 1500  # pairs drawn per set in the diversity plot (the mean is over all pairs)
CATEGORIES = 9  # categorical panels show the commonest categories of the test set, then "other"


def _shown(measured: Measured) -> list[TuneSet]:
    """The first run's sample sets, then the reference sets."""
    samples = [s for s in measured.sets if s.role == "samples"]
    first = [s for s in samples if s.run == samples[0].run
             and Path(s.directory).parent == Path(samples[0].directory).parent]
    return first + [s for s in measured.sets if s.role != "samples"]


def _name(s: TuneSet) -> str:
    if s.role == "ceiling":
        return "real test tunes"
    if s.role == "floor":
        return "shuffled (floor)"
    return "argmax" if s.label == "argmax" else f"T = {s.label}"


def _colours(sets: list[TuneSet]) -> dict[str, object]:
    samples = [s for s in sets if s.role == "samples" and s.label != "argmax"]
    cmap = plt.get_cmap("viridis")
    colours = {id(s): cmap(k / max(1, len(samples) - 1) * 0.85) for k, s in enumerate(samples)}
    colours.update({id(s): "tab:red" for s in sets if s.role == "samples" and s.label == "argmax"})
    colours.update({id(s): REAL if s.role == "ceiling" else "black" for s in sets if s.role != "samples"})
    return colours


def _style(s: TuneSet, colours) -> dict:
    if s.role == "ceiling":
        return {"color": REAL, "linewidth": 3.0, "alpha": 0.6}
    if s.role == "floor":
        return {"color": "black", "linestyle": ":", "linewidth": 1.2}
    return {"color": colours[id(s)], "linewidth": 1.4, "marker": "o", "markersize": 3}


def plot_quality(measured: Measured, copied: float, paths: dict[str, str | None]) -> None:
    sets = _shown(measured)
    colours = _colours(sets)
    if paths.get("distributions"):
        _distributions(sets, colours, Path(paths["distributions"]))
    if paths.get("form"):
        _form(sets, colours, measured, Path(paths["form"]))
    if paths.get("novelty"):
        _novelty(sets, colours, measured, copied, Path(paths["novelty"]))
    if paths.get("diversity"):
        _diversity(sets, colours, Path(paths["diversity"]))


def _distributions(sets: list[TuneSet], colours, path: Path) -> None:
    fig, axes = plt.subplots(2, 4, figsize=(17, 7.5), layout="constrained")
    reference = next(s for s in sets if s.role == "ceiling")
    for ax, family in zip(axes.flat, FAMILIES):
        label, kind = FAMILIES[family]
        ref = profile(reference.features, family)
        keys = list(ref)
        if kind != "smooth":
            keys = sorted(ref, key=lambda k: -ref[k])[:CATEGORIES] if kind == "category" else keys
            if kind == "notes" and len(keys) > 14:
                keys = sorted(sorted(ref, key=lambda k: -ref[k])[:14], key=keys.index)
        for s in sets:
            p = profile(s.features, family)
            if kind == "smooth":
                xs = np.array(list(p))
                ax.plot(xs, np.array(list(p.values())), label=_name(s),
                        **{k: v for k, v in _style(s, colours).items() if k not in ("marker", "markersize")})
                continue
            values = [p.get(k, 0.0) for k in keys] + [1.0 - sum(p.get(k, 0.0) for k in keys)]
            x = np.arange(len(values))
            if s.role == "ceiling":
                ax.bar(x, values, color=REAL, alpha=0.45, label=_name(s))
            else:
                ax.plot(x, values, label=_name(s), **_style(s, colours))
        if kind == "smooth":
            ax.set_xlim(0, 48 if family == "pitch_range" else 120)
            ax.set_ylabel("density")
        else:
            ax.set_xticks(np.arange(len(keys) + 1), [str(k) for k in keys] + ["other"],
                          rotation=45 if kind == "category" or family == "note_lengths" else 0, fontsize="small")
            ax.set_ylabel("share")
        ax.set_title(label, fontsize="medium")
        ax.grid(alpha=0.3)
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=len(names), frameon=False)
    fig.suptitle("What the notes do: generated tunes against real test tunes (grey)")
    save(fig, path)


def _form(sets: list[TuneSet], colours, measured: Measured, path: Path) -> None:
    fig, (bars_ax, parts_ax) = plt.subplots(1, 2, figsize=(15, 5), layout="constrained",
                                            gridspec_kw={"width_ratios": [3, 2]})
    measures = {"two-part repeated form (AABB)": lambda m: two_part_form(m),
                "ends on the key's tonic": lambda m: m.ends_on_tonic(),
                "final bar complete": lambda m: m.final_complete()}
    width = 0.8 / len(sets)
    x = np.arange(len(measures))
    for k, s in enumerate(sets):
        shares = [np.mean([bool(f(m)) for m in s.melodies]) if s.melodies else 0.0 for f in measures.values()]
        floor = s.role == "floor"
        bars_ax.bar(x + (k - (len(sets) - 1) / 2) * width, shares, width, label=_name(s),
                    color="white" if floor else colours[id(s)], hatch="////" if floor else None,
                    edgecolor="black" if floor else "white", linewidth=0.5)
    bars_ax.set_xticks(x, list(measures))
    bars_ax.set_ylim(0, 1.05)
    bars_ax.set_ylabel("share of tunes")
    bars_ax.grid(axis="y", alpha=0.3)
    bars_ax.legend(fontsize="small", ncol=2)
    edges = np.arange(-0.5, 25.0, 1.0)  # a bin per whole number of bars
    for s in sets:
        lengths = np.clip([bars_per_part(m) for m in s.melodies if m.notes], 0, 24)
        hist, _ = np.histogram(lengths, bins=edges)
        parts_ax.plot(np.arange(25), hist / max(1, len(lengths)), label=_name(s), **_style(s, colours))
    parts_ax.set_xlabel("bars per part (24 = 24 or more)")
    parts_ax.set_ylabel("share of tunes")
    parts_ax.set_xticks(range(0, 25, 4))
    parts_ax.grid(alpha=0.3)
    fig.suptitle("Form: parts, endings and bars, generated beside real tunes")
    save(fig, path)


def _strip(ax, sets: list[TuneSet], values: list, colours, means: list[float] | None = None) -> None:
    """A column of dots per set, jittered, with the set's mean as a bar."""
    rng = np.random.default_rng(0)  # jitter: the same figure every run
    for k, (s, v) in enumerate(zip(sets, values)):
        v = np.asarray(v, dtype=float)
        ax.scatter(k + rng.uniform(-0.25, 0.25, len(v)), v, s=9, alpha=0.6, color=colours[id(s)])
        mean = means[k] if means else (v.mean() if len(v) else np.nan)
        if not np.isnan(mean):
            ax.plot([k - 0.35, k + 0.35], [mean] * 2, color="black", linewidth=2)
    ax.set_xticks(range(len(sets)), [_name(s).replace(" (", "\n(") for s in sets])
    ax.grid(axis="y", alpha=0.3)


def _novelty(sets, colours, measured: Measured, copied: float, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(max(7, 1.3 * len(sets) + 2), 5), layout="constrained")
    index = measured.reference.index
    _strip(ax, sets, [[index.nearest(m).similarity for m in s.melodies] for s in sets], colours)
    ax.axhline(copied, color="firebrick", linestyle="--", linewidth=1)
    ax.text(len(sets) - 0.5, copied, f" copied (≥ {copied:g})", color="firebrick", va="bottom", ha="right")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("similarity to the nearest training tune")
    ax.set_title("Melodic novelty: each tune's nearest training tune (dots), the mean (bar)")
    save(fig, path)


def _diversity(sets, colours, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(max(7, 1.3 * len(sets) + 2), 5), layout="constrained")
    rng = np.random.default_rng(0)
    pairs = [np.asarray(within(s.grams)) for s in sets]
    shown = [p if len(p) <= MAX_PAIRS else rng.choice(p, MAX_PAIRS, replace=False) for p in pairs]
    means = [float(p.mean()) if len(p) else np.nan for p in pairs]
    _strip(ax, sets, shown, colours, means)
    real = sets.index(next(s for s in sets if s.role == "ceiling"))
    ax.axhline(means[real], color=REAL, linestyle="--")
    ax.set_yscale("symlog", linthresh=0.001, linscale=0.5)
    ax.set_ylim(0, 1.05)
    ticks = [0, 0.001, 0.01, 0.1, 1]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_ylabel("similarity of two tunes of the set (symlog)")
    ax.set_title("Diversity: every pair of tunes in a set (dots), the mean (bar); real tunes' mean dashed")
    save(fig, path)
