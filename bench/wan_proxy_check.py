#!/usr/bin/env python3
"""Checks chunkex-wan-proxy against small servers of its own, on 127.0.0.1:
round-trip time of a 1-byte ping (2 x delay), time of a one-way bulk transfer
(bytes * 8 / rate), bytes carried exactly with half-close, peak RSS while the
receiver stalls (bounded by --buffer-bytes), refusal beyond
--max-connections, and the stats report.

    bench/wan_proxy_check.py [--proxy build-release/bench/chunkex-wan-proxy]
"""
import argparse
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HOST = "127.0.0.1"


def serve(handler):
    """Listens on a free port; runs handler(conn) in a thread per connection."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, 0))
    listener.listen(16)

    def loop():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return listener, listener.getsockname()[1]


def echo(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while data := conn.recv(1 << 16):
        conn.sendall(data)
    conn.shutdown(socket.SHUT_WR)
    conn.close()


def start_proxy(binary, upstream_port, stats_file, *flags):
    proc = subprocess.Popen([binary, "--upstream-port", str(upstream_port),
                             "--stats-file", stats_file, *flags],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    assert line.startswith("listening on 127.0.0.1:"), line
    return proc, int(line.rsplit(":", 1)[1])


def connect(port):
    sock = socket.create_connection((HOST, port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock, n):
    data = bytearray()
    while len(data) < n:
        part = sock.recv(min(1 << 20, n - len(data)))
        if not part:
            raise EOFError(f"got {len(data)} of {n} bytes")
        data += part
    return bytes(data)


def check_rtt(binary, port, stats):
    proxy, proxy_port = start_proxy(binary, port, stats, "--delay-ms", "10")
    sock = connect(proxy_port)
    rtts = []
    for _ in range(30):
        start = time.perf_counter()
        sock.sendall(b"x")
        recv_exactly(sock, 1)
        rtts.append((time.perf_counter() - start) * 1000)
    sock.close()
    proxy.terminate()
    proxy.wait(10)
    median = statistics.median(rtts)
    print(f"rtt, delay 10 ms: median {median:.2f} ms, min {min(rtts):.2f}, max {max(rtts):.2f}")
    return 19.5 <= median <= 22.0


def count_sink(conn):
    """Reads to EOF, then answers with the byte count (8 bytes) and closes."""
    total = 0
    while part := conn.recv(1 << 20):
        total += len(part)
    conn.sendall(total.to_bytes(8, "big"))
    conn.close()


def check_rate(binary, stats, rate_mbit, total_bytes):
    listener, port = serve(count_sink)
    proxy, proxy_port = start_proxy(binary, port, stats, "--delay-ms", "10",
                                    "--rate-mbit", str(rate_mbit), "--exit-after-connections", "1")
    sock = connect(proxy_port)
    block = os.urandom(1 << 20)
    start = time.perf_counter()
    sent = 0
    while sent < total_bytes:
        n = min(len(block), total_bytes - sent)
        sock.sendall(block[:n])
        sent += n
    sock.shutdown(socket.SHUT_WR)
    counted = int.from_bytes(recv_exactly(sock, 8), "big")
    elapsed = time.perf_counter() - start
    sock.close()
    proxy.wait(10)
    listener.close()
    # One way at the rate, then the 8-byte answer: floor + 2 x delay.
    floor = total_bytes * 8 / (rate_mbit * 1e6)
    with open(stats) as f:
        report = json.load(f)
    print(f"rate {rate_mbit} Mbit/s, {total_bytes} bytes one way: {elapsed:.3f} s "
          f"(floor {floor:.3f} s + 0.020 s RTT), stats up {report['up_bytes_max']} "
          f"down {report['down_bytes_max']}")
    ok = counted == total_bytes and report["busiest_direction_bytes"] == total_bytes
    return ok and floor + 0.02 <= elapsed <= floor * 1.05 + 0.05


def check_exact_bytes(binary, port, stats):
    proxy, proxy_port = start_proxy(binary, port, stats, "--delay-ms", "0",
                                    "--rate-mbit", "1000000")
    payload = os.urandom(7_777_777)
    sock = connect(proxy_port)
    reply = bytearray()

    def reader():
        while part := sock.recv(1 << 20):
            reply.extend(part)

    thread = threading.Thread(target=reader)
    thread.start()
    sock.sendall(payload)
    sock.shutdown(socket.SHUT_WR)
    thread.join(30)
    sock.close()
    proxy.terminate()
    proxy.wait(10)
    same = hashlib.sha256(reply).digest() == hashlib.sha256(payload).digest()
    print(f"transparent (delay 0), half-close: {len(reply)} bytes back, identical: {same}")
    return same


def check_memory(binary, stats, buffer_bytes):
    release = threading.Event()
    received = []

    def stalled_sink(conn):
        release.wait(30)
        total = 0
        while part := conn.recv(1 << 20):
            total += len(part)
        received.append(total)
        conn.close()

    listener, port = serve(stalled_sink)
    proxy, proxy_port = start_proxy(binary, port, stats, "--buffer-bytes", str(buffer_bytes),
                                    "--exit-after-connections", "1")
    sock = connect(proxy_port)
    sock.settimeout(2)
    block = os.urandom(1 << 20)
    sent = 0
    try:
        while sent < 200 << 20:
            sent += sock.send(block)
    except socket.timeout:
        pass  # the proxy stopped reading: everything in between is full
    with open(f"/proc/{proxy.pid}/status") as f:
        status = dict(line.split(":", 1) for line in f)
    hwm_kib = int(status["VmHWM"].split()[0])
    release.set()
    sock.settimeout(30)
    sock.shutdown(socket.SHUT_WR)
    sock.close()
    proxy.wait(30)
    listener.close()
    with open(stats) as f:
        held = json.load(f)["connections"][0]["up_held_bytes_max"]
    print(f"receiver stalled, --buffer-bytes {buffer_bytes}: sender got {sent} bytes in before "
          f"blocking, proxy held at most {held} bytes, proxy peak RSS {hwm_kib / 1024:.1f} MiB")
    return held <= buffer_bytes and hwm_kib * 1024 <= buffer_bytes + (8 << 20)


def check_refusal(binary, port, stats):
    proxy, proxy_port = start_proxy(binary, port, stats, "--max-connections", "1")
    first = connect(proxy_port)
    first.sendall(b"a")
    ok = recv_exactly(first, 1) == b"a"
    second = connect(proxy_port)
    second.settimeout(5)
    try:
        refused = second.recv(1) == b""
    except ConnectionResetError:
        refused = True
    first.close()
    second.close()
    proxy.send_signal(2)
    proxy.wait(10)
    with open(stats) as f:
        report = json.load(f)
    print(f"--max-connections 1: second connection refused: {refused}, report: {report['refused']}")
    return ok and refused and report["refused"] == 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--proxy", default="build-release/bench/chunkex-wan-proxy")
    args = parser.parse_args()
    listener, echo_port = serve(echo)
    with tempfile.TemporaryDirectory() as tmp:
        stats = os.path.join(tmp, "stats.json")
        results = [
            check_rtt(args.proxy, echo_port, stats),
            check_exact_bytes(args.proxy, echo_port, stats),
            check_rate(args.proxy, stats, 1000, 100 << 20),
            check_rate(args.proxy, stats, 100, 10 << 20),
            check_memory(args.proxy, stats, 4 << 20),
            check_refusal(args.proxy, echo_port, stats),
        ]
    listener.close()
    print("wan proxy check:", "ok" if all(results) else f"FAILED {results}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
