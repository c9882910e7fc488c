//! The examples under each command's `--help` (clap's `after_help`), and the exit codes
//! under `volley --help` and `volley run --help`. Each example is a command that works
//! as written against the server it names.

/// `volley --help`.
pub(crate) const VOLLEY: &str = "\
Examples:
  volley demo                                        # the simulator and a 5 s run, nothing to start
  volley run builtin:chat-poisson --target http://127.0.0.1:8000 --params '{\"rate\": 8}'
  volley check builtin:chat-poisson --params '{\"rate\": 8}'   # plan and first requests; sends nothing

`volley COMMAND --help` shows a command's options, grouped by topic, with examples.
Exit codes: 0 ok, 1 error, 2 usage (the command line), 3 no request succeeded,
99 a threshold failed, 130 interrupted (README.md, \"Exit codes\").";

/// `volley run --help`.
pub(crate) const RUN: &str = "\
Examples:
  # Poisson arrivals of streaming chats, 8 requests/s for 30 s
  volley run builtin:chat-poisson --target http://127.0.0.1:8000 \\
      --params '{\"rate\": 8, \"duration_s\": 30, \"max_tokens\": 128}' --out results/poisson
  # Gate CI on objectives (exit 99 if one fails); three trials for confidence intervals
  volley run builtin:chat-poisson --target http://127.0.0.1:8000 \\
      --threshold 'ttft_ms.p99<500' --threshold 'error_rate<0.01' --repeat 3
  # Your own component, pinned to the digest you reviewed, under a policy
  volley run ./my_scenario.wasm --target https://gpu-box:8000 --digest sha256:0f1e… --policy policy.toml

Exit codes: 0 ok; 1 error (nothing run, a refusal, a fault); 2 usage; 3 requests were
sent and none succeeded; 99 a threshold failed; 130 interrupted. When several hold:
1, then 99, then 130, then 3. Every output is written before 3, 99 and 130.";

/// `volley sim --help`.
pub(crate) const SIM: &str = "\
Examples:
  volley sim --port 8000 --ttft-ms 200 --itl-ms 20 --tokens-per-chunk 3
  # Four generations at once, the rest queue: a server with a known capacity
  volley sim --port 8000 --slots 4 --output-tokens 128
  # KServe v2 with Triton-style dynamic batching
  volley sim --port 8001 --max-batch 8 --batch-delay-ms 5 --service-ms 20";

/// `volley demo --help`.
pub(crate) const DEMO: &str = "\
Examples:
  volley demo
  volley demo --seconds 20 --rate 50 --out results/demo-50";

/// `volley coldstart --help`.
pub(crate) const COLDSTART: &str = "\
Examples:
  volley coldstart --port 8200 --config default='llama-server -m model.gguf --port 8200'
  # Two configurations, five cold starts each, the page cache dropped before each (root)
  volley coldstart --port 8200 --repeat 5 --drop-caches \\
      --config mmap='llama-server -m model.gguf --port 8200 --load-mode mmap' \\
      --config read='llama-server -m model.gguf --port 8200 --load-mode none'";

/// `volley check --help`.
pub(crate) const CHECK: &str = "\
Examples:
  volley check builtin:chat-poisson --params '{\"rate\": 8}'
  volley check my-chat/my-chat.wasm -n 10
  # Vet a shared package against your policy: \"policy: ok\" or \"policy: REFUSED …\"
  volley check shared.volley --policy policy.toml";

/// `volley new --help`.
pub(crate) const NEW: &str = "\
Examples:
  volley new my-chat --lang python && my-chat/build.sh
  volley new my-agent --lang rust --dir scenarios/my-agent
  # An agent: sessions of tool-calling turns (WIT 0.6)
  volley new my-tools --lang js --template agent && my-tools/build.sh";

/// `volley pack --help`.
pub(crate) const PACK: &str = "\
Examples:
  volley pack my-chat/my-chat.wasm --manifest my-chat/volley.json   # -> my-chat-0.1.0.volley
  volley pack builtin:burst -o burst.volley";

/// `volley inspect --help`.
pub(crate) const INSPECT: &str = "\
Examples:
  volley inspect my-chat-0.1.0.volley
  volley inspect oci://127.0.0.1:5000/team/my-chat:0.1.0 --json";

/// `volley push --help`.
pub(crate) const PUSH: &str = "\
Examples:
  volley push my-chat-0.1.0.volley oci://127.0.0.1:5000/team/my-chat
  VOLLEY_REGISTRY=registry.example VOLLEY_REGISTRY_USER=me VOLLEY_REGISTRY_PASSWORD=… \\
      volley push my-chat-0.1.0.volley oci://registry.example/team/my-chat:0.1.0 --ca-cert registry-ca.pem";

/// `volley pull --help`.
pub(crate) const PULL: &str = "\
Examples:
  volley pull oci://127.0.0.1:5000/team/my-chat:0.1.0
  volley pull oci://127.0.0.1:5000/team/my-chat@sha256:<manifest> -o my-chat.volley";

/// `volley kube --help`.
pub(crate) const KUBE: &str = "\
Examples:
  volley kube render --config run.toml --shards 8 > volley.yaml && kubectl apply -f volley.yaml
  volley kube render --config run.toml --shards 4 --image registry.example/volley@sha256:… \\
      --egress-cidr 10.0.0.0/24 --out volley.yaml";

/// `volley merge --help`.
pub(crate) const MERGE: &str = "\
Examples:
  volley merge results/shard-0 results/shard-1 results/shard-2 --out results/merged
  # On Kubernetes, beside the shards: wait for their reports, judge one more threshold
  volley merge /results/shard-* --out /results/merged --wait-s 600 --threshold 'ttft_ms.p99<500'

Exit codes as `volley run`: 99 if a threshold fails on the merged numbers, 3 if the
shards sent requests and none succeeded.";

/// `volley compare --help`.
pub(crate) const COMPARE: &str = "\
Examples:
  volley compare results/baseline results/candidate
  volley compare results/repeat-a results/repeat-b     # --repeat directories: noise from the trials
  volley compare a/report.json b/report.json
  volley compare results/tp1 results/tp2 results/tp4 --html compare.html   # every run against the first, and one page";

/// `volley runs --help`.
pub(crate) const RUNS: &str = "\
Examples:
  volley run builtin:chat-poisson --target http://127.0.0.1:8000 --label build=42   # stored by default
  volley runs list --label build=42
  volley runs show label:build=42                    # the latest run carrying the label
  volley runs trend ttft_ms.p99 --scenario chat-poisson
  volley runs export 3f2a9c --out report.json
  VOLLEY_STORE=postgres://volley@db.internal/volley volley runs list   # a team's store

Runs are kept in $VOLLEY_STORE (a SQLite file or a postgres:// URL), else runs.sqlite
under the user's data directory; `volley run --no-store` keeps one out (docs/results.md).";
