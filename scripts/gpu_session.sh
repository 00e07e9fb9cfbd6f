#!/usr/bin/env bash
# The GPU measurements of issues 3 and 5 in one go, on a machine with a GPU
# and PyTorch CUDA (the device machine's image has PyTorch but no Rust, so
# bring a built mlp-cli: see docs/performance.md, "Running the GPU checks").
#
#   1. bench.txt: `mlp-cli bench --device gpu` beside PyTorch CUDA
#      (scripts/bench.sh gpu): s/epoch, ratio, % of peak, memory.
#   2. gpu_subset_study.tar.gz: the depth study on the bundled subset on the
#      GPU, the same command as experiments/ on the CPU, to compare accuracies
#      and epoch times (unpack into experiments/gpu).
#   3. full_size_study.txt: the whole `depth-study --layers 2..6` (5 depths x
#      4 variants x 10 epochs) at full size, on synthetic images, timed.
#
#   scripts/gpu_session.sh OUT_DIR
#
# Environment: MLP_CLI (default: build with cargo), SUBSET (the bundled
# subset; default ../shared/data/cifar-10-subset), PYTHON (default python3),
# EPOCHS (bench epochs, default 5), DEVICE (gpu; cpu to try the script out),
# FULL_ARGS (the flags of step 3; default "--layers 2..6"; e.g. "--layers 2
# --epochs 1" for a trial).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${1:?usage: scripts/gpu_session.sh OUT_DIR}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
SUBSET="${SUBSET:-../shared/data/cifar-10-subset}"
PYTHON="${PYTHON:-python3}"
if [ -z "${MLP_CLI:-}" ]; then
    cargo build --release --workspace -q
    MLP_CLI="${CARGO_TARGET_DIR:-target}/release/mlp-cli"
fi
DEVICE="${DEVICE:-gpu}"
export MLP_CLI PYTHON
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
    echo "== scripts/bench.sh $DEVICE"
    EPOCHS="${EPOCHS:-5}" scripts/bench.sh "$DEVICE"
} 2>&1 | tee "$OUT/bench.txt"

echo "== depth study on the bundled subset, $DEVICE" | tee "$OUT/subset_study.txt"
( time "$MLP_CLI" depth-study --layers 2..6 --seeds 0..2 --device "$DEVICE" --quiet \
    --data-dir "$SUBSET" --num-train 4170 --num-val 1000 --num-test 1000 \
    --out "$WORK/gpu" ) 2>&1 | tee -a "$OUT/subset_study.txt"
tar -C "$WORK" -czf "$OUT/gpu_subset_study.tar.gz" gpu

echo "== full-size depth-study ${FULL_ARGS:---layers 2..6} on synthetic images, $DEVICE" | tee "$OUT/full_size_study.txt"
"$PYTHON" scripts/synthetic_cifar.py "$WORK/synthetic" > /dev/null
# shellcheck disable=SC2086 # FULL_ARGS holds several flags
( time "$MLP_CLI" depth-study --device "$DEVICE" --quiet \
    --data-dir "$WORK/synthetic" --out "$WORK/full" ${FULL_ARGS:---layers 2..6} ) 2>&1 | tee -a "$OUT/full_size_study.txt"
# Seconds per run (the device's name may hold commas, so read it as CSV).
"$PYTHON" - "$WORK/full/depth_study.csv" <<'PY' | tee -a "$OUT/full_size_study.txt"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for r in rows:
    print(f"{r['layers']:>2}L {r['variant']:<18} {r['engine']:<9} {float(r['seconds']):7.2f} s  {r['device']}")
print(f"all {len(rows)} runs: {sum(float(r['seconds']) for r in rows):.1f} s")
PY
