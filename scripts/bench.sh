#!/usr/bin/env bash
# Volley's benchmark command (README): one run on this machine, printing a table of
# Volley side by side with wrk (the ceiling), guidellm, inference-perf and aiperf, as
# ratios measured in the same run (generator and server share the machine's cores, so
# absolute figures mean little). Not part of the test run.
#
#   1. wrk against a trivial loopback endpoint (nginx returning a fixed completion);
#   2. Volley's maximum sustained requests/s against it (closed loop, 64 in flight),
#      and CPU seconds per 1,000 requests — non-streaming and 16-chunk streams; and
#      streamed tokens parsed per core-second (1,024-chunk streams, 16 in flight);
#   3. the same for guidellm, inference-perf and aiperf (installed into their own
#      virtual environments by scripts/bench/install-peers.sh; offline, local tokenizer);
#   2c. the closed loop on one core and on two (taskset), for the generator's scaling;
#   4. Volley's schedule lag p50/p99 and CPU per request under Poisson at 1,000 and
#      5,000 requests/s (open loop), beside the closed loop's CPU per request;
#   4a. the same arrivals from a minimal C client (scripts/bench/openloop-floor.c): the
#      floor of CPU per request for any open-loop generator on this machine;
#   4b. TTFT/ITL measurement error at 1,000 and 5,000 streams/s against the simulator
#      stamping each chunk with its send instant (scripts/bench/stamps.py);
#   5. Volley's peak RSS holding 10,000 concurrently open streaming responses;
#   5b. 1,000 agent sessions of 20 turns (builtin:agent, contexts growing 1,000 tokens a
#      turn): peak RSS, follow-up delay precision, CPU per request at turn-1 and turn-20
#      context sizes (BENCH_AGENTS=0 skips it);
#   6. the cost of one guest `next-requests` call (median ns): Rust, Python, JS.
#
# BENCH_SECONDS (default 10) sets each load window; BENCH_PEERS=0 skips the peers.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
SHARED="${VOLLEY_SHARED_DIR:-$ROOT/../shared}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/volley/target}"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
PEERS="${VOLLEY_PEERS:-$HOME/.cache/volley/peers}"
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

log "building volley (release)"
cargo build --release -q -p volley
V="$CARGO_TARGET_DIR/release/volley"
# The compile cache primed as any earlier run of the scenario leaves it: the rows below
# count the process's start-up (the cached guest loaded), not a first-ever compile.
"$V" bench-guest builtin:rate-range --params '{"concurrency_range": "64"}' --calls 1 >/dev/null
if [ "${BENCH_PEERS:-1}" = 1 ]; then bash scripts/bench/install-peers.sh; fi
command -v nginx >/dev/null && command -v wrk >/dev/null || bash scripts/bench/install-peers.sh

