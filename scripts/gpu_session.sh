#!/usr/bin/env bash
# The GPU measurements of issues 3, 5, 12 and 24 in one short window on a
# machine with a GPU (about 8 minutes per GPU runtime on an H100/H200-class
# machine with a prebuilt mlp-cli; the device machine's image has PyTorch but
# no Rust, so bring the binary: see docs/performance.md, "Running the GPU
# checks").
#
#   scripts/gpu_session.sh OUT_DIR
#
# It runs on every GPU runtime that opens: wgpu (`--device gpu`, Vulkan) and
# Burn's CUDA runtime (`--device cuda`, in a binary built with the `cuda`
# feature), as `mlp-cli device-info` reports them; the device stages below
# run once per runtime (logs/STAGE_DEVICE.log), and report.md compares the
# two where both ran. Why a runtime did not open is in logs/runtimes.log.
#
# Stages, in this order, each under its own `timeout` (seconds, default in
# brackets, TIMEOUT_<STAGE> overrides, e.g. TIMEOUT_FULL=300). A stage that
# fails or times out is reported and the next one runs. The ones marked *
# run once per runtime, DEVICE standing for it (gpu or cuda):
#
#   runtimes   [20]  what decides which runtimes open: `mlp-cli device-info`
#                    (both runtimes), the Vulkan ICD files, `vulkaninfo
#                    --summary` where installed, libcuda in the linker cache,
#                    nvidia-smi, the container's NVIDIA_DRIVER_CAPABILITIES
#                    and NVIDIA_VISIBLE_DEVICES
#   smoke *    [30]  one tiny study for one epoch on DEVICE
#   bench *    [45]  `mlp-cli bench --device DEVICE` -> bench_DEVICE.csv
#   groups *   [30]  the same with 6 networks in one stacked group
#                    (`--networks 6`) -> bench_groups_DEVICE.csv
#   torch      [45]  PyTorch, same models (CUDA for gpu) -> torch_cuda.csv
#                    (fails cleanly where PYTHON cannot import torch)
#   synth      [20]  full-size synthetic CIFAR-10 (random pixels) -> SYNTH_DIR
#   full *    [120]  the full-size depth study on it -> full_DEVICE/
#   subset *   [70]  the depth study on the bundled subset -> subset_DEVICE/
#   cpu_bench  [40]  the CPU baseline on the same host, all cores -> bench_cpu.csv
#   cpu_torch  [35]  PyTorch on the CPU, as many threads -> torch_cpu.csv
#   cpu_subset [50]  the subset study on the CPU -> subset_cpu/
#   report     [15]  report.md: the tables to compare (needs python, not torch)
#
# The timeouts add up to 520 s with one runtime, 815 s with both. Every
# output is written under OUT_DIR as soon as it exists, and summary.txt (every stage's status and seconds) after
# every stage. A rerun with the same OUT_DIR continues: studies run with
# --resume (finished runs are kept, a timed-out study trains only what is
# missing), and bench/PyTorch CSVs already there are kept (delete one to
# measure it again). Ctrl-C or SIGTERM stops the running stage cleanly (a
# study saves its finished runs) and writes the summary.
#
# Environment (all optional):
#   MLP_CLI        the mlp-cli binary (default: cargo build --release -p
#                  mlp-cli); MLP_CLI.gz is unpacked when only it exists, and
#                  the execute bit is set
#   DEVICES        the runtimes to run the * stages on, e.g. "cuda" or "gpu
#                  cuda" (default: those `mlp-cli device-info` says open;
#                  none: the * stages are skipped); cpu to try the script out
#                  (the cpu_* stages are then skipped: the * stages ran
#                  there). DEVICE=X is read as DEVICES=X.
#   STAGES         the stages to run, e.g. "smoke full" (default: all)
#   TIMEOUT_SMOKE, TIMEOUT_BENCH, ... TIMEOUT_REPORT   per-stage limits, s
#   SUBSET         the bundled subset (default ../shared/data/cifar-10-subset,
#                  or shared/data/cifar-10-subset inside the checkout)
#   SYNTH_DIR      where the synthetic images go (default OUT_DIR/synthetic,
#                  176 MiB; kept for a rerun)
#   PYTHON         python3 (with torch for the torch stages)
#   EPOCHS         timed epochs of both benchmarks (default 5)
#   BENCH_ARGS     more flags for both benchmarks (flags both take: --models,
#                  --warmup, --num-train, --num-val), e.g. "--num-train 2000"
#   MLP_BENCH_ARGS more flags for `mlp-cli bench` only, e.g. "--peak-size 512"
#   SMOKE_ARGS     the smoke study's flags (default "--layers 2 --variants
#                  kaiming --seeds 0 --epochs 1 --num-train 1000 --num-val 200
#                  --num-test 200")
#   SUBSET_ARGS    the subset studies' flags (default "--layers 2..6 --seeds
#                  0..2 --num-train 4170 --num-val 1000 --num-test 1000")
#   FULL_ARGS      the full-size study's flags (default "--layers 2..6"; the
#                  splits default to 49,000 / 1,000 / 1,000)
#   AUTOTUNE_LEVEL cubecl's autotune level: minimal (default), balanced,
#                  extensive or full
#   ARCHIVE        a .tar.gz rewritten after every stage with all of OUT_DIR
#                  but the synthetic images and the autotune cache (for a
#                  machine that returns only a few files)
#   VK_DRIVER_FILES  the Vulkan driver to use; when unset (and not DEVICES=cpu), the
#                  first nvidia_icd*.json found in /usr/local/nvidia/share/
#                  vulkan/icd.d, /usr/share/vulkan/icd.d, /etc/vulkan/icd.d or
#                  /usr/local/share/vulkan/icd.d is exported (as
#                  VK_ICD_FILENAMES too, for older loaders)
#   MLP_ALLOW_SOFTWARE_GPU=1  lets `--device gpu` run on a software adapter
#                  (Mesa's llvmpipe), to try the script, never for timings
#
# Autotuning (cubecl 0.11.3, the version Burn 0.22.1 pulls in). What was
# found in its source, under ~/.cargo/registry/src/*/:
#   - cubecl-runtime-0.11.3/src/config/autotune.rs: `[autotune] level` is
#     minimal | balanced (default) | extensive | full; `disable_cache`
#     (default false) turns off the persistent cache of tuning results ("the
#     in-memory cache is unaffected: a key is still tuned only once per
#     process"). A lower level tunes less: a round stops at the first
#     candidate within 0.6 (minimal), 0.8 or 0.95 of the modelled roofline,
#     full measures all (src/tune/bounds_generator.rs), and shapes are
#     bucketed more coarsely into keys, so fewer are tuned (src/tune/util.rs,
#     `anchor`: powers of 2.5 at minimal, of 2 at balanced).
#   - cubecl-runtime-0.11.3/src/config/base.rs: the configuration is read
#     from the first cubecl.toml (or CubeCL.toml, or the [cubecl] section of
#     burn.toml) found walking up from the current directory, then the
#     environment overrides it: CUBECL_AUTOTUNE_LEVEL, CUBECL_AUTOTUNE_CACHE
#     (on/off), CUBECL_AUTOTUNE_SHORT_CIRCUIT, CUBECL_ENVIRONMENT (the cache
#     database's name), CUBECL_DEBUG_LOG. No variable sets the cache's
#     location; only the file's `[environment] path` does.
#   - cubecl-runtime-0.11.3/src/config/environment.rs and
#     cubecl-environment-0.11.3/src/persistence/root.rs: autotune results
#     (and compiled kernels, if `[compilation] cache = true`) live in one
#     database, <root>/<name>.db (cubecl-environment-0.11.3/src/
#     environment.rs), with root "target" by default: target/environment/
#     under the outermost directory above the current one that holds a
#     Cargo.toml, else the user cache (~/.cache/cubecl); "global", "local"
#     or { directory = "..." } choose otherwise. Entries are keyed by device
#     and operation, so adapters never share results.
#   - cubecl-wgpu-0.11.3/src/compute/server.rs: compiled kernels persist
#     only on its SPIR-V path (feature "spirv", Burn's "vulkan"); this build
#     has wgpu's WGSL path ("WGSL is compiled by the driver on every run"),
#     so each process compiles its kernels again; the first run of each
#     shape in a study pays that, and only autotune results carry over.
# So this script writes OUT_DIR/cubecl.toml (level AUTOTUNE_LEVEL, cache in
# OUT_DIR/cubecl/default.db) and runs every mlp-cli from OUT_DIR: each
# process reuses what earlier ones tuned, and a rerun with the same OUT_DIR
# too. CUBECL_AUTOTUNE_LEVEL, when set, still overrides the file.
set -uo pipefail # not -e: a failed stage is reported and the next one runs

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
case "${1:-}" in
    -h | --help) usage; exit 0 ;;
    "") echo "usage: scripts/gpu_session.sh OUT_DIR (--help for more)" >&2; exit 2 ;;
