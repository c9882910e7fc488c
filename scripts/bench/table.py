"""Prints the benchmark's table from results.jsonl (scripts/bench.sh): throughput and
CPU per request side by side with ratios, the generator's scaling over cores, stream
parsing, open-loop lag and CPU, measurement error, memory and guest-call figures, and
each target (issues 8 and 17) with PASS or MISS and by how much."""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]


def find(tool, mode, **kw):
    for r in rows:
        if r.get("tool") == tool and r.get("mode") == mode and all(r.get(k) == v for k, v in kw.items()):
            return r
    return None


def cpu_us(r):
    return 1e6 * r["cpu_s"] / r["requests"] if r and r.get("requests") else float("nan")


checks = []


def check(label, ok, detail):
    checks.append((label, ok, detail))


print("\nThroughput against one loopback endpoint (nginx, fixed response), 64 in flight")
print(f"{'tool':<16}{'response':<14}{'req/s':>12}{'x wrk':>9}{'Volley/x':>11}{'CPU us/req':>12}{'CPU s/1k req':>14}")
for mode, label in [("plain", "JSON"), ("stream", "16-chunk SSE")]:
    wrk = find("wrk", mode)
    volley = find("volley", mode)
    for tool in ["wrk", "volley", "guidellm", "inference-perf", "aiperf"]:
        r = find(tool, mode)
        if not r or r.get("rps") is None:
            continue
        x_wrk = r["rps"] / wrk["rps"] if wrk else float("nan")
        v_over = volley["rps"] / r["rps"] if volley else float("nan")
        us = cpu_us(r)
        print(f"{tool:<16}{label:<14}{r['rps']:>12.0f}{x_wrk:>9.3f}{v_over:>11.1f}{us:>12.1f}{us / 1000:>14.3f}")
    if wrk and volley:
        ratio = volley["rps"] / wrk["rps"]
        check(f"Volley >= 0.8x wrk ({label})", ratio >= 0.8, f"{ratio:.2f}x ({volley['rps']:.0f} vs {wrk['rps']:.0f} req/s)")
        us, wrk_us = cpu_us(volley), cpu_us(wrk)
        check(f"Volley CPU per request <= 1.5x wrk's ({label})", us <= 1.5 * wrk_us, f"{us:.1f} us vs {wrk_us:.1f} us ({us / wrk_us:.2f}x)")
volley = find("volley", "plain")
for tool, want in [("guidellm", 100), ("inference-perf", 50), ("aiperf", 50)]:
    r = find(tool, "plain")
    if volley and r and r.get("rps"):
        x = volley["rps"] / r["rps"]
        check(f"Volley >= {want}x {tool}", x >= want, f"{x:.0f}x ({r['rps']:.0f} req/s)")
    else:
        check(f"Volley >= {want}x {tool}", False, "no result (see the log)")
print("(CPU: user + system seconds of the whole process, start-up included (compile cache primed), per request completed)")

one, two = find("volley", "scale", cpus="0"), find("volley", "scale", cpus="0,1")
if one and two:
    print("\nScaling (JSON, 64 in flight; Volley pinned with taskset, one send lane per core; nginx unpinned)")
    for r, n in ((one, 1), (two, 2)):
        print(f"  {n} core{'s' if n > 1 else ' '}: {r['rps']:>9.0f} req/s, {1e6 * r['stage_cpu_s'] / r['requests']:.1f} us CPU/req in the stage")
    print(f"  1 -> 2 cores: {two['rps'] / one['rps']:.2f}x")

r = find("volley", "long")
if r and r.get("cpu_s"):
    per_core_s = r["chunks"] / r["cpu_s"]
    print(f"\nStream parsing (1,024-chunk streams, 16 in flight, every chunk parsed and timestamped): "
          f"{r['chunks']} chunks in {r['cpu_s']:.2f} CPU s = {per_core_s:,.0f} tokens per core-second "
          f"({r['requests']} ok, {r['failed']} failed)")
    check("streamed tokens parsed per core-second >= 1,000,000", per_core_s >= 1e6, f"{per_core_s:,.0f}")

closed = find("volley", "plain")
closed_us = 1e6 * closed["stage_cpu_s"] / closed["requests"] if closed and closed.get("stage_cpu_s") else float("nan")
print("\nOpen loop: schedule lag and CPU per request under Poisson arrivals (same endpoint)")
print(f"{'target/s':>10}{'sent/s':>10}{'lag p50 ms':>12}{'lag p99 ms':>12}{'CPU us/req':>12}{'x closed':>10}"
      f"{'floor us':>10}{'x floor':>9}")
