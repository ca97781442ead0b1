#!/usr/bin/env bash
# Runs each cargo-fuzz target (libFuzzer) for a bounded time; fails if one finds a crash.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET (default 180)] [TARGET...]
#
# Targets (fuzz/fuzz_targets/): framer, command, hub, web, irc, irc_session. Needs the nightly toolchain and
# cargo-fuzz (installed here with `cargo install cargo-fuzz` if missing). Crash inputs land in
# fuzz/artifacts/TARGET/; turn each into a unit test before fixing it. Corpora grow in
# fuzz/corpus/ (not committed). The same properties run on stable in `cargo test` (proptest).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-180}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(framer command hub web irc irc_session)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "${targets[@]}"; do
    echo "== $t, $seconds s"
    status=0
    cargo +nightly fuzz run -O "$t" -- -max_total_time="$seconds" -max_len=4096 >"$log" 2>&1 \
        || status=$?
    grep -E '^Done|SUMMARY|panicked|crash-|^error' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 20 "$log" >&2
        echo "$t: failed (crash inputs, if any, in fuzz/artifacts/$t/)" >&2
        exit 1
    fi
done
