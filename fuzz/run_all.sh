#!/usr/bin/env bash
# run_all.sh BUILD_DIR SECONDS: runs every libFuzzer target for SECONDS each,
# FUZZ_JOBS (default 2) at a time, from the committed seeds (plus ../shared/testdata/ek-certs
# for ek_info). Working corpora and crash artifacts go to fuzz/corpus-work/.
# Prints executions and coverage per target; exits 1 if any target crashed.
set -uo pipefail
build="$1"
secs="${2:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/fuzz/corpus-work"
mkdir -p "$work"

run_one() {
  local name="$1" build="$2" secs="$3" root="$4" work="$5"
  local corpus="$work/$name" seeds=()
  mkdir -p "$corpus"
  [[ -d $root/fuzz/seeds/$name ]] && seeds+=("$root/fuzz/seeds/$name")
  [[ $name == ek_info && -d $root/../shared/testdata/ek-certs ]] &&
    seeds+=("$root/../shared/testdata/ek-certs")
  "$build/fuzz/fuzz_$name" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=4096 \
    -timeout=30 -artifact_prefix="$work/$name-" "$corpus" "${seeds[@]}" \
    >"$work/$name.log" 2>&1
  echo $? >"$work/$name.rc"
}
export -f run_one

targets=(verifier_challenge verifier_finish ek_info policy_json config_json agent_challenge
         tpm_structures ak_cache)
printf '%s\n' "${targets[@]}" |
  xargs -P "${FUZZ_JOBS:-2}" -I{} bash -c 'run_one "$@"' _ {} "$build" "$secs" "$root" "$work"

status=0
printf '%-20s %12s %8s %8s %s\n' target executions cov features result
for name in "${targets[@]}"; do
  log="$work/$name.log"
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}')
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  rc=$(cat "$work/$name.rc")
  result=clean
  if [[ $rc != 0 ]]; then
    result="FAILED (rc $rc, see $log)"
    status=1
  fi
  printf '%-20s %12s %8s %8s %s\n' "$name" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit $status