WORK="$(mktemp -d /tmp/volley-bench.XXXXXX)"
RESULTS="$WORK/results.jsonl"
PLAIN=18801
STREAM=18802
LONG=18804
SIM=18803
STAMPS=18805
cleanup() {
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null || true
  [ -n "${STAMPS_PID:-}" ] && kill "$STAMPS_PID" 2>/dev/null || true
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

python3 scripts/bench/nginx-conf.py "$WORK" "$PLAIN" "$STREAM" "$LONG" > "$WORK/nginx.conf"
# nginx's worker (not root) reads the long stream's file from the work directory.
chmod 755 "$WORK"; chmod 644 "$WORK/long.sse"
nginx -c "$WORK/nginx.conf" -p "$WORK/"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PLAIN/health" >/dev/null && break; sleep 0.05; done

# A local tokenizer directory for the peers (../shared/peers/NOTES.md).
TOK="$WORK/tok"
mkdir -p "$TOK"
cp "$SHARED/fixtures/smollm2-tokenizer.json" "$TOK/tokenizer.json"
echo '{"model_type": "llama", "tokenizer_class": "PreTrainedTokenizerFast"}' > "$TOK/tokenizer_config.json"
echo '{"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 49152}' > "$TOK/config.json"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

# cpu_of FILE: user + system seconds from `/usr/bin/time -f "%U %S %M"`.
cpu_of() { awk 'END { print $1 + $2 }' "$1"; }
rss_of() { awk 'END { print $3 }' "$1"; }
emit() { echo "$1" >> "$RESULTS"; }

# --- 1. wrk ---------------------------------------------------------------------------
cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body   = '{"model":"tiny","prompt":"hello hello hello hello hello hello hello hello","max_tokens":4}'
wrk.headers["Content-Type"] = "application/json"
LUA
for mode in plain stream; do
  port=$PLAIN; [ $mode = stream ] && port=$STREAM
  log "wrk ($mode), 64 connections, ${SECONDS_PER_RUN} s"
  /usr/bin/time -f "%U %S %M" -o "$WORK/wrk-$mode.time" \
    wrk -t1 -c64 -d"${SECONDS_PER_RUN}s" -s "$WORK/post.lua" "http://127.0.0.1:$port/v1/completions" > "$WORK/wrk-$mode.out"
  rps=$(awk '/Requests\/sec/ { print $2 }' "$WORK/wrk-$mode.out")
  n=$(awk '/requests in/ { print $1 }' "$WORK/wrk-$mode.out")
  emit "{\"tool\":\"wrk\",\"mode\":\"$mode\",\"rps\":$rps,\"requests\":$n,\"cpu_s\":$(cpu_of "$WORK/wrk-$mode.time")}"
done

# --- 2. Volley, closed loop -----------------------------------------------------------
for mode in plain stream; do
  port=$PLAIN; stream=false
  [ $mode = stream ] && port=$STREAM && stream=true
  log "volley ($mode), 64 in flight, ${SECONDS_PER_RUN} s"
  /usr/bin/time -f "%U %S %M" -o "$WORK/volley-$mode.time" "$V" run builtin:rate-range \
    --target "http://127.0.0.1:$port" --model tiny --quiet --out "$WORK/volley-$mode" \
    --params "{\"concurrency_range\": \"64\", \"stage_s\": $SECONDS_PER_RUN, \"stream\": $stream, \"prompt_tokens\": 8, \"output_tokens\": 4}" >/dev/null
  python3 - "$WORK/volley-$mode/report.json" "$mode" "$(cpu_of "$WORK/volley-$mode.time")" >> "$RESULTS" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["stages"][0]
print(json.dumps({"tool": "volley", "mode": sys.argv[2], "rps": s["achieved_rps"], "requests": s["requests"]["ok"],
                  "failed": s["requests"]["failed"], "cpu_s": float(sys.argv[3]), "stage_cpu_s": s["generator_cpu_s"]}))
PY
done

# --- 2c. Scaling: the same closed loop on one core, then two ------------------------
# Volley's threads follow its CPU affinity (one send lane per core); nginx is not pinned.
for cpus in 0 0,1; do
  log "volley (JSON) on CPUs $cpus, 64 in flight, ${SECONDS_PER_RUN} s"
  taskset -c "$cpus" "$V" run builtin:rate-range --target "http://127.0.0.1:$PLAIN" --model tiny --quiet --out "$WORK/scale-$cpus" \
    --params "{\"concurrency_range\": \"64\", \"stage_s\": $SECONDS_PER_RUN, \"stream\": false, \"prompt_tokens\": 8, \"output_tokens\": 4}" >/dev/null
  python3 - "$WORK/scale-$cpus/report.json" "$cpus" >> "$RESULTS" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["stages"][0]
print(json.dumps({"tool": "volley", "mode": "scale", "cpus": sys.argv[2], "rps": s["achieved_rps"], "requests": s["requests"]["ok"],
                  "stage_cpu_s": s["generator_cpu_s"]}))
PY
done

# --- 2b. Stream parsing: 1,024-chunk streams, 16 in flight ----------------------------
# Every chunk is parsed and timestamped (TTFT, ITL per chunk); the figure is chunks per
# CPU-second of the whole process, everything else a request costs included.
log "volley: 1,024-chunk streams, 16 in flight, ${SECONDS_PER_RUN} s"
/usr/bin/time -f "%U %S %M" -o "$WORK/volley-long.time" "$V" run builtin:rate-range \
  --target "http://127.0.0.1:$LONG" --model tiny --quiet --out "$WORK/volley-long" \
  --params "{\"concurrency_range\": \"16\", \"stage_s\": $SECONDS_PER_RUN, \"stream\": true, \"prompt_tokens\": 8, \"output_tokens\": 4}" >/dev/null
python3 - "$WORK/volley-long/report.json" "$(cpu_of "$WORK/volley-long.time")" >> "$RESULTS" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["stages"][0]
ok = s["requests"]["ok"]
chunks = (s["itl_ms"] or {}).get("count", 0) + ok
print(json.dumps({"tool": "volley", "mode": "long", "requests": ok, "failed": s["requests"]["failed"], "chunks": chunks,
                  "cpu_s": float(sys.argv[2])}))
PY

# --- 3. The peers (non-streaming, 64 in flight) ---------------------------------------
if [ "${BENCH_PEERS:-1}" = 1 ]; then
  log "guidellm: throughput profile, 64 in flight, ${SECONDS_PER_RUN} s (start-up ~30 s)"
  /usr/bin/time -f "%U %S %M" -o "$WORK/guidellm.time" timeout 300 "$PEERS/guidellm/bin/guidellm" run \
    --backend "kind=openai_http,target=http://127.0.0.1:$PLAIN,model=tiny,request_format=/v1/completions,stream=false" \
    --profile kind=throughput,max_concurrency=64 --constraint "kind=max_duration,seconds=$SECONDS_PER_RUN" \
    --tokenizer "kind=huggingface_auto,model=$TOK" --data kind=synthetic_text,prompt_tokens=8,output_tokens=4 \
    --output "kind=json,path=$WORK/guidellm.json" --disable-progress > "$WORK/guidellm.log" 2>&1 || log "guidellm failed: see $WORK/guidellm.log"
  python3 - "$WORK/guidellm.json" "$(cpu_of "$WORK/guidellm.time")" >> "$RESULTS" <<'PY' || true
import json, sys
b = json.load(open(sys.argv[1]))["benchmarks"][0]["metrics"]
r = b["requests_per_second"]["successful"]
print(json.dumps({"tool": "guidellm", "mode": "plain", "rps": r["mean"], "requests": r["count"], "cpu_s": float(sys.argv[2])}))
PY

  log "inference-perf: concurrent, 64 in flight"
  mkdir -p "$WORK/ip"
  cat > "$WORK/ip/config.yml" <<YML
load:
  type: concurrent
  stages:
    - num_requests: $((SECONDS_PER_RUN * 1000))
      concurrency_level: 64
api: {type: completion, streaming: false}
server: {type: vllm, model_name: tiny, base_url: "http://127.0.0.1:$PLAIN", ignore_eos: true}
data:
  type: random
  input_distribution: {min: 8, max: 8, mean: 8, std_dev: 0, total_count: 1000}
  output_distribution: {min: 4, max: 4, mean: 4, std_dev: 0, total_count: 1000}
tokenizer: {pretrained_model_name_or_path: "$TOK"}
report: {request_lifecycle: {summary: true, per_stage: true, per_request: false}}
storage: {local_storage: {path: "$WORK/ip/out"}}
YML
  (cd "$WORK/ip" && /usr/bin/time -f "%U %S %M" -o "$WORK/ip.time" timeout 300 "$PEERS/inference-perf/bin/inference-perf" \
    --config_file config.yml > "$WORK/ip.log" 2>&1) || log "inference-perf failed: see $WORK/ip.log"
  python3 - "$WORK/ip/out/stage_0_lifecycle_metrics.json" "$(cpu_of "$WORK/ip.time")" >> "$RESULTS" <<'PY' || true
import json, sys
d = json.load(open(sys.argv[1]))
print(json.dumps({"tool": "inference-perf", "mode": "plain", "rps": d["load_summary"]["achieved_rate"],
                  "requests": d["successes"]["count"], "cpu_s": float(sys.argv[2])}))
PY

  log "aiperf: 64 in flight, ${SECONDS_PER_RUN} s"
  HFH="$WORK/hf"
  SNAP="$HFH/hub/models--local--smollm2/snapshots/0"
  mkdir -p "$SNAP" "$HFH/hub/models--local--smollm2/refs"
  cp "$TOK"/* "$SNAP/"
  echo -n 0 > "$HFH/hub/models--local--smollm2/refs/main"
  (cd "$WORK" && HF_HOME="$HFH" /usr/bin/time -f "%U %S %M" -o "$WORK/aiperf.time" timeout 300 "$PEERS/aiperf/bin/aiperf" profile \
    --model tiny --url "http://127.0.0.1:$PLAIN" --endpoint-type completions --tokenizer local/smollm2 \
    --isl 8 --isl-stddev 0 --osl 4 --osl-stddev 0 --concurrency 64 --benchmark-duration "$SECONDS_PER_RUN" \
    --benchmark-grace-period 5 --num-dataset-entries 500 --ui none --no-server-metrics \
    --artifact-dir "$WORK/aiperf" > "$WORK/aiperf.log" 2>&1) || log "aiperf failed: see $WORK/aiperf.log"
  python3 - "$WORK/aiperf" "$(cpu_of "$WORK/aiperf.time")" >> "$RESULTS" <<'PY' || true
import glob, json, sys
path = sorted(glob.glob(sys.argv[1] + "/**/profile_export_aiperf.json", recursive=True))[0]
d = json.load(open(path))
def metric(name):
    m = d.get(name) or next((v for k, v in d.items() if isinstance(v, dict) and v.get("tag") == name), {})
    return m.get("avg")
print(json.dumps({"tool": "aiperf", "mode": "plain", "rps": metric("request_throughput"),
                  "requests": metric("request_count"), "cpu_s": float(sys.argv[2])}))
PY
fi

# --- 4. Schedule lag under Poisson ----------------------------------------------------
for rate in 1000 5000; do
  log "volley: Poisson $rate/s, ${SECONDS_PER_RUN} s"
  "$V" run builtin:rate-range --target "http://127.0.0.1:$PLAIN" --model tiny --quiet --out "$WORK/lag-$rate" \
    --params "{\"request_rate_range\": \"$rate\", \"distribution\": \"poisson\", \"stage_s\": $SECONDS_PER_RUN, \"stream\": false, \"prompt_tokens\": 8, \"output_tokens\": 4}" >/dev/null
  python3 - "$WORK/lag-$rate/report.json" "$rate" >> "$RESULTS" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["stages"][0]
print(json.dumps({"tool": "volley", "mode": "lag", "rate": float(sys.argv[2]), "sent_rps": s["offered_rps"],
                  "lag_p50_ms": s["schedule_lag_ms"]["p50"], "lag_p99_ms": s["schedule_lag_ms"]["p99"], "warnings": s["warnings"],
                  "requests": s["requests"]["ok"], "stage_cpu_s": s["generator_cpu_s"]}))
PY
done

# --- 4a. The open-loop floor: the least any client can spend per request -------------
# A minimal C client (scripts/bench/openloop-floor.c): the same arrivals, endpoint and body.
if cc -O2 -o "$WORK/openloop-floor" scripts/bench/openloop-floor.c -lm 2> "$WORK/floor-cc.log"; then
  for rate in 1000 5000; do
    log "floor: a minimal C open-loop client, Poisson $rate/s, ${SECONDS_PER_RUN} s"
    "$WORK/openloop-floor" "$PLAIN" "$rate" "$SECONDS_PER_RUN" > "$WORK/floor-$rate.json" || log "the open-loop floor failed at $rate/s"
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); d.update(tool="floor", mode="lag"); print(json.dumps(d))' \
      "$WORK/floor-$rate.json" >> "$RESULTS" || true
  done
