#!/usr/bin/env python3
"""Turns one benchmark run (server summary.json, iperf3 figure, GNU time RSS
files) into bench/results/latest.json and prints the figures."""
import argparse
import json
import os
import platform
import time


def floor_estimate(args, summary, relay_bytes):
    """CPU the exchange cannot avoid on this machine: moving every relayed byte
    through loopback TCP once (priced by iperf3's own CPU use per byte),
    hashing and writing every received byte. Spread perfectly over all cores
    it gives the shortest possible wall time and so the best possible ratio."""
    with open(args.iperf_json) as f:
        iperf = json.load(f)["end"]
    cpu = iperf["cpu_utilization_percent"]
    iperf_seconds = iperf["sum_received"]["seconds"]
    iperf_cpu_s = (cpu["host_total"] + cpu["remote_total"]) / 100 * iperf_seconds
    net_cpu_per_byte = iperf_cpu_s / iperf["sum_received"]["bytes"]
    received_bytes = summary["bytes_relayed"]["sent"]  # chunk data delivered to the peers
    cpu_s = {
        "loopback_tcp": relay_bytes * net_cpu_per_byte,
        "sha256": received_bytes / args.sha_bps,
        "page_cache_write": received_bytes / 2**30 * args.write_cpu_per_gib,
    }
    cores = os.cpu_count()
    wall_min = sum(cpu_s.values()) / cores
    return {
        "cpu_seconds": {k: round(v, 2) for k, v in cpu_s.items()},
        "cores": cores,
        "wall_seconds_min": round(wall_min, 2),
        "goodput_mb_per_s_max": round(relay_bytes / wall_min / 1e6, 1),
        "ratio_max": round(relay_bytes / wall_min / args.iperf_bps, 3),
        "sha256_mb_per_s": round(args.sha_bps / 1e6, 1),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--summary", required=True)
    parser.add_argument("--iperf-bps", type=float, required=True)
    parser.add_argument("--rss-dir", required=True)
    parser.add_argument("--chunks", type=int, required=True)
    parser.add_argument("--window", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--iperf-json", required=True)
    parser.add_argument("--sha-bps", type=float, required=True)
    parser.add_argument("--write-cpu-per-gib", type=float, required=True)
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
    result["floor"] = floor_estimate(args, summary, relay_bytes)
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
    floor = result["floor"]
    print(f"floor on this machine: {floor['cpu_seconds']} CPU s over {floor['cores']} cores "
          f"-> wall >= {floor['wall_seconds_min']} s, goodput <= {floor['goodput_mb_per_s_max']} "
          f"MB/s, ratio <= {floor['ratio_max']}")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