esac

CALLER_PWD="$PWD"
cd "$(dirname "$0")/.." || exit 2
REPO="$PWD"
# Paths from the environment are relative to where the script was started.
absolute() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$CALLER_PWD/$1" ;; esac; }

OUT="$(absolute "$1")"
mkdir -p "$OUT/logs" || exit 2
OUT="$(cd "$OUT" && pwd)"
# tee ignores Ctrl-C and SIGTERM (sent to the whole process group by a
# terminal or an outer `timeout`), so the summary is still printed and logged.
exec > >(trap '' INT TERM; exec tee -a "$OUT/session.log") 2>&1
HOST="$(cat /proc/sys/kernel/hostname 2> /dev/null || hostname)"
echo "== scripts/gpu_session.sh $OUT, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), host $HOST"

DEVICES="${DEVICES:-${DEVICE:-}}" # empty: detected below, once the binary is there
for device in $DEVICES; do
    case "$device" in
        gpu | cuda) ;;
        cpu) [ "$DEVICES" = cpu ] || { echo "error: DEVICES=cpu goes alone, not in '$DEVICES'" >&2; exit 2; } ;;
        *) echo "error: DEVICES holds gpu, cuda or cpu, not '$device'" >&2; exit 2 ;;
    esac
done
if [ "$DEVICES" = cpu ]; then TORCH_DEVICE=cpu; else TORCH_DEVICE=cuda; fi
PYTHON="${PYTHON:-python3}"
case "$PYTHON" in */*) PYTHON="$(absolute "$PYTHON")" ;; esac
EPOCHS="${EPOCHS:-5}"
BENCH_ARGS="${BENCH_ARGS:-}"
MLP_BENCH_ARGS="${MLP_BENCH_ARGS:-}"
SMOKE_ARGS="${SMOKE_ARGS:---layers 2 --variants kaiming --seeds 0 --epochs 1 --num-train 1000 --num-val 200 --num-test 200}"
SUBSET_ARGS="${SUBSET_ARGS:---layers 2..6 --seeds 0..2 --num-train 4170 --num-val 1000 --num-test 1000}"
FULL_ARGS="${FULL_ARGS:---layers 2..6}"
AUTOTUNE_LEVEL="${AUTOTUNE_LEVEL:-minimal}"
ALL_STAGES="runtimes smoke bench groups torch synth full subset cpu_bench cpu_torch cpu_subset report"
# The stages that run once per runtime.
DEVICE_STAGES="smoke bench groups full subset"
STAGES="${STAGES:-$ALL_STAGES}"
for stage in $STAGES; do
    if [[ " $ALL_STAGES " != *" $stage "* ]]; then
        echo "error: unknown stage '$stage' in STAGES (the stages: $ALL_STAGES)" >&2
        exit 2
    fi
done
if [ -n "${SUBSET:-}" ]; then
    SUBSET="$(absolute "$SUBSET")"
elif [ -d "$REPO/../shared/data/cifar-10-subset" ]; then
    SUBSET="$(cd "$REPO/../shared/data/cifar-10-subset" && pwd)"
else
    SUBSET="$REPO/shared/data/cifar-10-subset"
fi
SYNTH_DIR="$(absolute "${SYNTH_DIR:-$OUT/synthetic}")"
[ -n "${ARCHIVE:-}" ] && ARCHIVE="$(absolute "$ARCHIVE")"

# The binary: build it where there is cargo; an unpacked one may lack its
# execute bit, and a gzipped one is unpacked beside itself.
if [ -z "${MLP_CLI:-}" ]; then
    if command -v cargo > /dev/null; then
        echo "== cargo build --release -p mlp-cli"
        cargo build --release -p mlp-cli -q || exit 2
        MLP_CLI="${CARGO_TARGET_DIR:-target}/release/mlp-cli"
    else
        echo "error: set MLP_CLI to a built mlp-cli (there is no cargo here)" >&2
        exit 2
    fi
fi
MLP_CLI="$(absolute "$MLP_CLI")"
if [ ! -e "$MLP_CLI" ] && [ -e "$MLP_CLI.gz" ]; then
    gunzip -k "$MLP_CLI.gz" || exit 2
fi
chmod +x "$MLP_CLI" 2> /dev/null
if [ ! -x "$MLP_CLI" ]; then
    echo "error: MLP_CLI=$MLP_CLI is not an executable file" >&2
    exit 2
fi

# Vulkan: NVIDIA's driver file, where the image keeps it off the loader's
# standard paths (the device machine mounts it under /usr/local/nvidia).
if [ "$DEVICES" != cpu ] && [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
    for dir in /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d \
        /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d /usr/local/nvidia/etc/vulkan/icd.d; do
        for icd in "$dir"/nvidia_icd*.json; do
            if [ -f "$icd" ]; then
                export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd"
                break 2
            fi
        done
    done
fi
if [ "$DEVICES" != cpu ] && command -v ldconfig > /dev/null && [[ "$(ldconfig -p)" != *libvulkan.so.1* ]]; then
    echo "warning: no Vulkan loader (libvulkan.so.1) in the linker cache; bring one (docs/performance.md)" >&2
fi
# Mesa's drivers complain on every start without it.
if [ ! -d "${XDG_RUNTIME_DIR:-/nonexistent}" ] || [ ! -w "${XDG_RUNTIME_DIR}" ]; then
    XDG_RUNTIME_DIR="$(mktemp -d)"
    export XDG_RUNTIME_DIR
    trap 'rm -rf "$XDG_RUNTIME_DIR"' EXIT
fi

# cubecl reads OUT_DIR/cubecl.toml because every stage runs from OUT_DIR (see
# the header for what was found in cubecl's source).
mkdir -p "$OUT/cubecl"
cat > "$OUT/cubecl.toml" << EOF
# Written by scripts/gpu_session.sh: short autotuning, its results kept in
# cubecl/default.db here and reused by every process run from this directory.
[autotune]
level = "$AUTOTUNE_LEVEL"

[environment]
path = { directory = "$OUT/cubecl" }
EOF
cd "$OUT" || exit 2
# A rerun keeps the earlier summary.
[ -f summary.txt ] && mv summary.txt "logs/summary-$(date -u -r summary.txt +%Y%m%dT%H%M%SZ).txt"

# The runtimes that open, as device-info reports them (gpu: a hardware
# adapter, or a software one with MLP_ALLOW_SOFTWARE_GPU=1).
if [ -z "$DEVICES" ]; then
    INFO="$("$MLP_CLI" device-info 2>&1)"
    grep -q '^--device gpu: *trains' <<< "$INFO" && DEVICES="gpu"
    grep -q '^--device cuda: *trains' <<< "$INFO" && DEVICES="${DEVICES:+$DEVICES }cuda"
fi
echo "mlp-cli:  $MLP_CLI ($("$MLP_CLI" --version 2>&1))"
echo "runtimes: ${DEVICES:-none opens (see logs/runtimes.log)}; cores: $(nproc); subset: $SUBSET"
echo "vulkan:   VK_DRIVER_FILES=${VK_DRIVER_FILES:-<not set>}"
echo "autotune: $AUTOTUNE_LEVEL, cache $OUT/cubecl"
DEVICE="" # each * stage's runtime, set by the runner
export OUT REPO MLP_CLI DEVICE DEVICES TORCH_DEVICE PYTHON EPOCHS BENCH_ARGS MLP_BENCH_ARGS \
    SMOKE_ARGS SUBSET_ARGS FULL_ARGS SUBSET SYNTH_DIR

# ---------------------------------------------------------------- the stages
# Each runs in `bash -c` under `timeout` (run_stage below), with -e: its first
# failing command fails the stage.

# Why each runtime opens or not; never fails (what it shows is the point).
stage_runtimes() {
    echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2> /dev/null | cut -d: -f2- | sed 's/^ *//')"
    echo "runtimes to run: ${DEVICES:-none}"
    echo "-- mlp-cli device-info (both runtimes; exits 1 when neither opens)"
    "$MLP_CLI" device-info || echo "(device-info: rc $?)"
    echo "-- container: NVIDIA_DRIVER_CAPABILITIES=${NVIDIA_DRIVER_CAPABILITIES-<not set>} (compute: CUDA; graphics: Vulkan)," \
        "NVIDIA_VISIBLE_DEVICES=${NVIDIA_VISIBLE_DEVICES-<not set>}"
    echo "-- Vulkan: VK_DRIVER_FILES=${VK_DRIVER_FILES:-<not set>}; ICD files:"
    local dir found=""
    for dir in /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d \
        /usr/local/share/vulkan/icd.d; do
        if [ -d "$dir" ]; then
            found=1
            echo "$dir: $(ls "$dir" | tr '\n' ' ')"
        fi
    done
    [ -n "$found" ] || echo "(none of the ICD directories exists)"
    if command -v vulkaninfo > /dev/null; then
        timeout 10 vulkaninfo --summary 2>&1 | head -n 40 || true
    else
        echo "(vulkaninfo is not installed: Debian/Ubuntu vulkan-tools)"
    fi
    echo "-- CUDA: the driver library in the linker cache:"
    { ldconfig -p 2> /dev/null | grep -E 'libcuda\.so|libnvidia-ptxjitcompiler'; } || echo "(no libcuda in the linker cache)"
    if command -v nvidia-smi > /dev/null; then
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    else
        echo "(no nvidia-smi)"
    fi
}

