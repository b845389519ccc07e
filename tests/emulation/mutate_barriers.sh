#!/bin/bash
# Barrier mutation analysis for the emulation's race check: removes each __syncthreads() of the CUDA
# kernels in turn, rebuilds test-emulation and runs it with the race check on and off, and prints
# one line per barrier: whether the tests fail ("KILLED") without it. A barrier whose removal no test
# notices is either redundant or a gap in the tests. About 10 minutes on 2 cores.
#
#   tests/emulation/mutate_barriers.sh [build-dir]   (default: build-mutate; configured here, CUDA off)
#
# It edits the sources in place and restores each file after its mutants (and on exit); run it in a
# clean checkout or a git worktree, not under an editor.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-mutate}
files=(engines/cuda/ops.cu engines/cuda/attention.cu engines/cuda/gemm.cu engines/cuda/sample_kernel.cuh)
saved=$(mktemp -d)
for f in "${files[@]}"; do cp "$f" "$saved/$(basename "$f")"; done
restore() { for f in "${files[@]}"; do cp "$saved/$(basename "$f")" "$f"; done; }
trap restore EXIT

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DADABENCH_CUDA=OFF -DADABENCH_BUILD_BENCH=OFF >/dev/null
make -C "$build" -j"$(nproc)" test-emulation >/dev/null
run() {  # the engine's kernel tests (not the race check's own), stopping at the first failure
    timeout 600 "$build/tests/emulation/test-emulation" --gtest_filter='-EmulationRaceCheck*' --gtest_fail_fast \
        >"$saved/log" 2>&1 && echo survived || echo KILLED
}
killed_on=0 killed_off=0 total=0
for f in "${files[@]}"; do
    n=$(grep -o "__syncthreads()" "$f" | wc -l)
    for k in $(seq 1 "$n"); do
        line=$(python3 - "$f" "$k" <<'PY'
import sys
f, k = sys.argv[1], int(sys.argv[2])
s = open(f).read()
i = -1
for _ in range(k):
    i = s.index("__syncthreads()", i + 1)
open(f, "w").write(s[:i] + "(void)0" + s[i + len("__syncthreads()"):])
print(s.count("\n", 0, i) + 1)
PY
)
        if ! make -C "$build" -j"$(nproc)" test-emulation >"$saved/build.log" 2>&1; then
            echo "$f:$line build failed"; cp "$saved/$(basename "$f")" "$f"; continue
        fi
        on=$(run)
        why=$(sed -n 's/.*race check: kernel \([A-Za-z_0-9]*\) .* and the \(.*\) schedule: output.*/(kernel \1, \2 schedule)/p' \
            "$saved/log" | head -1)
        off=$(ADABENCH_EMU_RACECHECK=0 run)
        total=$((total + 1))
        [ "$on" = KILLED ] && killed_on=$((killed_on + 1))
        [ "$off" = KILLED ] && killed_off=$((killed_off + 1))
        echo "$f:$line  race check on: $on  off: $off  ${why}"
        cp "$saved/$(basename "$f")" "$f"
    done
done
echo "barriers: $total; removal noticed with the race check: $killed_on, without: $killed_off"
