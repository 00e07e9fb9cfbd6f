#!/usr/bin/env bash
# Our trainer against PyTorch on this machine: the same models, data sizes,
# batch, optimiser and thread count; prints both tables and the ratio of
# seconds per epoch (ours / PyTorch; below 1 means we are faster).
#
#   scripts/bench.sh            # CPU
#   scripts/bench.sh gpu        # wgpu against PyTorch CUDA
#   scripts/bench.sh study      # the whole default depth study on the CPU
#                               # (20 networks, full-size synthetic images)
#                               # against PyTorch's, one network after another
#
# Environment: PYTHON (a python with torch; default python3), EPOCHS (timed
# epochs, default 3), CARGO_TARGET_DIR (where the build is; default target),
# MLP_CLI (a built mlp-cli to time instead of building one, e.g. on a machine
# without Rust), SYNTH_DIR (for `study`: scripts/synthetic_cifar.py's images,
# made in a temporary folder when not given).
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICE="${1:-cpu}"
case "$DEVICE" in
    cpu) TORCH_DEVICE=cpu ;;
    gpu) TORCH_DEVICE=cuda ;;
    study) TORCH_DEVICE=cpu ;;
    *) echo "usage: scripts/bench.sh [cpu|gpu|study]" >&2; exit 2 ;;
esac
PYTHON="${PYTHON:-python3}"
EPOCHS="${EPOCHS:-3}"
THREADS="$(nproc)"   # Burn's CPU backend uses every core; PyTorch gets as many threads.
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
    echo "error: $PYTHON cannot import torch; install it (pip install torch) or set PYTHON" >&2
    exit 2
fi

if [ -z "${MLP_CLI:-}" ]; then
    cargo build --release --workspace -q
    MLP_CLI="${CARGO_TARGET_DIR:-target}/release/mlp-cli"
fi
OURS="$(mktemp)"; THEIRS="$(mktemp)"
trap 'rm -f "$OURS" "$THEIRS"' EXIT

if [ "$DEVICE" = study ]; then
    WORK="$(mktemp -d)"
    trap 'rm -f "$OURS" "$THEIRS"; rm -rf "$WORK"' EXIT
    SYNTH="${SYNTH_DIR:-$WORK/synthetic}"
    if [ ! -f "$SYNTH/test_batch.bin" ]; then
        echo "== writing full-size synthetic images to $SYNTH" >&2
        python3 scripts/synthetic_cifar.py "$SYNTH"
    fi
    echo "== mlp-cli depth-study --layers 2..6 --device cpu ($THREADS cores)" >&2
    start=$(date +%s.%N)
    "$MLP_CLI" depth-study --data-dir "$SYNTH" --layers 2..6 --device cpu --out "$WORK/study" --quiet \
        > "$WORK/study.log"
    end=$(date +%s.%N)
    echo "== PyTorch, the same study ($THREADS threads)" >&2
    "$PYTHON" scripts/pytorch_reference.py --study --device cpu --threads "$THREADS" --format json \
        2>/dev/null > "$THEIRS"
    "$PYTHON" - "$start" "$end" "$THEIRS" <<'PY'
import json, sys
ours = float(sys.argv[2]) - float(sys.argv[1])
theirs = json.load(open(sys.argv[3]))["study_seconds"]
print(f"{'study':<28} {'ours s':>8} {'PyTorch s':>10} {'ours/PyTorch':>12}")
print(f"{'20 networks, 10 epochs each':<28} {ours:>8.1f} {theirs:>10.1f} {ours / theirs:>12.2f}")
PY
    exit 0
fi

echo "== mlp-cli bench --device $DEVICE ($THREADS cores)" >&2
"$MLP_CLI" bench --device "$DEVICE" --epochs "$EPOCHS" --format csv > "$OURS"
echo "== PyTorch ($TORCH_DEVICE, $THREADS threads)" >&2
"$PYTHON" scripts/pytorch_reference.py --device "$TORCH_DEVICE" --threads "$THREADS" \
    --epochs "$EPOCHS" --format csv 2>/dev/null > "$THEIRS"

"$PYTHON" - "$OURS" "$THEIRS" <<'PY'
import csv, sys
ours = {r["model"]: r for r in csv.DictReader(open(sys.argv[1]))}
theirs = {r["model"]: r for r in csv.DictReader(open(sys.argv[2]))}
print(f"{'model':<16} {'ours s/epoch':>12} {'PyTorch s/epoch':>15} {'ours/PyTorch':>12} "
      f"{'ours GFLOP/s':>12} {'ours % peak':>11} {'PyTorch % peak':>14} {'ours MiB':>9} {'PyTorch MiB':>11}")
for model, o in ours.items():
    t = theirs.get(model)
    if t is None:
        continue
    so, st = float(o["epoch_seconds_median"]), float(t["epoch_seconds_median"])
    mem = lambda r: r["peak_memory_mib"] and f"{float(r['peak_memory_mib']):.0f}" or "-"
    print(f"{model:<16} {so:>12.3f} {st:>15.3f} {so / st:>12.2f} {float(o['gflops']):>12.1f} "
          f"{100 * float(o['peak_fraction']):>10.1f}% {100 * float(t['peak_fraction']):>13.1f}% "
          f"{mem(o):>9} {mem(t):>11}")
PY