stage_smoke() {
    # Not --quiet: the study names its device on stderr.
    # shellcheck disable=SC2086 # SMOKE_ARGS holds several flags
    "$MLP_CLI" depth-study --device "$DEVICE" --data-dir "$SUBSET" --out "$OUT/smoke_$DEVICE" --overwrite $SMOKE_ARGS
}

# mlp-cli bench on $1 into bench_$1.csv (bench_$2_$1.csv with more flags
# $3), kept if an earlier run wrote it.
bench_ours() {
    local csv="$OUT/bench_${2:+$2_}$1.csv"
    if [ -s "$csv" ]; then
        echo "kept $csv from an earlier run (delete it to measure again):"
    else
        # shellcheck disable=SC2086 # *_ARGS hold several flags
        "$MLP_CLI" bench --device "$1" --epochs "$EPOCHS" --format csv $BENCH_ARGS $MLP_BENCH_ARGS ${3:-} > "$csv.part"
        mv "$csv.part" "$csv"
    fi
    cat "$csv"
}

# PyTorch on $1 (cuda or cpu) into torch_$1.csv, kept if an earlier run wrote it.
bench_torch() {
    local csv="$OUT/torch_$1.csv"
    if [ -s "$csv" ]; then
        echo "kept $csv from an earlier run (delete it to measure again):"
    else
        if ! "$PYTHON" -c 'import torch' 2> /dev/null; then
            echo "error: $PYTHON cannot import torch, so there is no PyTorch timing; set PYTHON to one that can" >&2
            return 3
        fi
        # shellcheck disable=SC2086 # BENCH_ARGS holds several flags
        "$PYTHON" "$REPO/scripts/pytorch_reference.py" --device "$1" --threads "$(nproc)" \
            --epochs "$EPOCHS" --format csv $BENCH_ARGS > "$csv.part"
        mv "$csv.part" "$csv"
    fi
    cat "$csv"
}