else
  log "cannot build the open-loop floor (see $WORK/floor-cc.log); its column is left out"
fi

# --- 4b. TTFT/ITL measurement error against stamped chunks ----------------------------
"$V" sim --port "$STAMPS" --ttft-ms 2 --itl-ms 1 --jitter 0 --stamp-chunks > "$WORK/stamps-sim.log" 2>&1 &
STAMPS_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$STAMPS/health" >/dev/null && break; sleep 0.05; done
for rate in 1000 5000; do
  log "volley: $rate streams/s of 16 stamped chunks, ${SECONDS_PER_RUN} s"
  "$V" run builtin:rate-range --target "http://127.0.0.1:$STAMPS" --quiet --record-text --out "$WORK/stamps-$rate" \
    --params "{\"request_rate_range\": \"$rate\", \"distribution\": \"poisson\", \"stage_s\": $SECONDS_PER_RUN, \"stream\": true, \"prompt_tokens\": 8, \"output_tokens\": 16}" >/dev/null
  python3 scripts/bench/stamps.py "$WORK/stamps-$rate" "$rate" >> "$RESULTS"
done
kill "$STAMPS_PID" 2>/dev/null || true
STAMPS_PID=

# --- 5. RSS with 10,000 open streams --------------------------------------------------
log "volley: 10,000 streams open at once (the simulator holds each ~8 s)"
"$V" sim --port "$SIM" --ttft-ms 500 --itl-ms 1000 --jitter 0 > "$WORK/sim.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$SIM/health" >/dev/null && break; sleep 0.05; done
/usr/bin/time -f "%U %S %M" -o "$WORK/streams.time" "$V" run builtin:burst --target "http://127.0.0.1:$SIM" --quiet \
  --out "$WORK/streams" --timeout-s 120 --params '{"n": 10000, "max_tokens": 8, "stream": true}' >/dev/null
