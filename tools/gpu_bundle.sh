#!/usr/bin/env bash
# Packs the CUDA engine's GPU checks into .gpu/ (git-ignored) so that a machine with a GPU but
# without this project's build dependencies (RE2, SQLite, Boost, nlohmann-json, GoogleTest: the
# lent H100's image has CUDA, CMake and PyTorch, not these) can run them from the repository root:
#
#   tools/gpu_bundle.sh [build-dir]      # here: builds test-cuda, bench-cuda-engine and adabench
#                                        # (default build dir: build, as tools/setup.sh makes it),
#                                        # copies them stripped to .gpu/bin, the two shared
#                                        # libraries they need beyond CUDA's to .gpu/lib, and
#                                        # .gpu/run.sh
#   bash .gpu/run.sh [out-dir] [steps]   # there (the device tool: carry .gpu): every gpu test, the
#                                        # benchmark, one CLI generation on the organism and
#                                        # compute-sanitizer over the kernel tests, each log in
#                                        # out-dir (default $OUT, else .gpu/out); steps picks some
#
# The binaries link CUDA 13's cudart and cuBLAS dynamically: the GPU machine must have CUDA 13
# (the lent one has 13.0 with driver 580, like this toolkit). About 15 MB.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-build}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
die() { echo "gpu_bundle: $*" >&2; exit 1; }

[ -f "$BUILD/CMakeCache.txt" ] || die "$BUILD is not a configured build directory (run tools/setup.sh first, or pass one)"
cmake --build "$BUILD" -j "$(nproc)" --target test-cuda bench-cuda-engine adabench >/dev/null ||
    die "building test-cuda, bench-cuda-engine and adabench in $BUILD failed (configured without the CUDA toolkit?)"

OUTDIR="$ROOT/.gpu"
rm -rf "$OUTDIR"
mkdir -p "$OUTDIR/bin" "$OUTDIR/lib"
strip -o "$OUTDIR/bin/test-cuda" "$BUILD/tests/cuda/test-cuda"
strip -o "$OUTDIR/bin/bench-cuda-engine" "$BUILD/bench/bench-cuda-engine"
strip -o "$OUTDIR/bin/adabench" "$BUILD/harness/cli/adabench"
# Shared libraries outside CUDA and the C/C++ runtime that the binaries need.
for lib in $(ldd "$OUTDIR"/bin/* | awk '/=> \// {print $3}' | sort -u); do
    case "$(basename "$lib")" in
        libcuda*|libcublas*|libc.so*|libm.so*|libstdc++*|libgcc_s*|libdl.so*|libpthread*|librt.so*) ;;
        *) cp -L "$lib" "$OUTDIR/lib/" ;;
    esac
done

cat >"$OUTDIR/run.sh" <<'EOF'
#!/usr/bin/env bash
# Runs the CUDA engine's GPU checks from the repository root (made by tools/gpu_bundle.sh):
#   bash .gpu/run.sh [out-dir] [steps]
# steps, in order (default all): test (every gpu test), bench (bench-cuda-engine), generate (one
# CLI generation on the organism), sanitize (compute-sanitizer memcheck and racecheck over the
# kernel tests, at most 150 s each). Each writes its log to out-dir (default $OUT, else .gpu/out).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="${1:-${OUT:-$ROOT/.gpu/out}}"
STEPS="${2:-test bench generate sanitize}"
mkdir -p "$OUT_DIR"
cd "$ROOT"
export ADABENCH_SOURCE_DIR="$ROOT"
export PATH="/usr/local/cuda/bin:$PATH"
export LD_LIBRARY_PATH="$ROOT/.gpu/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
B="$ROOT/.gpu/bin"
status=0
{ nvidia-smi -L; ldd "$B/test-cuda" | grep -i 'cuda\|cublas\|not found'; } 2>&1 | tee "$OUT_DIR/device.txt"
for step in $STEPS; do
    echo "== $step"
    case "$step" in
        test) "$B/test-cuda" --gtest_brief=1 2>&1 | tee "$OUT_DIR/test-cuda.log" || status=1 ;;
        bench) "$B/bench-cuda-engine" 2>&1 | tee "$OUT_DIR/bench-cuda-engine.log" || status=1 ;;
        generate)
            "$B/adabench" generate --engine cuda --model models/organism/long --chat --json \
                --prompt "Mia has 47 marbles. In January, Mia finds 8 more. How many marbles does Mia have at the end?" \
                2>&1 | tee "$OUT_DIR/generate.log" || status=1 ;;
        sanitize)
            for tool in memcheck racecheck; do
                timeout 150 compute-sanitizer --tool "$tool" --error-exitcode 3 "$B/test-cuda" --gtest_brief=1 \
                    --gtest_filter='CudaOps*:CudaAttention*:CudaMatvec*:CudaGemm*:CudaCompose.*' \
                    2>&1 | tail -n 200 | tee "$OUT_DIR/sanitize-$tool.log" || status=1
            done ;;
        *) echo "unknown step $step (test, bench, generate, sanitize)"; status=2 ;;
    esac
done
exit $status
EOF
chmod +x "$OUTDIR/run.sh"
bundle_kb=$(du -sk "$OUTDIR" | cut -f1)
tree_kb=$(cd "$ROOT" && git ls-files -z | xargs -0 du -ck 2>/dev/null | tail -n 1 | cut -f1)
echo "gpu_bundle: $((bundle_kb / 1024)) MiB in $OUTDIR (with the tracked tree: $(((bundle_kb + tree_kb) / 1024)) MiB," \
    "the device tool carries at most 64); on the GPU machine: bash .gpu/run.sh (carry .gpu)"
[ $((bundle_kb + tree_kb)) -le $((62 * 1024)) ] ||
    echo "gpu_bundle: warning: over 62 MiB with the tree; the device tool may refuse to carry it" >&2
