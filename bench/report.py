#!/usr/bin/env python3
"""Turns one benchmark run (server summary.json, iperf3 figure, GNU time RSS
files) into bench/results/latest.json and prints the figures."""
import argparse
import json
import os
import platform
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--summary", required=True)
    parser.add_argument("--iperf-bps", type=float, required=True)
    parser.add_argument("--rss-dir", required=True)
    parser.add_argument("--chunks", type=int, required=True)
    parser.add_argument("--window", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    with open(args.summary) as f:
        summary = json.load(f)
    rss_mib = {}
    cpu_s = {}
    for name in ["server", "A", "B", "C", "D"]:
        with open(os.path.join(args.rss_dir, f"rss.{name}")) as f:
            fields = f.read().split()
            rss_mib[name] = int(fields[-3]) / 1024.0
            cpu_s[name] = float(fields[-2]) + float(fields[-1])
    relay_bytes = summary["bytes_relayed"]["total"]
    wall = summary["wall_seconds"]
    goodput = relay_bytes / wall
    result = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": f"{platform.node()} {os.cpu_count()} cores",
        "chunks_per_file": args.chunks,
        "window": args.window,
        "rounds": summary["rounds"],
        "wall_seconds": round(wall, 3),
        "relay_bytes": relay_bytes,
        "goodput_mb_per_s": round(goodput / 1e6, 1),
        "iperf3_mb_per_s": round(args.iperf_bps / 1e6, 1),
        "goodput_to_iperf3_ratio": round(goodput / args.iperf_bps, 3),
        "peak_rss_mib": {k: round(v, 1) for k, v in rss_mib.items()},
        "cpu_seconds": {k: round(v, 2) for k, v in cpu_s.items()},
        "final_clocks_ms": summary["final_clocks_ms"],
        "all_verified": all(v == "verified" for peer in summary["received"].values()
                            for v in peer.values()),
    }
    with open(args.output, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(f"wall {result['wall_seconds']} s, relay bytes {relay_bytes}, "
          f"goodput {result['goodput_mb_per_s']} MB/s, iperf3 {result['iperf3_mb_per_s']} MB/s, "
          f"ratio {result['goodput_to_iperf3_ratio']}")
    print("peak RSS MiB: " + ", ".join(f"{k} {v:.1f}" for k, v in rss_mib.items()))
    print("CPU s (user+sys, incl. hashing own file): " +
          ", ".join(f"{k} {v:.2f}" for k, v in cpu_s.items()))
    print(f"final clocks: {result['final_clocks_ms']}; all verified: {result['all_verified']}")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
