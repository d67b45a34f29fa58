#!/usr/bin/env python3
"""Figures for bench/wan.sh. `run` reads one exchange's directory (server
logs/summary.json, proxy*.json stats, *.time GNU time figures), prints its line
and appends a JSON record; `final` gathers the records into bench/results/wan.json
and prints a table."""
import argparse
import glob
import json
import os
import platform
import time

# At the default window the run must stay within this of its bandwidth floor
# (issue 11; it was 1.5 before the floor comparison).
TARGET_RATIO = 1.2
# chunkex-sim's predicted wall time against the measured one.
PREDICTION_TOLERANCE = 0.15


def configured_window():
    """The window a run without --window gets (configs/default.json mirrors the built-in)."""
    try:
        with open("configs/default.json") as f:
            return json.load(f).get("window")
    except (OSError, ValueError):
        return None


def process_figures(run_dir):
    """{name: (cpu seconds, peak RSS MiB)} from the GNU time files."""
    figures = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "*.time"))):
        with open(path) as f:
            fields = f.read().split()
        if len(fields) >= 3:
            user, system, rss_kib = fields[-3:]
            name = os.path.basename(path)[: -len(".time")]
            figures[name] = (float(user) + float(system), int(rss_kib) / 1024)
    return figures


def machine_busy(run_dir):
    """Fraction of all cores' time spent busy between cpu.start and cpu.end
    (/proc/stat lines): near 1.0 means the machine, not the link, set the pace."""
    try:
        with open(os.path.join(run_dir, "cpu.start")) as f:
            start = [int(x) for x in f.read().split()[1:9]]
        with open(os.path.join(run_dir, "cpu.end")) as f:
            end = [int(x) for x in f.read().split()[1:9]]
    except (OSError, ValueError):
        return None
    delta = [b - a for a, b in zip(start, end)]
    idle = delta[3] + delta[4]  # idle, iowait
    return round(1 - idle / sum(delta), 2) if sum(delta) else None


def run_record(args):
    with open(os.path.join(args.dir, "logs", "summary.json")) as f:
        summary = json.load(f)
    proxies = {}
    for path in sorted(glob.glob(os.path.join(args.dir, "proxy*.json"))):
        with open(path) as f:
            stats = json.load(f)
        name = os.path.basename(path)[len("proxy"): -len(".json")]
        proxies[name] = {"up_bytes": stats["up_bytes_max"], "down_bytes": stats["down_bytes_max"]}
    busiest = max((max(p.values()) for p in proxies.values()), default=None)
    floor = busiest * 8 / (args.rate_mbit * 1e6) if busiest else None
    wall = summary["wall_seconds"]
    figures = process_figures(args.dir)
    window_value = configured_window() if args.window == "default" else int(args.window)
    return {
        "name": args.name,
        "window": args.window,
        "window_value": window_value,
        "proxied": args.proxied == "yes",
        "success": summary["success"],
        "all_verified": all(v == "verified" for peer in summary["received"].values()
                            for v in peer.values()),
        "rounds": summary["rounds"],
        "wall_seconds": round(wall, 3),
        "settled_s": round(args.settled_s, 1),
        "busiest_direction_bytes": busiest,
        "floor_seconds": round(floor, 3) if floor else None,
        "wall_to_floor": round(wall / floor, 2) if floor else None,
        "meets_target": wall / floor <= TARGET_RATIO if floor else None,
        "logs_identical_to_reference": args.logs_identical == "yes",
        "proxy_bytes": proxies,
        "bytes_relayed_total": summary["bytes_relayed"]["total"],
        "cpu_seconds_total": round(sum(cpu for cpu, _ in figures.values()), 2),
        "machine_busy_fraction": machine_busy(args.dir),
        "peak_rss_mib": {name: round(rss, 1) for name, (_, rss) in figures.items()},
        "final_clocks_ms": summary["final_clocks_ms"],
        "predicted_wall_seconds": args.predicted_s,
        "measured_to_predicted": round(wall / args.predicted_s, 3) if args.predicted_s else None,
    }


