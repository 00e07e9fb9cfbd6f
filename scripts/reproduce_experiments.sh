#!/usr/bin/env bash
# Regenerates every committed result, in experiments/subset/, on the bundled
# CIFAR-10 subset, on the CPU, with the commands recorded beside each result.
# (The commands' default --out, experiments/ itself, is for your own runs and
# is not tracked by git.)
set -euo pipefail
cd "$(dirname "$0")/.."

DATA="${CIFAR10_SUBSET_DIR:-../shared/data/cifar-10-subset}"
SPLITS=(--data-dir "$DATA" --num-train 4170 --num-val 1000 --num-test 1000)
OUT=experiments/subset
run() { cargo run --release -q -p mlp-cli -- "$@"; }

run depth-study --layers 2..6 --seeds 0..2 --overwrite --device cpu "${SPLITS[@]}" --out "$OUT"
run two-layer check --out "$OUT"
run two-layer train --toy --out "$OUT/two_layer_toy"
run two-layer train --device cpu "${SPLITS[@]}" --out "$OUT/two_layer_default"
run two-layer tune --hidden 50,100,200 --lr 5e-4,1e-3,2e-3 --reg 0.1,0.25,0.5 --iters 2000 --test --overwrite \
    --device cpu "${SPLITS[@]}" --out "$OUT/two_layer_tuning"
run trainability --layers 2..20 --width 50 --gains 0.125,0.25,0.5,0.707,1,1.414,2,2.828 --seeds 0..1 --overwrite \
    --device cpu "${SPLITS[@]}" --out "$OUT/trainability_adam"
run trainability --layers 2..20 --width 50 --gains 0.125,0.25,0.5,0.707,1,1.414,2,2.828 --seeds 0..1 --overwrite \
    --optimizer sgd --lr 0.05 --device cpu "${SPLITS[@]}" --out "$OUT/trainability_sgd"
# tanh: the study with the assignment's init, Xavier and BatchNorm, and the
# mean-field phase diagram (sigma_b^2 = 0.05; sigma_w^2 from 1 to 4; 6 xi_c drawn over it).
run depth-study --layers 2..6 --seeds 0..2 --activation tanh --variants plain,xavier,batchnorm --overwrite \
    --device cpu "${SPLITS[@]}" --out "$OUT/depth_study_tanh"
run trainability --layers 2,5,10,15,20,30,40,50,75,100 --width 100 --gains 1,1.118,1.225,1.327,1.414,1.581,1.732,2 \
    --activation tanh --bias-std 0.2236 --seeds 0..1 --overwrite \
    --device cpu "${SPLITS[@]}" --out "$OUT/trainability_tanh"
run trainability --layers 2,5,10,15,20,30,40,50,75,100 --width 100 --gains 1,1.118,1.225,1.327,1.414,1.581,1.732,2 \
    --activation tanh --bias-std 0.2236 --seeds 0 --optimizer sgd --lr 0.05 --overwrite \
    --device cpu "${SPLITS[@]}" --out "$OUT/trainability_tanh_sgd"
