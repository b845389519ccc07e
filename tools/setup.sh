#!/usr/bin/env bash
# adabench set-up: install what is missing (Debian packages only), build, and run a job.
#
#   bash tools/setup.sh run    install, build the CLI, run the main job (sweep on the bundled model + report)
#   bash tools/setup.sh test   install, build, run the tests (then once more under ASan+UBSan)
#   bash tools/setup.sh deps   install only            bash tools/setup.sh build   install + build only
#   bash tools/setup.sh tools  also install PyTorch (training / reference tools)
#   bash tools/setup.sh browser  also install Chromium and run the browser-labelled tests
#
# Idempotent and quick when everything is present. Needs root (or sudo) only when something is
# missing; otherwise it says exactly what to install.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${ADABENCH_BUILD_DIR:-$ROOT/build}"
BUILD_ASAN="${ADABENCH_ASAN_BUILD_DIR:-$ROOT/build-asan}"
BUILD_FUZZ="${ADABENCH_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
JOBS="${ADABENCH_JOBS:-$(nproc)}"
MODE="${1:-test}"

DEB_PACKAGES=(build-essential cmake pkg-config git libsqlite3-dev libre2-dev nlohmann-json3-dev
              libboost-dev libssl-dev libgtest-dev libgmock-dev libbenchmark-dev)
# The test command builds the fuzz targets with clang (ASan + UBSan + libFuzzer) and runs each briefly.
TEST_PACKAGES=(clang libclang-rt-14-dev)
TOOLS_PACKAGES=(python3-torch python3-numpy libopenblas0-openmp)

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

missing_packages() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || printf '%s ' "$p"
    done
}

install_packages() {
    local missing
    missing="$(missing_packages "$@")"
    [ -z "$missing" ] && return 0
    command -v apt-get >/dev/null || die "missing packages: $missing; this is not a Debian system (hint: install their equivalents, then re-run)"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "missing packages: $missing (hint: as root run: apt-get install -y $missing)"
        sudo="sudo"
    fi
    say "installing: $missing"
    $sudo apt-get update -qq || die "apt-get update failed (hint: check the network and /etc/apt/sources.list)"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null \
        || die "apt-get install failed for: $missing (hint: run it by hand to see why: apt-get install $missing)"
    missing="$(missing_packages "$@")"
    [ -z "$missing" ] || die "still missing after apt-get: $missing"
}

have_gpu() { command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q GPU; }

# ccache, when installed, makes rebuilds after a pull or a branch switch cheap.
launcher_flags() {
    if command -v ccache >/dev/null; then
        printf '%s\n' -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache
    fi
}

configure() {
    local dir="$1"; shift
    # shellcheck disable=SC2046
    cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo $(launcher_flags) "$@" >/dev/null \
        || die "cmake configure failed in $dir (hint: re-run cmake -S $ROOT -B $dir to see why)"
}

configure_build() {
    local dir="$1"; shift
    configure "$dir" "$@"
    cmake --build "$dir" -j "$JOBS" || die "build failed in $dir"
}

run_tests() {
    local dir="$1" exclude="$2"
    say "ctest in $dir (excluding labels: $exclude)"
    (cd "$dir" && ctest -LE "$exclude" -j "$JOBS" --output-on-failure --timeout 600)
}

case "$MODE" in
    deps)  install_packages "${DEB_PACKAGES[@]}" ;;
    tools) install_packages "${DEB_PACKAGES[@]}" "${TOOLS_PACKAGES[@]}" ;;
    build)
        install_packages "${DEB_PACKAGES[@]}"
        configure_build "$BUILD" -DADABENCH_CUDA="${ADABENCH_CUDA:-AUTO}" ;;
    run)
        # The main job needs the CLI only: build just that target, and the CUDA kernels only where
        # a GPU is visible (or ADABENCH_CUDA=AUTO|ON asks for them). Tests and benchmarks are built
        # by the test command, in the same build folder, reusing these objects.
        install_packages "${DEB_PACKAGES[@]}"
        if have_gpu; then cuda="${ADABENCH_CUDA:-AUTO}"; else cuda="${ADABENCH_CUDA:-OFF}"; fi
        configure "$BUILD" -DADABENCH_CUDA="$cuda"
        cmake --build "$BUILD" -j "$JOBS" --target adabench || die "build failed in $BUILD"
        bash "$ROOT/tools/main_job.sh" "$BUILD" ;;
    test)
        install_packages "${DEB_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
        configure_build "$BUILD" -DADABENCH_CUDA="${ADABENCH_CUDA:-AUTO}"
        if have_gpu; then exclude="slow|browser"; else exclude="gpu|slow|browser"; fi
        run_tests "$BUILD" "$exclude"
        say "once more under AddressSanitizer + UndefinedBehaviorSanitizer (CPU code)"
        # An older set-up may have left a clang build here: the compiler is fixed at configure time.
        if [ -f "$BUILD_ASAN/CMakeCache.txt" ] && grep -q '^CMAKE_CXX_COMPILER:.*clang' "$BUILD_ASAN/CMakeCache.txt"; then
            rm -rf "$BUILD_ASAN"
        fi
        configure_build "$BUILD_ASAN" -DADABENCH_SANITIZE=address,undefined -DADABENCH_CUDA=OFF \
            -DADABENCH_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            run_tests "$BUILD_ASAN" "gpu|slow|browser|no_asan"
        say "the fuzz targets (clang, libFuzzer, ASan + UBSan), each briefly over its seeds and regressions"
        # Only the fuzz targets are built here (libFuzzer's coverage hooks make the other tests far
        # slower); tools/fuzz.sh runs the same targets for long.
        CC=clang CXX=clang++ configure "$BUILD_FUZZ" -DADABENCH_SANITIZE=address,undefined -DADABENCH_FUZZ=ON \
            -DADABENCH_CUDA=OFF -DADABENCH_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug
        cmake --build "$BUILD_FUZZ" -j "$JOBS" --target fuzz_all || die "build failed in $BUILD_FUZZ"
        (cd "$BUILD_FUZZ" && ctest -L fuzz -j "$JOBS" --output-on-failure --timeout 600)
        say "all tests passed" ;;
    browser)
        install_packages "${DEB_PACKAGES[@]}" chromium
        configure_build "$BUILD"
        say "ctest in $BUILD (label browser)"
        (cd "$BUILD" && ctest -L browser --output-on-failure --timeout 600) ;;
    *) die "unknown mode '$MODE' (use run, test, build, deps, tools or browser)" ;;
esac
