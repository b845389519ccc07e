#!/usr/bin/env bash
# The main job (the README's run command): sweeps the bundled organism with configs/default.json
# into a SQLite store, lists the runs, and writes the HTML report. Re-running it resumes the same
# run (finished samples are skipped); Ctrl-C stops after the batch in flight, and a re-run continues.
#
# usage: tools/main_job.sh [BUILD_DIR]   (default: ./build)
#   ADABENCH_DB=FILE       the store (default: results/main.db)
#   ADABENCH_REPORT=FILE   the report (default: results/report.html)
#   ADABENCH_CONFIG=FILE   the sweep config (default: configs/default.json)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
ADABENCH="$BUILD/harness/cli/adabench"
DB="${ADABENCH_DB:-results/main.db}"
REPORT="${ADABENCH_REPORT:-results/report.html}"
CONFIG="${ADABENCH_CONFIG:-configs/default.json}"

cd "$ROOT"  # config paths (models/..., configs/tasks) are relative to the repository root
if [ ! -x "$ADABENCH" ]; then
  echo "error: $ADABENCH not found (hint: cmake -S . -B build && cmake --build build -j)" >&2
  exit 1
fi
"$ADABENCH" version
for d in models/organism/base models/organism/lora-long models/organism/lora-short; do
  if [ ! -d "$d" ]; then
    echo "error: $d is missing (hint: the organism ships in models/organism; see models/organism/MODEL_CARD.md)" >&2
    exit 1
  fi
done
mkdir -p "$(dirname "$DB")" "$(dirname "$REPORT")"
"$ADABENCH" sweep --config "$CONFIG" --db "$DB"
"$ADABENCH" runs --db "$DB"
"$ADABENCH" report --db "$DB" --run latest --output "$REPORT"
case "$REPORT" in /*) echo "report: $REPORT" ;; *) echo "report: $ROOT/$REPORT" ;; esac