def describe(record):
    window = record["window"]
    if window == "default":
        window = f"default ({record['window_value']})"
    line = f"window {window}: wall {record['wall_seconds']:.3f} s"
    if record["proxied"]:
        proxy_rss = max(v for k, v in record["peak_rss_mib"].items() if k.startswith("proxy"))
        line += (f", busiest direction {record['busiest_direction_bytes']} bytes"
                 f", floor {record['floor_seconds']:.3f} s"
                 f", wall/floor {record['wall_to_floor']:.2f}"
                 f" ({'meets' if record['meets_target'] else 'misses'} <= {TARGET_RATIO})"
                 f", proxy peak RSS {proxy_rss:.1f} MiB")
    if record.get("predicted_wall_seconds"):
        line += (f", chunkex-sim predicted {record['predicted_wall_seconds']:.3f} s"
                 f" (measured / predicted {record['measured_to_predicted']:.2f})")
    line += f", started after {record['settled_s']:.1f} s settling"
    line += (f", logs identical: {'yes' if record['logs_identical_to_reference'] else 'NO'}"
             f", verified: {'yes' if record['all_verified'] else 'NO'}"
             f", CPU {record['cpu_seconds_total']:.1f} s"
             f", machine busy {record['machine_busy_fraction']}")
    return line


def run(args):
    record = run_record(args)
    print(describe(record), flush=True)
    with open(args.append, "a") as f:
        f.write(json.dumps(record) + "\n")


def final(args):
    with open(args.runs) as f:
        records = [json.loads(line) for line in f if line.strip()]
    result = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": f"{platform.node()} {os.cpu_count()} cores",
        "chunks_per_file": args.chunks,
        "delay_ms_one_way": args.delay_ms,
        "rate_mbit_per_direction": args.rate_mbit,
        "proxy_buffer_bytes": args.buffer_bytes,
        "target_wall_to_floor": TARGET_RATIO,
        "prediction_tolerance": PREDICTION_TOLERANCE,
        "runs": records,
    }
    with open(args.output, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(f"{'window':>12} {'wall s':>8} {'floor s':>8} {'wall/floor':>10} {'logs':>5} {'busy':>5}"
          f" {'sim s':>8} {'wall/sim':>8}")
    for r in records:
        window = r["window"] if r["window"] != "default" else f"default({r['window_value']})"
        if r["proxied"]:
            print(f"{window:>12} {r['wall_seconds']:8.3f} {r['floor_seconds']:8.3f} "
                  f"{r['wall_to_floor']:10.2f} {'same' if r['logs_identical_to_reference'] else 'DIFF':>5} "
                  f"{r['machine_busy_fraction']:5.2f} {r['predicted_wall_seconds']:8.3f} "
                  f"{r['measured_to_predicted']:8.2f}"
                  f"{'' if abs(r['measured_to_predicted'] - 1) <= PREDICTION_TOLERANCE else ' (beyond 15 %)'}")
        else:
            print(f"{window:>12} {r['wall_seconds']:8.3f} {'-':>8} {'-':>10} {'ref':>5} "
                  f"{r['machine_busy_fraction']:5.2f}  (loopback reference)")
    print(f"wrote {args.output}")
    if not all(r["success"] and r["all_verified"] and r["logs_identical_to_reference"]
               for r in records):
        raise SystemExit("wan: a run failed, did not verify, or logged differently")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run")
    one.add_argument("--dir", required=True)
    one.add_argument("--name", required=True)
    one.add_argument("--window", required=True)
    one.add_argument("--proxied", choices=["yes", "no"], required=True)
    one.add_argument("--logs-identical", choices=["yes", "no"], required=True)
    one.add_argument("--rate-mbit", type=float, required=True)
    one.add_argument("--predicted-s", type=float, help="chunkex-sim's wall time for the setting")
    one.add_argument("--settled-s", type=float, required=True,
                     help="seconds waited for the VM to settle (bench/lib.sh)")
    one.add_argument("--append", required=True)
    one.set_defaults(func=run)
    end = sub.add_parser("final")
    end.add_argument("--runs", required=True)
    end.add_argument("--chunks", type=int, required=True)
    end.add_argument("--delay-ms", type=float, required=True)
    end.add_argument("--rate-mbit", type=float, required=True)
    end.add_argument("--buffer-bytes", type=int, required=True)
    end.add_argument("--output", required=True)
    end.set_defaults(func=final)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