# A depth study on $1 (device), data $2, into $3, with the flags in $4.
study() {
    # shellcheck disable=SC2086 # $4 holds several flags
    "$MLP_CLI" depth-study --device "$1" --quiet --resume --data-dir "$2" --out "$3" $4
    cat "$3/depth_study.md"
}

stage_bench() { bench_ours "$DEVICE"; }
stage_groups() { bench_ours "$DEVICE" groups "--networks 6 --engine stacked"; }
stage_torch() { bench_torch "$TORCH_DEVICE"; }
stage_synth() {
    # batches.meta.txt is written last, so it marks a finished set.
    if [ -s "$SYNTH_DIR/batches.meta.txt" ]; then
        echo "kept the synthetic images in $SYNTH_DIR"
    else
        "$PYTHON" "$REPO/scripts/synthetic_cifar.py" "$SYNTH_DIR"
    fi
}
stage_full() { study "$DEVICE" "$SYNTH_DIR" "$OUT/full_$DEVICE" "$FULL_ARGS"; }
stage_subset() { study "$DEVICE" "$SUBSET" "$OUT/subset_$DEVICE" "$SUBSET_ARGS"; }
stage_cpu_bench() { bench_ours cpu; }
stage_cpu_torch() { bench_torch cpu; }
stage_cpu_subset() { study cpu "$SUBSET" "$OUT/subset_cpu" "$SUBSET_ARGS"; }
# report.md from whatever the other stages left: Markdown tables in the
# README's columns (docs/performance.md says which go where).
stage_report() {
    "$PYTHON" - "$OUT" "$DEVICES" "$TORCH_DEVICE" > "$OUT/report.md.part" << 'PY'
import csv, json, os, statistics, sys

out, devices, torch_device = sys.argv[1], sys.argv[2].split(), sys.argv[3]
RUNTIME = {"gpu": "wgpu (--device gpu)", "cuda": "CUDA (--device cuda)", "cpu": "CPU"}


def table(name):
    try:
        with open(os.path.join(out, name)) as f:
            return list(csv.DictReader(f))
    except (OSError, csv.Error):
        return None


def num(x, fmt, unit=""):
    return "-" if x is None else format(x, fmt) + unit


def field(r, key, scale=1.0):
    return scale * float(r[key]) if r and r.get(key) else None


def speed(title, ours_name, theirs_name):
    ours, theirs = table(ours_name), table(theirs_name)
    print(f"## {title}\n")
    if not ours:
        print(f"`{ours_name}` is missing: see summary.txt.\n")
        return
    print(f"Ours: `{ours_name}`, {ours[0]['device']}, {ours[0]['threads']} threads. PyTorch: "
          + (f"`{theirs_name}`." if theirs else f"`{theirs_name}` is missing: see summary.txt.") + "\n")
    print("| model | ours s/epoch | PyTorch s/epoch | ours / PyTorch | ours % of matmul peak "
          "| PyTorch % of peak | ours peak MiB | PyTorch peak MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    by_model = {r["model"]: r for r in theirs or []}
    for o in ours:
        t = by_model.get(o["model"])
        so, st = field(o, "epoch_seconds_median"), field(t, "epoch_seconds_median")
        print(f"| {o['model']} | {num(so, '.3f')} | {num(st, '.3f')} "
              f"| {num(so / st if st else None, '.2f')} "
              f"| {num(field(o, 'peak_fraction', 100), '.1f', '%')} | {num(field(t, 'peak_fraction', 100), '.1f', '%')} "
              f"| {num(field(o, 'peak_memory_mib'), '.0f')} | {num(field(t, 'peak_memory_mib'), '.0f')} |")
    print()


def study(name):
    """(title line, {(layers, variant): [rows]}) of a study directory, or None."""
    runs = table(os.path.join(name, "depth_study.csv"))
    if runs is None:
        return None
    try:
        with open(os.path.join(out, name, "depth_study_config.json")) as f:
            c = json.load(f)
        planned = (c["layers"]["last"] - c["layers"]["first"] + 1) * len(c["variants"]) * len(c["seeds"])
    except (OSError, ValueError, KeyError, TypeError):
        planned = "?"
    cells = {}
    for r in runs:
        cells.setdefault((int(r["layers"]), r["variant"]), []).append(r)
    total = sum(float(r["seconds"]) for r in runs)
    where = f"{runs[0]['device']}, engine {runs[0]['engine']}" if runs else "no runs"
    return f"{len(runs)} of {planned} runs, {total:.1f} s of training in all ({where})", cells


def mean(rows, key):
    values = [float(r[key]) for r in rows if r.get(key) not in (None, "")]
    return statistics.mean(values) if values else None


if not devices:
    print("No GPU runtime opened: logs/runtimes.log says why.\n")
for device in devices:
    speed(f"Speed against PyTorch, {RUNTIME[device]}", f"bench_{device}.csv", f"torch_{torch_device}.csv")
gpus = [d for d in devices if d != "cpu"]
if gpus:
    speed("Speed against PyTorch, CPU of the same host", "bench_cpu.csv", "torch_cpu.csv")
cpu = table("bench_cpu.csv")
for device in gpus:
    gpu = table(f"bench_{device}.csv")
    if gpu and cpu:
        print(f"## Ours, {RUNTIME[device]} against the CPU of the same host\n")
        print(f"| model | GPU s/epoch | CPU s/epoch ({cpu[0]['threads']} threads) | CPU / GPU |")
        print("|---|---:|---:|---:|")
        by_model = {r["model"]: r for r in cpu}
        for g in gpu:
            c = by_model.get(g["model"])
            sg, sc = field(g, "epoch_seconds_median"), field(c, "epoch_seconds_median")
            print(f"| {g['model']} | {num(sg, '.3f')} | {num(sc, '.3f')} | {num(sc / sg if sc else None, '.2f')} |")
        print()

# The two GPU runtimes on the same GPU, where both ran.
if "gpu" in gpus and "cuda" in gpus:
    print("## wgpu against CUDA, the same GPU\n")
    print("| benchmark | model | wgpu s/epoch | CUDA s/epoch | wgpu / CUDA |")
    print("|---|---|---:|---:|---:|")
    for name, label in [("bench_{}.csv", "one network"), ("bench_groups_{}.csv", "6 networks, one stacked group")]:
        w, c = table(name.format("gpu")), table(name.format("cuda"))
        by_model = {r["model"]: r for r in c or []}
        for r in w or []:
            sw, sc = field(r, "epoch_seconds_median"), field(by_model.get(r["model"]), "epoch_seconds_median")
            print(f"| {label} | {r['model']} | {num(sw, '.3f')} | {num(sc, '.3f')} | {num(sw / sc if sc else None, '.2f')} |")
    print()

for device in devices:
    full = study(f"full_{device}")
    print(f"## Full-size depth study on synthetic images, {RUNTIME[device]} (`full_{device}/`)\n")
    if full is None:
        print("No runs recorded: see summary.txt.\n")
        continue
    print(full[0] + "\n")
    print("| Linear layers | variant | runs | s per run (mean) | s per epoch (mean) |")
    print("|---:|---|---:|---:|---:|")
    for (layers, variant), rows in sorted(full[1].items()):
        s, e = mean(rows, "seconds"), mean(rows, "epochs")
        print(f"| {layers} | {variant} | {len(rows)} | {num(s, '.2f')} | {num(s / e if s and e else None, '.3f')} |")
    print()

names = [f"subset_{d}" for d in devices] + (["subset_cpu"] if gpus else [])
subsets = {n: study(n) for n in names}
print("## Depth study on the bundled subset: " + ", ".join(f"`{n}/`" for n in names) + "\n")
for n, s in subsets.items():
    print(f"- `{n}/`: " + (s[0] if s else "no runs recorded (see summary.txt)"))
print()
keys = sorted({k for s in subsets.values() if s for k in s[1]})
if keys:
    head = " | ".join(f"{n} test acc | {n} s/run" for n in names)
    print(f"| Linear layers | variant | {head} |")
    print("|---:|---|" + "---:|---:|" * len(names))
    for k in keys:
        cols = []
        for n in names:
            rows = subsets[n][1].get(k, []) if subsets[n] else []
            acc = mean(rows, "test_acc")
            cols += [num(acc * 100 if acc is not None else None, ".1f", "%"),
                     num(mean(rows, "seconds"), ".2f")]
        print(f"| {k[0]} | {k[1]} | " + " | ".join(cols) + " |")
    print("\nTest accuracy: mean over the seeds recorded; each study's depth_study.md has mean ± std.")
PY
    mv "$OUT/report.md.part" "$OUT/report.md"
    cat "$OUT/report.md"
}
export -f stage_runtimes stage_smoke bench_ours bench_torch study stage_bench stage_groups stage_torch stage_synth \
    stage_full stage_subset stage_cpu_bench stage_cpu_torch stage_cpu_subset stage_report

# ---------------------------------------------------------------- the runner

declare -A LIMIT=([runtimes]=20 [smoke]=30 [bench]=45 [groups]=30 [torch]=45 [synth]=20 [full]=120 [subset]=70
    [cpu_bench]=40 [cpu_torch]=35 [cpu_subset]=50 [report]=15)
ROWS=()
STAGE_PID=""
STARTED="$(date +%s.%N)"

# "DIR/, N of M runs" of a study directory that has recorded runs.
study_note() {
    [ -f "$OUT/$1/depth_study.csv" ] || return 0
    printf '%s/, ' "$1"
    runs_done "$OUT/$1"
}
runs_done() {
    "$PYTHON" - "$1" << 'PY' 2> /dev/null || echo "$(($(wc -l < "$1/depth_study.csv") - 1)) runs"
import csv, json, sys
d = sys.argv[1]
done = len(list(csv.DictReader(open(f"{d}/depth_study.csv"))))
c = json.load(open(f"{d}/depth_study_config.json"))
planned = (c["layers"]["last"] - c["layers"]["first"] + 1) * len(c["variants"]) * len(c["seeds"])
print(f"{done} of {planned} runs")
PY
}

# The latest run's part of logs/$1.log (a rerun appends to it).
latest_log() {
    awk -v h="== $1 (" 'index($0, h) == 1 { text = "" } { text = text $0 "\n" } END { printf "%s", text }' \
        "$OUT/logs/$1.log" 2> /dev/null
}

note_for() {
    case "$1" in
        runtimes) echo "opened: ${DEVICES:-none}" ;;
        smoke) latest_log "smoke_$DEVICE" | grep -m1 -E "^device:" | sed 's/  */ /g' ;;
        synth) if [ -s "$SYNTH_DIR/batches.meta.txt" ]; then echo "${SYNTH_DIR#"$OUT"/}/"; fi ;;
        bench) if_exists "bench_$DEVICE.csv" ;;
        groups) if_exists "bench_groups_$DEVICE.csv" ;;
        torch) if_exists "torch_$TORCH_DEVICE.csv" ;;
        cpu_bench) if_exists bench_cpu.csv ;;
        cpu_torch) if_exists torch_cpu.csv ;;
        full) study_note "full_$DEVICE" ;;
        subset) study_note "subset_$DEVICE" ;;
        cpu_subset) study_note subset_cpu ;;
        report) if_exists report.md ;;
    esac
}
if_exists() { if [ -e "$1" ]; then echo "$1"; fi; }

