#!/usr/bin/env bash
# Long libFuzzer runs of adabench's parsers (fuzz/): builds the targets with clang, ASan, UBSan and
# libFuzzer in their own build directory, runs each for a while over a corpus kept outside the
# repository, and prints the executions per target and in all.
#
#   bash tools/fuzz.sh [SECONDS-PER-TARGET] [TARGET...]     (default: 60 s, every target)
#   bash tools/fuzz.sh 600 safetensors tokenizer            (names without the fuzz_ prefix)
#
# Environment: ADABENCH_FUZZ_BUILD_DIR (default <repo>/build-fuzz), ADABENCH_FUZZ_CORPUS_DIR
# (default ${XDG_CACHE_HOME:-~/.cache}/adabench-fuzz: grows across runs; each target's new inputs go
# to <dir>/<target>), ADABENCH_FUZZ_JOBS (parallel targets, default nproc), ADABENCH_JOBS (build).
# A crash leaves its input as <corpus dir>/artifacts/<target>/crash-* and the log next to it; copy
# the input to fuzz/regressions/<target>/ once it is fixed, so the ctest `fuzz` label replays it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${ADABENCH_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
CORPUS="${ADABENCH_FUZZ_CORPUS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/adabench-fuzz}"
JOBS="${ADABENCH_JOBS:-$(nproc)}"
PAR="${ADABENCH_FUZZ_JOBS:-$(nproc)}"
SECONDS_PER="${1:-60}"
shift || true

say() { printf '[fuzz] %s\n' "$*" >&2; }
die() { printf '[fuzz] error: %s\n' "$*" >&2; exit 1; }

[[ "$SECONDS_PER" =~ ^[0-9]+$ ]] || die "seconds per target must be a whole number, got '$SECONDS_PER'"
command -v clang++ >/dev/null || die "clang++ not found (hint: apt-get install clang libclang-rt-14-dev)"

all_targets() { sed -n 's/^  "\([a-z_]*\)=.*/\1/p' "$ROOT/fuzz/CMakeLists.txt"; }
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(all_targets); fi
for t in "${targets[@]}"; do
    all_targets | grep -qx "$t" || die "unknown target '$t' (known: $(all_targets | tr '\n' ' '))"
done

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [ "${ADABENCH_FUZZ_NO_BUILD:-0}" = 1 ]; then
    say "using the targets already built in $BUILD (ADABENCH_FUZZ_NO_BUILD=1)"
else
    say "building ${#targets[@]} target(s) in $BUILD"
    CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DADABENCH_SANITIZE=address,undefined \
        -DADABENCH_FUZZ=ON -DADABENCH_CUDA=OFF -DADABENCH_BUILD_BENCH=OFF \
        "${launcher[@]}" >/dev/null
    cmake --build "$BUILD" -j"$JOBS" --target "${targets[@]/#/fuzz_}" >/dev/null
fi
for t in "${targets[@]}"; do
    [ -x "$BUILD/fuzz/fuzz_$t" ] || die "$BUILD/fuzz/fuzz_$t was not built"
done

export ADABENCH_SOURCE_DIR="$ROOT"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

run_one() {
    local t="$1" corpus="$CORPUS/$t" art="$CORPUS/artifacts/$t"
    mkdir -p "$corpus" "$art"
    local dirs=("$corpus" "$ROOT/fuzz/corpus/$t")
    [ -d "$ROOT/fuzz/regressions/$t" ] && dirs+=("$ROOT/fuzz/regressions/$t")
    local dict=()
    [ -f "$ROOT/fuzz/dict/$t.dict" ] && dict=(-dict="$ROOT/fuzz/dict/$t.dict")
    "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_PER" -timeout=25 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$art/" "${dict[@]}" "${dirs[@]}" > "$art/log.txt" 2>&1
}

say "running each for ${SECONDS_PER} s, $PAR at a time; corpus in $CORPUS"
declare -A status
running=0
for t in "${targets[@]}"; do
    run_one "$t" &
    status[$t]=$!
    running=$((running + 1))
    if [ "$running" -ge "$PAR" ]; then wait -n || true; running=$((running - 1)); fi
done
failed=0
total=0
printf '%-18s %14s %10s  %s\n' target executions exec/s result
for t in "${targets[@]}"; do
    rc=0
    wait "${status[$t]}" || rc=$?
    log="$CORPUS/artifacts/$t/log.txt"
    n="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    n="${n:-0}"
    total=$((total + n))
    result="ok"
    if [ "$rc" -ne 0 ]; then
        result="FAILED (exit $rc; see $log)"
        failed=$((failed + 1))
    fi
    printf '%-18s %14s %10s  %s\n' "$t" "$n" "$((n / (SECONDS_PER > 0 ? SECONDS_PER : 1)))" "$result"
done
printf '%-18s %14s\n' total "$total"
[ "$failed" -eq 0 ] || die "$failed target(s) failed"