python3 - "$WORK/streams/report.json" "$(rss_of "$WORK/streams.time")" "http://127.0.0.1:$SIM/sim/stats" >> "$RESULTS" <<'PY'
import json, sys, urllib.request
s = json.load(open(sys.argv[1]))["stages"][0]
stats = json.load(urllib.request.urlopen(sys.argv[3]))
print(json.dumps({"tool": "volley", "mode": "streams", "ok": s["requests"]["ok"], "failed": s["requests"]["failed"],
                  "server_max_in_flight": stats.get("max_in_flight"), "peak_rss_kib": int(sys.argv[2])}))
PY
kill "$SIM_PID" 2>/dev/null || true
SIM_PID=

# --- 5b. Agent sessions ---------------------------------------------------------------
# builtin:agent against the simulator answering every turn with a tool call: 1,000
# sessions in flight, 20 turns each (19 tool rounds), each result adding 1,000 tokens to
# the context, which the host keeps (the requests' `history`). The tools take 0.5-1.5 s
# (kept by Volley's clock): about 1,000 follow-ups a second, which the simulator serves
# on the same two cores (with 20-60 ms tools it cannot: 20,000 requests a second of
# 100 KB bodies, and the lag measured is that of a saturated machine). Peak RSS and the
# follow-ups' lag against their asked delay. Generator CPU per request at turn 20 against
# turn 1: the same sessions with empty tool results (every turn's context stays a turn-1
# context of about 1,000 tokens) give turn 1's cost; as the cost grows linearly with the
# context, turn 20's is twice the growing run's mean less turn 1's.
# Without a tokenizer the scenario's texts are words, one simulator token each.
if [ "${BENCH_AGENTS:-1}" = 1 ]; then
  log "volley: 1,000 agent sessions of 20 turns, contexts growing 1,000 tokens a turn"
  "$V" sim --port "$SIM" --ttft-ms 2 --itl-ms 1 --jitter 0 --parallel-tools 1 > "$WORK/sim.log" 2>&1 &
  SIM_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$SIM/health" >/dev/null && break; sleep 0.05; done
  for result in 1000 0; do
    /usr/bin/time -f "%U %S %M" -o "$WORK/agents-$result.time" "$V" run builtin:agent --target "http://127.0.0.1:$SIM" --quiet \
      --out "$WORK/agents-$result" --timeout-s 120 --params "{\"tasks\": 1000, \"sessions\": 1000, \"steps\": 19, \"system_tokens\": 1000,
        \"task_tokens\": 10, \"result_tokens\": $result, \"tool_ms\": [500, 1500], \"max_tokens\": 8, \"tool_choice\": \"required\"}" >/dev/null \
      || log "agent sessions run (results of $result tokens) failed"
  done
  python3 - "$WORK" "$(rss_of "$WORK/agents-1000.time")" >> "$RESULTS" <<'PY'
