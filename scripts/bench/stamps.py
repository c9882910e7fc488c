"""TTFT/ITL measurement error for scripts/bench.sh: for every streamed chunk of a run
against `volley sim --stamp-chunks` (each chunk's text is its send instant, Unix
microseconds, read just before the simulator hands it to the connection), Volley's
timestamp of the chunk minus that stamp. Volley's timestamp is the record's sent_ms +
ttft_ms for the first chunk, then the ITL gaps added on; the stage window's
started_unix_ms - started_ms places the run's clock on the wall clock (the clock offset,
measured once by the engine at the run's start, to the microsecond).

Usage: stamps.py RUN_DIR RATE  (prints one JSON line for results.jsonl)"""
import json, sys
run = sys.argv[1]
stage = json.load(open(run + "/report.json"))["stages"][0]
w = stage["window"]
base = w["started_unix_ms"] - w["started_ms"]
first, rest, bad = [], [], 0
for line in open(run + "/requests.jsonl"):
    r = json.loads(line)
    if not r["ok"] or r.get("excluded"):
        continue
    stamps = [int(x) / 1000.0 for x in (r.get("response_text") or "").split()]
    if len(stamps) != len(r["itl_ms"]) + 1 or r["ttft_ms"] is None:
        bad += 1
        continue
    t = base + r["sent_ms"] + r["ttft_ms"]
    first.append(t - stamps[0])
    for gap, stamp in zip(r["itl_ms"], stamps[1:]):
        t += gap
        rest.append(t - stamp)
def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")
every = first + rest
print(json.dumps({"tool": "volley", "mode": "stamps", "rate": float(sys.argv[2]), "chunks": len(every), "streams": len(first), "unmatched": bad, "sent_rps": stage["offered_rps"],
                  "err_p50_ms": q(every, 0.5), "err_p99_ms": q(every, 0.99), "err_max_ms": max(every) if every else None,
                  "first_p50_ms": q(first, 0.5), "first_p99_ms": q(first, 0.99), "min_ms": min(every) if every else None,
                  "lag_p99_ms": stage["schedule_lag_ms"]["p99"] if stage["schedule_lag_ms"] else None}))
