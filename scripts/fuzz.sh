#!/usr/bin/env bash
# Builds the libFuzzer targets (release, -sanitize=fuzzer,address, in .build-fuzz so
# the ordinary build is untouched) and fuzzes each one, starting from the committed
# seed corpus, for SECONDS (default 60; 0 = no time limit) or RUNS executions
# (default: no limit), whichever comes first. Prints executions, speed, coverage and
# the result per target; exits non-zero if any target crashed, leaked, hung or ran
# out of memory (the input is saved under .build-fuzz/fuzz/<target>/artifacts/).
#
#   scripts/fuzz.sh [SECONDS] [RUNS]
#   FUZZ_TARGETS=frames scripts/fuzz.sh 600        # one target only
#
# New inputs libFuzzer finds go to .build-fuzz/fuzz/<target>/corpus/, never into fuzz/corpus/.
# To keep one as a regression input, copy it into fuzz/corpus/<target>/ and commit it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
runs=${2:--1}
scratch=.build-fuzz
targets=(${FUZZ_TARGETS:-frames log-record})

max_len() {
    case "$1" in
    frames) echo 70000 ;;  # max_frame is 65536 by default; a little more tests the 1009 cut-off
    log-record) echo 4096 ;; # a few records; scanning is quadratic in damaged input
    *) echo 4096 ;;
    esac
}

mkdir -p "$scratch/fuzz"
for t in "${targets[@]}"; do
    echo "building fuzz-$t (release, -sanitize=fuzzer,address)"
    if ! swift build -c release --scratch-path "$scratch" --product "fuzz-$t" \
        -Xswiftc -DFUZZING -Xswiftc -sanitize=fuzzer,address >"$scratch/fuzz/build-$t.log" 2>&1; then
        grep -v "Cannot export local symbol" "$scratch/fuzz/build-$t.log" | tail -40 >&2
        echo "fuzz-$t did not build" >&2
        exit 1
    fi
done

# libFuzzer's and ASan's handlers report crashes and save the input, not Swift's backtracer.
export SWIFT_BACKTRACE=enable=no
failed=0
for t in "${targets[@]}"; do
    # Not $scratch/artifacts: SwiftPM owns that directory and empties it.
    work="$scratch/fuzz/$t/corpus"
    artifacts="$scratch/fuzz/$t/artifacts"
    log="$scratch/fuzz/$t/fuzz.log"
    mkdir -p "$work" "$artifacts"
    printf '\n==> fuzz-%s: %s s, %s runs, -max_len=%s\n' "$t" "$seconds" "$runs" "$(max_len "$t")"
    status=0
    "$scratch/release/fuzz-$t" "$work" "fuzz/corpus/$t" \
        -dict="fuzz/$t.dict" -max_len="$(max_len "$t")" -max_total_time="$seconds" -runs="$runs" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
        >"$log" 2>&1 || status=$?
    grep -E "INITED|DONE|ERROR|SUMMARY|Test unit written|stat::" "$log" || true
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    cov=$(grep -Eo "cov: [0-9]+ ft: [0-9]+" "$log" | tail -1)
    if [ "$status" -eq 0 ]; then
        echo "fuzz-$t: ${execs:-?} executions in ${took:-?} s, ${cov:-no coverage line}: no crash"
    else
        echo "fuzz-$t: FAILED (exit $status) after ${execs:-?} executions; see $log and $artifacts/" >&2
        failed=1
    fi
done
exit "$failed"
