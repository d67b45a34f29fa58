#!/usr/bin/env python3
"""Figures for bench/run.sh. `record` reads one run's directory (GNU time
files NAME.time: user s, system s, peak RSS KiB) and appends a JSON line;
`final` takes the medians of the records, the syscall counts of the traced
runs (strace -f -c files NAME.strace), writes bench/results/latest.json and
prints a table with the ratios chunkex / floor."""
import argparse
import glob
import json
import os
import platform
import statistics
import time

TARGET_WALL_RATIO = 1.2
TARGET_CPU_RATIO = 1.3
TARGET_RSS_MIB = 32
MIB = 1 << 20


def process_times(run_dir):
    """{process: {user_s, system_s, peak_rss_mib}} from the GNU time files."""
    figures = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "*.time"))):
        with open(path) as f:
            user, system, rss_kib = f.read().split()[-3:]
        name = os.path.basename(path)[: -len(".time")]
        figures[name] = {"user_s": float(user), "system_s": float(system),
                         "peak_rss_mib": round(int(rss_kib) / 1024, 1)}
    return figures


def record(args):
    processes = process_times(args.dir)
    line = {"kind": args.kind, "wall_s": round(args.wall_s, 3),
            "settled_s": round(args.settled_s, 1), "processes": processes}
    with open(args.append, "a") as f:
        f.write(json.dumps(line) + "\n")
    cpu = sum(p["user_s"] + p["system_s"] for p in processes.values())
    rss = max(p["peak_rss_mib"] for p in processes.values())
    print(f"{args.kind:14} wall {args.wall_s:6.2f} s, CPU {cpu:6.2f} s, peak RSS {rss:5.1f} MiB"
          f" (started after {args.settled_s:.1f} s settling)")


def syscall_counts(path):
    """{syscall: calls} from one `strace -c` summary table."""
    counts = {}
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) < 5 or not fields[0][0].isdigit() or fields[-1] == "total":
                continue
            calls = fields[3]
            if calls.isdigit():
                counts[fields[-1]] = counts.get(fields[-1], 0) + int(calls)
    return counts


def delivered_mib(input_dir):
    """Chunk bytes the receivers get: every file once to each other peer."""
    files = glob.glob(os.path.join(input_dir, "*.file"))
    return sum(os.path.getsize(f) for f in files) * (len(files) - 1) / MIB


def syscalls_per_mib(trace_dir, mib):
    per_process = {}
    by_name = {}
    for path in sorted(glob.glob(os.path.join(trace_dir, "*.strace"))):
        counts = syscall_counts(path)
        per_process[os.path.basename(path)[: -len(".strace")]] = round(sum(counts.values()) / mib, 2)
        for name, calls in counts.items():
            by_name[name] = by_name.get(name, 0) + calls
    top = sorted(by_name.items(), key=lambda item: -item[1])[:8]
    return {"total": round(sum(by_name.values()) / mib, 2), "per_process": per_process,
            "top": {name: round(calls / mib, 2) for name, calls in top}}


def median_of(runs, figure):
    return round(statistics.median(figure(run) for run in runs), 2)


def summarize(runs):
    """Medians over the runs of one kind, for the whole and per process."""
    names = sorted(runs[0]["processes"])
    cpu = lambda run: sum(p["user_s"] + p["system_s"] for p in run["processes"].values())
    return {
        "runs": len(runs),
        "settled_s": median_of(runs, lambda r: r["settled_s"]),
        "wall_s": {"median": median_of(runs, lambda r: r["wall_s"]),
                   "min": min(r["wall_s"] for r in runs), "max": max(r["wall_s"] for r in runs)},
        "cpu_s": median_of(runs, cpu),
        "user_s": median_of(runs, lambda r: sum(p["user_s"] for p in r["processes"].values())),
        "system_s": median_of(runs, lambda r: sum(p["system_s"] for p in r["processes"].values())),
        "processes": {
            name: {"user_s": median_of(runs, lambda r: r["processes"][name]["user_s"]),
                   "system_s": median_of(runs, lambda r: r["processes"][name]["system_s"]),
                   "peak_rss_mib": max(r["processes"][name]["peak_rss_mib"] for r in runs)}
            for name in names},
    }


