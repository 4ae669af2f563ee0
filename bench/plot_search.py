#!/usr/bin/python3
"""Search curves: the best validation accuracy found so far against wall time.

Reads experiments exported by `fmnist-nas export DIR --format json` (each result
carries the second it arrived, `intermediate_s` / `final_s`), draws one step curve
per experiment into an SVG or PNG (by the output's extension) and prints a
Markdown table of the figures docs/results.md quotes: the best result at given
wall times, when the seed's 91.4% was passed, and the trial counts.

    /usr/bin/python3 bench/plot_search.py --output docs/search-curves.svg a.json b.json ...

Every result counts, whatever its budget: a 1-epoch result of a multi-fidelity
tuner is a configuration found at that time, as an early epoch of a full trial is.
CPU-minutes are wall minutes times --cores (the trials keep every core busy).
"""

import argparse
import json
import sys

SEED_ACCURACY = 0.914  # the seed project's TPE search (README)


def label_of(experiment):
    """The tuner (or advisor) and assessor names of an exported experiment."""
    config = experiment.get("config", {})
    tuner = config.get("tuner") or config.get("advisor") or {}
    name = tuner.get("name", "?")
    assessor = (config.get("assessor") or {}).get("name")
    return name + (" + " + assessor if assessor else "")


def events_of(export, path):
    """(seconds, value) of every result of every trial, in arrival order."""
    events = []
    for trial in export["trials"]:
        if "intermediate_s" not in trial:
            sys.exit(f"plot_search.py: {path}: no result times (intermediate_s); "
                     "export it again with this fmnist-nas")
        for value, at in zip(trial["intermediate"], trial["intermediate_s"]):
            value = value["default"] if isinstance(value, dict) else value
            events.append((at, value))
        if trial.get("final_s") is not None and trial.get("final_default") is not None:
            events.append((trial["final_s"], trial["final_default"]))
    events.sort()
    return events


def best_so_far(events, maximize):
    """The step curve [(seconds, best)] of the running best value."""
    curve, best = [], None
    for at, value in events:
        if best is None or (value > best if maximize else value < best):
            best = value
            curve.append((at, best))
    return curve


def best_at(curve, seconds):
    value = None
    for at, best in curve:
        if at > seconds:
            break
        value = best
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exports", nargs="+", help="fmnist-nas export --format json files")
    parser.add_argument("--output", required=True, help="the plot: .svg or .png")
    parser.add_argument("--cores", type=float, default=2, help="cores the search used (default 2)")
    parser.add_argument("--at", default="5,10,15,20",
                        help="wall minutes for the table (default 5,10,15,20)")
    parser.add_argument("--title", default="Best validation accuracy so far, default space, 2 cores")
    parser.add_argument("--budget", type=float, default=0,
                        help="maxExperimentDuration in minutes: a line marks it (trials that "
                             "were running then still finish and report after it)")
    parser.add_argument("--labels", default="",
                        help="comma-separated names for the curves (default: tuner + assessor)")
    args = parser.parse_args()

    labels = [l.strip() for l in args.labels.split(",")] if args.labels else []
    if labels and len(labels) != len(args.exports):
        sys.exit("plot_search.py: --labels needs one name per export")
    runs = []
    for k, path in enumerate(args.exports):
        with open(path) as f:
            export = json.load(f)
        maximize = export["experiment"].get("optimize_mode", "maximize") == "maximize"
        curve = best_so_far(events_of(export, path), maximize)
        runs.append((labels[k] if labels else label_of(export["experiment"]), curve, export))

    minutes = [float(m) for m in args.at.split(",")]
    header = ["search"] + [f"best at {m:g} min" for m in minutes]
    header += [f"passes {SEED_ACCURACY:.1%} at (wall min / CPU-min)", "trials", "results",
               "best trial's epochs"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for label, curve, export in runs:
        row = [label]
        for m in minutes:
            value = best_at(curve, m * 60)
            row.append(f"{value:.4f}" if value is not None else "-")
        passed = next((at for at, best in curve if best > SEED_ACCURACY), None)
        row.append(f"{passed / 60:.1f} / {passed / 60 * args.cores:.1f}" if passed is not None
                   else "never")
        trials = export["trials"]
        row.append(str(len(trials)))
        row.append(str(sum(len(t["intermediate"]) for t in trials)))
        best = export.get("best") or {}
        budget = (best.get("parameters") or {}).get("TRIAL_BUDGET")
        row.append(f"{budget:g}" if budget is not None else "all")
        print("| " + " | ".join(row) + " |")

    import matplotlib
    matplotlib.use("Agg")  # no display
    import matplotlib.pyplot as plt
    matplotlib.rcParams["svg.hashsalt"] = "nnilib"  # the same data gives the same SVG

    fig, ax = plt.subplots(figsize=(8, 4.8))
    end = max((t for _, curve, _ in runs for t, _ in curve), default=60) / 60
    for label, curve, export in runs:
        if not curve:
            continue
        xs = [at / 60 for at, _ in curve] + [max(end, export["experiment"]["elapsed_s"] / 60)]
        ys = [best for _, best in curve] + [curve[-1][1]]
        ax.step(xs, ys, where="post", label=label, linewidth=1.6)
    ax.axhline(SEED_ACCURACY, color="grey", linestyle=":", linewidth=1)
    if args.budget > 0:
        ax.axvline(args.budget, color="black", linestyle="--", linewidth=0.8)
        ax.text(args.budget, 0.851, " budget", fontsize=8)
    ax.text(0.2, SEED_ACCURACY + 0.0005, "seed project's 91.4%", color="grey", fontsize=8)
    low = min((best for _, curve, _ in runs for _, best in curve[1:2]), default=0.85)
    ax.set_ylim(max(0.85, min(low, SEED_ACCURACY) - 0.01), None)
    ax.set_xlim(0, None)
    ax.set_xlabel("wall minutes")
    ax.set_ylabel("best validation accuracy so far")
    ax.set_title(args.title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.output, metadata={"Date": None} if args.output.endswith(".svg") else None)
    print(f"plot: {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
