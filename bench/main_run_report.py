#!/usr/bin/python3
"""The figures docs/results.md gives for a run of the main command, from its experiment.

    ./build/fmnist-nas export EXP --format json -o export.json
    /usr/bin/python3 bench/main_run_report.py EXP export.json [--seed-level 0.914]

Prints: the search's length and trials by budget and status; worker-slot use; when the
seed's level was first passed (wall and CPU minutes: wall x trialConcurrency x threads);
the best result over time; each stopped trial and its best result; the reserve the
runner kept at the search's end (runner.log) against the final training's real
duration; the final models and the ensemble. Standard library only.
"""
import argparse
import datetime
import json
import os
import re
import sys


def parse_time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def clock(seconds):
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def duration_of(text):
    """Seconds of a runner duration such as 1:02:03, 4:05 or 12.5s."""
    text = text.strip()
    if text.endswith("s"):
        return float(text[:-1])
    parts = [float(p) for p in text.split(":")]
    total = 0.0
    for p in parts:
        total = total * 60 + p
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("experiment")
    ap.add_argument("export")
    ap.add_argument("--seed-level", type=float, default=0.914)
    args = ap.parse_args()

    data = json.load(open(args.export))
    trials = data["trials"]
    config = data["experiment"]["config"]
    concurrency = int(config.get("trialConcurrency", 1))
    created = parse_time(data["experiment"]["created_at"])

    # The search: from the experiment's start to the last trial's end.
    ends = [parse_time(t["ended_at"]) - created for t in trials if t.get("ended_at")]
    search_s = max(ends) if ends else 0.0
    by_budget = {}
    for t in trials:
        params = t["parameters"]
        if isinstance(params, str):
            params = json.loads(params)
        budget = params.get("TRIAL_BUDGET", params.get("epochs"))
        key = round(float(budget), 3) if budget is not None else None
        by_budget.setdefault(key, {}).setdefault(t["status"], 0)
        by_budget[key][t["status"]] += 1
    print(f"search: {clock(search_s)}, {len(trials)} trials")
    for budget in sorted(by_budget, key=lambda b: (b is None, b)):
        counts = ", ".join(f"{n} {s}" for s, n in sorted(by_budget[budget].items()))
        print(f"  budget {budget}: {counts}")

    busy = sum(t.get("duration_s") or 0 for t in trials)
    if search_s > 0:
        print(f"worker slots used: {100 * busy / (concurrency * search_s):.1f}% "
              f"({busy / 60:.1f} of {concurrency * search_s / 60:.1f} slot-minutes)")

    # Every result as it arrived: (seconds after the start, value, trial).
    results = []
    for t in trials:
        for r, at in zip(t.get("intermediate") or [], t.get("intermediate_s") or []):
            value = r["default"] if isinstance(r, dict) else r
            results.append((at, value, t["trial_id"]))
        if t.get("final_default") is not None and t.get("final_s") is not None:
            results.append((t["final_s"], t["final_default"], t["trial_id"]))
    results.sort()
    threads = concurrency  # one thread per trial (the runner's cores / concurrency)
    first = next((r for r in results if r[1] >= args.seed_level), None)
    if first:
        print(f"seed's {args.seed_level:.3f} first passed at {first[0] / 60:.1f} wall minutes "
              f"({first[0] / 60 * threads:.1f} CPU-minutes), trial {first[2]}: {first[1]:.4f}")
    else:
        print(f"seed's {args.seed_level:.3f}: never passed")
    marks = [5, 10, 20, 40, 60, 80, 100]
    best, row = None, []
    i = 0
    for m in marks:
        while i < len(results) and results[i][0] <= m * 60:
            best = results[i][1] if best is None else max(best, results[i][1])
            i += 1
        if m * 60 <= search_s + 60:
            row.append(f"{m} min: {best:.4f}" if best is not None else f"{m} min: -")
    print("best so far: " + ", ".join(row))

    stopped = [t for t in trials if t["status"] in ("EARLY_STOPPED", "USER_CANCELED")]
    for t in stopped:
        values = [r["default"] if isinstance(r, dict) else r for r in t.get("intermediate") or []]
        best_t = max(values) if values else None
        print(f"stopped: trial {t['sequence']} {t['trial_id']} after {clock(t.get('duration_s') or 0)}"
              f", {len(values)} result(s), best {best_t}: {t.get('reason', '')}")

    # The reserve at the search's end, from the runner's log.
    log = os.path.join(args.experiment, "runner.log")
    reserve = None
    if os.path.exists(log):
        for line in open(log, errors="replace"):
            m = re.search(r"(\S+Z)  the search ends: the last (\S+) of maxExperimentDuration", line)
            if m:
                reserve = (parse_time(m.group(1)) - created, duration_of(m.group(2)))
                print(f"search ended at {clock(reserve[0])}: reserve {clock(reserve[1])}")
            if "not started:" in line or "finishes before the final training" in line:
                print("  " + line.strip()[:200])

    final = os.path.join(args.experiment, "final")
    ensemble = os.path.join(final, "ensemble.json")
    models = []
    for d in (final, os.path.join(final, "m2"), os.path.join(final, "m3")):
        path = os.path.join(d, "summary.json")
        if os.path.exists(path):
            s = json.load(open(path))
            models.append(s)
            tl = s.get("time_limit", {})
            print(f"final model {d}: {s.get('epochs_trained')} epochs (planned "
                  f"{tl.get('planned_epochs')}), {clock(s.get('seconds', 0))}, precision "
                  f"{s.get('precision')}, {s.get('threads')} thread(s): test "
                  f"{s.get('test_accuracy')} ({s.get('test_accuracy_without_tta')} without TTA)")
    if models and reserve:
        longest = max(m.get("seconds", 0) for m in models)
        print(f"final training {clock(longest)} against the reserve {clock(reserve[1])}: "
              f"{100 * (reserve[1] - longest) / longest:+.1f}%")
    if os.path.exists(ensemble):
        e = json.load(open(ensemble))
        print(f"ensemble of {len(e.get('models', []))}: test {e.get('test_accuracy')}"
              + (f" ({e['test_accuracy_without_tta']} without TTA)"
                 if "test_accuracy_without_tta" in e else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