for rate in (1000.0, 5000.0):
    r = find("volley", "lag", rate=rate)
    if r:
        us = 1e6 * r["stage_cpu_s"] / r["requests"] if r.get("stage_cpu_s") and r.get("requests") else float("nan")
        f = find("floor", "lag", rate=rate)
        floor_us = 1e6 * f["cpu_s"] / f["done"] if f and f.get("done") else float("nan")
        print(f"{rate:>10.0f}{r['sent_rps']:>10.0f}{r['lag_p50_ms']:>12.3f}{r['lag_p99_ms']:>12.3f}{us:>12.1f}{us / closed_us:>10.2f}"
              f"{floor_us:>10.1f}{us / floor_us:>9.2f}")
        check(f"open-loop CPU per request <= 1.5x closed loop ({rate:.0f}/s)", us <= 1.5 * closed_us,
              f"{us:.1f} us vs {closed_us:.1f} us ({us / closed_us:.2f}x)")
        if rate == 5000.0:
            check("lag p99 < 1 ms at 5,000 req/s", r["lag_p99_ms"] < 1.0, f"{r['lag_p99_ms']:.3f} ms")
print(f"(CPU here: the volley process's user + system seconds while the stage ran, per request; closed loop {closed_us:.1f} us.\n"
      " floor: a minimal C client sending the same arrivals (scripts/bench/openloop-floor.c), CPU per answered request;\n"
      " at these rates it is mostly two thread wake-ups a request, the price any open-loop generator pays here)")

print("\nTTFT/ITL measurement error: Volley's chunk timestamps minus the server's send stamps (16-chunk streams)")
print(f"{'streams/s':>10}{'sent/s':>10}{'chunks':>10}{'p50 ms':>10}{'p99 ms':>10}{'first p99':>11}{'max ms':>10}{'unmatched':>11}")
for rate in (1000.0, 5000.0):
    r = find("volley", "stamps", rate=rate)
    if r:
        print(f"{rate:>10.0f}{r['sent_rps']:>10.0f}{r['chunks']:>10}{r['err_p50_ms']:>10.3f}{r['err_p99_ms']:>10.3f}"
              f"{r['first_p99_ms']:>11.3f}{r['err_max_ms']:>10.3f}{r['unmatched']:>11}")
        if rate == 1000.0:
            check("measurement error p99 < 1 ms at 1,000 streams/s", r["err_p99_ms"] < 1.0 and r["unmatched"] == 0, f"{r['err_p99_ms']:.3f} ms")

r = find("volley", "streams")
if r:
    mib = r["peak_rss_kib"] / 1024
    print(f"\n10,000 concurrent streams: server saw {r['server_max_in_flight']} at once, {r['ok']} ok, "
          f"{r['failed']} failed; Volley peak RSS {mib:.0f} MiB")
    check("RSS < 1 GiB at 10,000 open streams", mib < 1024 and r["server_max_in_flight"] == 10000, f"{mib:.0f} MiB")

r = find("volley", "agents")
if r:
    mib = r["peak_rss_kib"] / 1024
    c1, c20 = r.get("cpu_us_turn1"), r.get("cpu_us_turn20")
    print(f"\n1,000 agent sessions of 20 turns: {r['tasks_completed']} tasks completed, {r['ok']} requests ok, {r['failed']} failed; "
          f"peak RSS {mib:.0f} MiB; follow-up lag p50 {r['lag_p50_ms']} ms, p99 {r['lag_p99_ms']} ms")
    if c1 and c20:
        print(f"  generator CPU per request: {c1:.0f} us at turn 1 (contexts kept at 1,000 tokens), {r['cpu_us_mean']:.0f} us mean "
              f"over 20 growing turns, so {c20:.0f} us at turn 20 (20,000 tokens): {c20 / c1:.2f}x")
        check("agent turn-20 CPU/request <= 3x turn 1", c20 <= 3 * c1, f"{c20 / c1:.2f}x")
    check("RSS < 1 GiB with 1,000 agent sessions of 20 turns", mib < 1024 and r["tasks_completed"] == 1000, f"{mib:.0f} MiB")
    if r["lag_p99_ms"] is not None:
        check("follow-up delay precision p99 < 1 ms", r["lag_p99_ms"] < 1.0, f"{r['lag_p99_ms']} ms")

print("\nGuest call cost (next-requests, median)")
for r in rows:
    if r.get("mode") == "guest":
        print(f"  {r['lang']:<8} batch {r['batch']:>3}: {r['median_ns_per_call']:>9} ns/call, {r['median_ns_per_request']:>7} ns/request")
g = find("volley", "guest", lang="rust", batch=1)
if g:
    check("guest call < 2 us median (Rust)", g["median_ns_per_call"] < 2000, f"{g['median_ns_per_call']} ns")

print("\nTargets")
for label, ok, detail in checks:
    print(f"  {'PASS' if ok else 'MISS'}  {label}: {detail}")