import json, os, sys
work, rss = sys.argv[1], int(sys.argv[2] or 0)
def stage(d):
    p = os.path.join(work, d, "report.json")
    return json.load(open(p))["stages"][0] if os.path.exists(p) else None
def cpu_us(s):
    return 1e6 * s["generator_cpu_s"] / s["requests"]["sent"] if s and s.get("generator_cpu_s") is not None and s["requests"]["sent"] else None
s, flat = stage("agents-1000"), stage("agents-0")
t = (s or {}).get("tasks") or {}
row = {"tool": "volley", "mode": "agents", "peak_rss_kib": rss, "ok": s and s["requests"]["ok"], "failed": s and s["requests"]["failed"],
       "tasks_completed": t.get("completed"), "turns_p50": (t.get("turns") or {}).get("p50"),
       "lag_p50_ms": (t.get("follow_up_lag_ms") or {}).get("p50"), "lag_p99_ms": (t.get("follow_up_lag_ms") or {}).get("p99")}
mean, turn1 = cpu_us(s), cpu_us(flat)
if mean and turn1:
    row.update({"cpu_us_mean": mean, "cpu_us_turn1": turn1, "cpu_us_turn20": 2 * mean - turn1})
print(json.dumps(row))
PY
  kill "$SIM_PID" 2>/dev/null || true
  SIM_PID=
fi

# --- 6. Guest call cost ---------------------------------------------------------------
log "guest next-requests call cost"
"$V" bench-guest builtin:chat-poisson --calls 20000 --batch 1 | sed 's/^{/{"tool":"volley","mode":"guest","lang":"rust",/' >> "$RESULTS"
"$V" bench-guest builtin:chat-poisson --calls 2000 --batch 32 | sed 's/^{/{"tool":"volley","mode":"guest","lang":"rust",/' >> "$RESULTS"
if toolchains="$(bash scripts/guest-toolchains.sh 2>/dev/null)"; then
  eval "$toolchains"
  for lang in python js; do
    "$V" new "bench-$lang" --lang "$lang" --dir "$WORK/bench-$lang" >/dev/null
    sh "$WORK/bench-$lang/build.sh" >/dev/null 2>&1 || { log "$lang guest build failed"; continue; }
    "$V" bench-guest "$WORK/bench-$lang/bench-$lang.wasm" --calls 2000 --batch 1 \
      | sed "s/^{/{\"tool\":\"volley\",\"mode\":\"guest\",\"lang\":\"$lang\",/" >> "$RESULTS"
  done
fi

python3 scripts/bench/table.py "$RESULTS"
log "raw results: $RESULTS"
