#!/usr/bin/env bash
# CI smoke run of every fuzz target: each one runs SECONDS (default 10) with libFuzzer; exits
# non-zero when a target crashes (panic, timeout, OOM) or does not build.
#
#   sensor/fuzz/smoke.sh [SECONDS] [TARGET ...]
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# Env: FUZZ_LOG_DIR (default sensor/fuzz/target/smoke-logs), SEED_PCAPS (capture dir for
# seeds.py when sensor/fuzz/corpus does not exist yet; default /work/shared/corpus),
# FUZZ_ARGS (extra libFuzzer flags).
#
# Built without a sanitizer (`-s none`): the dissectors are safe Rust, panics are what we look
# for, and the bundled librdkafka/zstd build of the sensor crate does not link with ASan.
set -uo pipefail

secs="${1:-10}"
shift || true
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
logs="${FUZZ_LOG_DIR:-$here/target/smoke-logs}"
seed_pcaps="${SEED_PCAPS:-/work/shared/corpus}"
mkdir -p "$logs"
cd "$root" || exit 2

fuzz=(cargo +nightly fuzz)
if ! "${fuzz[@]}" --version >/dev/null 2>&1; then
    echo "smoke.sh: cargo-fuzz missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

if [ ! -d "$here/corpus" ] && [ -d "$seed_pcaps" ]; then
    python3 "$here/seeds.py" "$seed_pcaps" >/dev/null || echo "smoke.sh: seeds.py failed (continuing without seeds)" >&2
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <("${fuzz[@]}" list --fuzz-dir "$here")
fi

if ! "${fuzz[@]}" build -s none --fuzz-dir "$here" >"$logs/build.log" 2>&1; then
    tail -n 40 "$logs/build.log" >&2
    echo "smoke.sh: build failed (log: $logs/build.log)" >&2
    exit 2
fi

failed=()
printf '%-10s %8s %12s  %s\n' target status execs result
for t in "${targets[@]}"; do
    mkdir -p "$here/corpus/$t"
    # shellcheck disable=SC2086
    "${fuzz[@]}" run -s none --fuzz-dir "$here" "$t" -- \
        -max_total_time="$secs" -timeout=25 -print_final_stats=1 ${FUZZ_ARGS:-} \
        >"$logs/$t.log" 2>&1
    rc=$?
    execs="$(grep -m1 'stat::number_of_executed_units' "$logs/$t.log" | awk '{print $2}')"
    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        result="CRASH: $(grep -m1 -E 'panicked at|ERROR: libFuzzer|SUMMARY' "$logs/$t.log" | cut -c1-150)"
        failed+=("$t")
    fi
    printf '%-10s %8s %12s  %s\n' "$t" "$rc" "${execs:-?}" "$result"
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "smoke.sh: crashes in: ${failed[*]} (logs: $logs, reproducers: $here/artifacts/<target>/)" >&2
    exit 1
fi
echo "smoke.sh: ${#targets[@]} targets x ${secs}s, no crash"