def print_table(result):
    kinds = result["kinds"]
    columns = [k for k in ("floor", "floor_no_hash", "floor_hash_own", "chunkex") if k in kinds]
    print(f"{'median of ' + str(kinds['chunkex']['runs']):22}" +
          "".join(f"{c:>15}" for c in columns) + f"{'chunkex/floor':>15}")
    rows = [("wall s", lambda k: k["wall_s"]["median"]), ("CPU s", lambda k: k["cpu_s"]),
            ("  user s", lambda k: k["user_s"]), ("  system s", lambda k: k["system_s"]),
            ("peak RSS MiB (max)",
             lambda k: max(p["peak_rss_mib"] for p in k["processes"].values()))]
    for label, figure in rows:
        values = [figure(kinds[c]) for c in columns]
        ratio = figure(kinds["chunkex"]) / figure(kinds["floor"])
        print(f"{label:22}" + "".join(f"{v:15.2f}" for v in values) + f"{ratio:15.2f}")
    calls = result["syscalls_per_delivered_mib"]
    print(f"{'syscalls / MiB':22}{calls['floor']['total']:15.2f}" + " " * 15 * (len(columns) - 2) +
          f"{calls['chunkex']['total']:15.2f}{calls['chunkex']['total'] / calls['floor']['total']:15.2f}")
    print("chunkex per process (user / system s, peak RSS MiB, syscalls / MiB): " + "; ".join(
        f"{name} {p['user_s']:.2f} / {p['system_s']:.2f}, {p['peak_rss_mib']:.1f}, "
        f"{calls['chunkex']['per_process'].get(name, 0):.1f}"
        for name, p in kinds["chunkex"]["processes"].items()))
    print("chunkex syscalls / MiB by call: " +
          ", ".join(f"{n} {v}" for n, v in calls["chunkex"]["top"].items()))
    print("floor syscalls / MiB by call: " +
          ", ".join(f"{n} {v}" for n, v in calls["floor"]["top"].items()))
    targets = result["targets"]
    print(f"targets: wall {targets['wall_ratio']} (<= {TARGET_WALL_RATIO}), "
          f"CPU {targets['cpu_ratio']} (<= {TARGET_CPU_RATIO}), "
          f"peak RSS {targets['peak_rss_mib']} MiB (<= {TARGET_RSS_MIB}): "
          f"{'met' if targets['met'] else 'NOT met'}")
    beside = result.get("beside_floor_hash_own")
    if beside:
        print(f"beside the floor that also hashes each own file (as a client must before it "
              f"announces it; not the issue's floor): wall {beside['wall_ratio']}, "
              f"CPU {beside['cpu_ratio']}")


def final(args):
    with open(args.runs) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    kinds = {}
    for kind in sorted({line["kind"] for line in lines}):
        kinds[kind] = summarize([line for line in lines if line["kind"] == kind])
    with open(args.summary) as f:
        summary = json.load(f)
    trace_mib = delivered_mib(args.trace_input)
    calls = {"floor": syscalls_per_mib(args.trace_floor, trace_mib),
             "chunkex": syscalls_per_mib(args.trace_chunkex, trace_mib),
             "trace_delivered_mib": round(trace_mib, 1)}
    wall_ratio = round(kinds["chunkex"]["wall_s"]["median"] / kinds["floor"]["wall_s"]["median"], 3)
    cpu_ratio = round(kinds["chunkex"]["cpu_s"] / kinds["floor"]["cpu_s"], 3)
    rss = max(p["peak_rss_mib"] for p in kinds["chunkex"]["processes"].values())
    beside = None
    if "floor_hash_own" in kinds:
        own = kinds["floor_hash_own"]
        beside = {"wall_ratio": round(kinds["chunkex"]["wall_s"]["median"] / own["wall_s"]["median"], 3),
                  "cpu_ratio": round(kinds["chunkex"]["cpu_s"] / own["cpu_s"], 3)}
    result = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": f"{platform.node()} {os.cpu_count()} cores",
        "chunks_per_file": args.chunks,
        "window": args.window,
        # bench/lib.sh, settle_memory: each run waited (up to this) for the VM
        # to finish returning freed memory to its host; settled_s per kind.
        "settle_max_s": args.settle_max_s,
        "delivered_mib": round(delivered_mib(args.input), 1),
        "chunkex_summary": {"wall_seconds": summary["wall_seconds"], "rounds": summary["rounds"],
                            "bytes_relayed": summary["bytes_relayed"],
                            "final_clocks_ms": summary["final_clocks_ms"]},
        "kinds": kinds,
        "syscalls_per_delivered_mib": calls,
        "targets": {"wall_ratio": wall_ratio, "cpu_ratio": cpu_ratio, "peak_rss_mib": rss,
                    "met": wall_ratio <= TARGET_WALL_RATIO and cpu_ratio <= TARGET_CPU_RATIO
                    and rss <= TARGET_RSS_MIB},
        "beside_floor_hash_own": beside,
    }
    with open(args.output, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print_table(result)
    print(f"written to {args.output}")


def main():
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("record")
    one.add_argument("--kind", required=True)
    one.add_argument("--dir", required=True)
    one.add_argument("--wall-s", type=float, required=True)
    one.add_argument("--settled-s", type=float, required=True)
    one.add_argument("--append", required=True)
    end = commands.add_parser("final")
    for option in ("--runs", "--window", "--summary", "--input", "--trace-floor",
                   "--trace-chunkex", "--trace-input", "--output"):
        end.add_argument(option, required=True)
    end.add_argument("--chunks", type=int, required=True)
    end.add_argument("--settle-max-s", type=float, required=True)
    args = parser.parse_args()
    record(args) if args.command == "record" else final(args)


if __name__ == "__main__":
    main()