write_summary() {
    {
        echo "# scripts/gpu_session.sh $OUT"
        echo "# host $HOST, $(nproc) cores, runtimes: ${DEVICES:-none}, autotune $AUTOTUNE_LEVEL, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
        if [ -f "$OUT/logs/runtimes.log" ]; then
            latest_log runtimes | grep -E '^(wgpu adapter|type|backend|driver|driver info|cuda device|cuda driver): ' |
                sed 's/^/# /; s/   */  /g'
            if command -v nvidia-smi > /dev/null; then
                nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2> /dev/null | sed 's/^/# nvidia-smi: /'
            fi
        fi
        for log in "$OUT"/logs/smoke_*.log; do
            [ -f "$log" ] && grep -m1 '^device: ' "$log" | sed 's/^/# /'
        done
        printf '%-11s %-13s %8s %6s  %s\n' stage status seconds limit "output / notes (logs/STAGE.log)"
        printf '%s\n' "${ROWS[@]}"
        awk -v s="$STARTED" -v e="$(date +%s.%N)" 'BEGIN { printf "%-11s %-13s %8.1f\n", "total", "", e - s }'
    } > "$OUT/summary.txt.part" && mv "$OUT/summary.txt.part" "$OUT/summary.txt"
    if [ -n "${ARCHIVE:-}" ]; then
        # rc 1: a file (session.log) changed while it was read; still good.
        tar -C "$(dirname "$OUT")" -czf "$ARCHIVE.part" --warning=no-file-changed \
            --exclude="$(basename "$OUT")/synthetic" --exclude="$(basename "$OUT")/cubecl" \
            --exclude='*.part' --exclude='.mlp-cli.lock' --exclude="$(basename "$ARCHIVE")" \
            "$(basename "$OUT")"
        if [ $? -le 1 ]; then mv "$ARCHIVE.part" "$ARCHIVE"; fi
    fi
}

