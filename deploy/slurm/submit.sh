#!/usr/bin/env bash
# Submits a sharded run: N array tasks starting together, then the merge once all
# succeeded. Prints the merge job's id; the merged report lands in RESULTS_DIR/merged.
#
#   deploy/slurm/submit.sh N RUN_TOML RESULTS_DIR [more `volley run` flags]
#
# LEAD_S (default 15): how far ahead the common start is, enough for every task to be
# scheduled and set up. VOLLEY: the binary (default: volley on PATH), the same on
# every node.
#
# The merged run is kept once, in the run store the merge job finds in its environment
# (sbatch passes the submitter's): VOLLEY_STORE=postgres://… for a team's store (the URL
# stays in the environment, never in a job script or on a command line), and
# VOLLEY_POLICY naming a policy whose `exporters` list that store when it is not on
# loopback. Without VOLLEY_STORE the merge uses the default SQLite store of the user it
# runs as. The tasks keep nothing.
set -euo pipefail
n=${1:?usage: submit.sh N RUN_TOML RESULTS_DIR [flags]}
config=$(realpath "${2:?usage: submit.sh N RUN_TOML RESULTS_DIR [flags]}")
results=$(realpath -m "${3:?usage: submit.sh N RUN_TOML RESULTS_DIR [flags]}")
shift 3
here=$(dirname "$(realpath "$0")")
volley=${VOLLEY:-volley}
start_at=$(( $(date +%s%3N) + ${LEAD_S:-15} * 1000 ))
mkdir -p "$results"
array=$(START_AT=$start_at VOLLEY=$volley sbatch --parsable --export=ALL --array=0-$((n - 1)) \
  -o "$results/slurm-%A-%a.out" "$here/volley-shards.sbatch" "$config" "$results" "$@")
dirs=$(for i in $(seq 0 $((n - 1))); do printf '%s ' "$results/shard-$i"; done)
sbatch --parsable --dependency=afterok:"$array" -o "$results/slurm-merge-%j.out" \
  --wrap "$volley merge $dirs --out $results/merged"
