"""Prints the benchmark's table from results.jsonl (scripts/bench.sh): throughput and
CPU per request side by side with ratios, then lag, memory and guest-call figures, and
each target of issue 8 with PASS or MISS and by how much."""
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
        us = cpu_us(volley)
        check(f"Volley CPU per request <= 50 us ({label})", us <= 50, f"{us:.1f} us")
volley = find("volley", "plain")
for tool, want in [("guidellm", 100), ("inference-perf", 50), ("aiperf", 50)]:
    r = find(tool, "plain")
    if volley and r and r.get("rps"):
        x = volley["rps"] / r["rps"]
        check(f"Volley >= {want}x {tool}", x >= want, f"{x:.0f}x ({r['rps']:.0f} req/s)")
    else:
        check(f"Volley >= {want}x {tool}", False, "no result (see the log)")
print("(CPU: user + system seconds of the whole process, start-up included, per request completed)")

r = find("volley", "long")
if r and r.get("cpu_s"):
    per_core_s = r["chunks"] / r["cpu_s"]
    print(f"\nStream parsing (1,024-chunk streams, 16 in flight, every chunk parsed and timestamped): "
          f"{r['chunks']} chunks in {r['cpu_s']:.2f} CPU s = {per_core_s:,.0f} tokens per core-second "
          f"({r['requests']} ok, {r['failed']} failed)")
    check("streamed tokens parsed per core-second >= 1,000,000", per_core_s >= 1e6, f"{per_core_s:,.0f}")

print("\nSchedule lag under Poisson arrivals (open loop, same endpoint)")
print(f"{'target/s':>10}{'sent/s':>10}{'lag p50 ms':>12}{'lag p99 ms':>12}")
for rate in (1000.0, 5000.0):
    r = find("volley", "lag", rate=rate)
    if r:
        print(f"{rate:>10.0f}{r['sent_rps']:>10.0f}{r['lag_p50_ms']:>12.3f}{r['lag_p99_ms']:>12.3f}")
        if rate == 5000.0:
            check("lag p99 < 1 ms at 5,000 req/s", r["lag_p99_ms"] < 1.0, f"{r['lag_p99_ms']:.3f} ms")

r = find("volley", "streams")
if r:
    mib = r["peak_rss_kib"] / 1024
    print(f"\n10,000 concurrent streams: server saw {r['server_max_in_flight']} at once, {r['ok']} ok, "
          f"{r['failed']} failed; Volley peak RSS {mib:.0f} MiB")
    check("RSS < 1 GiB at 10,000 open streams", mib < 1024 and r["server_max_in_flight"] == 10000, f"{mib:.0f} MiB")

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