row() { ROWS+=("$(printf '%-11s %-13s %8s %6s  %s' "$1" "$2" "$3" "$4" "$5")"); }

on_signal() {
    echo "== interrupted: stopping the running stage"
    if [ -n "$STAGE_PID" ]; then
        kill -TERM "$STAGE_PID" 2> /dev/null # timeout passes it on to the stage
        wait "$STAGE_PID"
        row "$STAGE_LABEL" interrupted "$(awk -v s="$STAGE_START" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')" \
            "${LIMIT[$STAGE_NAME]}" "$(note_for "$STAGE_NAME")"
    fi
    write_summary
    cat "$OUT/summary.txt"
    exit 130
}
trap on_signal INT TERM

# Runs stage $1 (on runtime $DEVICE for the * stages: its label, log and
# row are STAGE_DEVICE).
run_stage() {
    local name="$1" var limit log start rc status seconds label
    label="$name${DEVICE:+_$DEVICE}"
    var="TIMEOUT_${name^^}"
    limit="${!var:-${LIMIT[$name]}}"
    LIMIT[$name]="$limit"
    if [[ " $STAGES " != *" $name "* ]]; then
        row "$label" skipped "" "" "not in STAGES"
        return
    fi
    if [ "$DEVICES" = cpu ] && [[ "$name" == cpu_* ]]; then
        row "$name" skipped "" "" "DEVICES=cpu: the stages above ran on the CPU"
        return
    fi
    log="$OUT/logs/$label.log"
    echo
    # Appended to (a rerun's log follows the earlier one's); the console
    # shows what the stage writes after this line.
    echo "== $label (timeout ${limit} s) $(date -u '+%Y-%m-%d %H:%M:%S UTC')" | tee -a "$log"
    local from=$(($(stat -c %s "$log") + 1))
    start="$(date +%s.%N)"
    STAGE_NAME="$name" STAGE_LABEL="$label" STAGE_START="$start"
    # On time, `timeout` sends SIGTERM to the stage's whole process group: a
    # study stops after its current step and saves, and the stage's shell
    # waits for it (the trap runs once the command it waits for is done), so
    # the next stage never overlaps it. SIGKILL 10 s later if it has not.
    timeout -k 10 "$limit" bash -c 'set -euo pipefail; trap "exit 143" TERM; "$@"' "$name" "stage_$name" \
        >> "$log" 2>&1 < /dev/null &
    STAGE_PID=$!
    tail -c +"$from" -s 0.2 --pid="$STAGE_PID" -f "$log" &
    local tail_pid=$!
    wait "$STAGE_PID"
    rc=$?
    STAGE_PID=""
    wait "$tail_pid"
    seconds="$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')"
    if [ "$rc" = 0 ]; then
        status=ok
    elif { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && awk -v t="$seconds" -v l="$limit" 'BEGIN { exit !(t >= l - 1) }'; then
        status="timed out"
    else
        status="failed rc $rc"
    fi
    echo "== $label: $status after $seconds s" | tee -a "$log"
    local note
    note="$(note_for "$name")"
    if [ "$status" = "timed out" ] && [[ "$note" == *" runs" ]]; then
        note="$note; the same command again continues it"
    elif [ "$status" != ok ]; then # and the stage's last error, or its last words
        local said
        said="$(latest_log "$label" | grep -v -e '^== ' -e '^ *$')"
        note="$note${note:+; }$({ grep -i '^error' <<< "$said" || printf '%s\n' "$said"; } | tail -n 1 | cut -c 1-100)"
    fi
    row "$label" "$status" "$seconds" "$limit" "$note"
    write_summary
}

for stage in $ALL_STAGES; do
    if [[ " $DEVICE_STAGES " != *" $stage "* ]]; then
        run_stage "$stage"
    elif [ -z "$DEVICES" ]; then
        row "$stage" skipped "" "" "no GPU runtime opens (logs/runtimes.log says why)"
        write_summary
    else
        for DEVICE in $DEVICES; do
            run_stage "$stage"
        done
        DEVICE=""
    fi
done
echo
echo "== summary ($OUT/summary.txt)"
cat "$OUT/summary.txt"
