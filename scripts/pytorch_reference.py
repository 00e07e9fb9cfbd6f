#!/usr/bin/env python3
"""PyTorch reference timings for the assignment's CIFAR-10 MLPs (issue 5).

Trains the same MLPs as our Burn trainer, on the same data path, so the
seconds per epoch can be compared:

  model "50"              3072 -> 50 -> 10
  model "50-40-30-25-20"  3072 -> 50 -> 40 -> 30 -> 25 -> 20 -> 10
                          (Linear layers with ReLU between them, none after the last)

  init       weights ~ Normal(0, 1e-3), biases 0
  training   batch 200, Adam(lr=1e-3, weight_decay=1e-3, eps=1e-8),
             cross-entropy, a fresh shuffle every epoch
  data       synthetic, full size by default: 49,000 train + 1,000 validation
             images of 3,072 uint8 pixels (fixed seed), labels 0..9. Kept as
             uint8; each batch is gathered and normalised as (x/255 - 0.5)/0.5.
  epoch      all training steps + evaluation on the validation split; both
             are inside the timed region.

On CUDA the uint8 data is uploaded once and batches are gathered and
normalised on the GPU; torch.cuda.synchronize() runs before every timer read.

Peak memory: on CUDA torch.cuda.max_memory_allocated() (reset per model); on
CPU the process's peak RSS (getrusage ru_maxrss), which is process-wide, so
the second model's figure includes the first one's peak.

GFLOP per epoch is counted analytically from the matrix products only
(biases, ReLU, loss and the Adam update are ignored), exactly as
`mlp-cli bench` counts it:
  forward  = 2 * sum(in * out) per image
  backward = 2 * sum(in * out) (weight gradients)
             + 2 * sum(in * out) over all but the first layer (input
             gradients; the images themselves need none)
  epoch    = (forward + backward) over the train images + forward over the val images
The matmul peak is the best of 5 products of two 2048 x 2048 float32
matrices on the same device and threads; peak_fraction = GFLOP/s / peak.

--study runs the whole default depth study instead, as a PyTorch user
would write it: the 20 networks of `mlp-cli depth-study` (variants plain,
kaiming, batchnorm, batchnorm-dropout at 2..6 layers, hidden widths
50,40,30,25,20), one after another, each for 10 epochs of Adam (lr 1e-3
decayed by 0.95 per epoch, weight decay 1e-3, eps 1e-8, batch 200), with a
validation pass every epoch, the best epoch's weights kept, and one test
evaluation at the end; on synthetic full-size data (49,000 train, 1,000
validation, 10,000 test images). It prints one row per network and the
study's wall time, to set beside
`mlp-cli depth-study --data-dir DIR --layers 2..6 --seeds 0 --device cpu`
on `scripts/synthetic_cifar.py DIR` images.

Needs only torch. Usage:

  python3 scripts/pytorch_reference.py                      # CPU or CUDA (auto)
  python3 scripts/pytorch_reference.py --device cpu --threads 2 --format csv
  python3 scripts/pytorch_reference.py --steps 20 --epochs 2 --warmup 1   # smoke test
  python3 scripts/pytorch_reference.py --study --device cpu --threads 2   # the whole study
  python3 scripts/pytorch_reference.py --study --epochs 1 --steps 5       # its smoke test
"""

import argparse
import copy
import json
import math
import os
import platform
import resource
import statistics
import sys
import time
import warnings

# The PyPI torch wheel warns on import when numpy is absent; this script never needs numpy.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

IMAGE_DIM = 3 * 32 * 32  # 3072, CHW pixels of one image
NUM_CLASSES = 10
BATCH_SIZE = 200
SEED = 0

CSV_COLUMNS = [
    "model",
    "device",
    "engine",
    "threads",
    "epoch_seconds_median",
    "epoch_seconds_min",
    "images_per_second",
    "peak_memory_mib",
    "gflop_per_epoch",
    "gflops",
    "peak_fraction",
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto",
                   help="auto = cuda if available, else cpu")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="torch.set_num_threads (default: os.cpu_count())")
    p.add_argument("--epochs", type=int, default=None,
                   help="timed epochs (default 5; with --study, epochs per network, default 10)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up epochs")
    p.add_argument("--models", default="50,50-40-30-25-20",
                   help="comma-separated hidden sizes, e.g. 50,50-40-30-25-20")
    p.add_argument("--num-train", type=int, default=49_000)
    p.add_argument("--num-val", type=int, default=1_000)
    p.add_argument("--steps", type=int, default=None,
                   help="limit each epoch to N training steps (smoke tests)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--study", action="store_true",
                   help="time the whole default depth study (20 networks, one after another)")
    p.add_argument("--num-test", type=int, default=10_000, help="test images (--study)")
    args = p.parse_args()
    if args.epochs is None:
        args.epochs = 10 if args.study else 5
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    if args.warmup < 0 or args.threads < 1 or args.num_train < 1 or args.num_val < 1 or args.num_test < 1:
        p.error("--warmup must be >= 0, --threads, --num-train, --num-val and --num-test >= 1")
    if args.steps is not None and args.steps < 1:
        p.error("--steps must be at least 1")
    return args


def layer_sizes(model_name):
    """'50-40' -> [3072, 50, 40, 10]."""
    hidden = [int(h) for h in model_name.split("-")]
    return [IMAGE_DIM] + hidden + [NUM_CLASSES]


def build_mlp(sizes):
    """Linear-ReLU-...-Linear; weights ~ N(0, 1e-3), biases 0."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(n_in, n_out)  # weight [out, in], bias [out]
        nn.init.normal_(linear.weight, mean=0.0, std=1e-3)
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < len(sizes) - 2:  # no ReLU after the output layer
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def make_data(num_train, num_val, device):
    """Synthetic uint8 images and int64 labels, uploaded to `device` once."""
    g = torch.Generator().manual_seed(SEED)
    x_train = torch.randint(0, 256, (num_train, IMAGE_DIM), dtype=torch.uint8, generator=g)  # [N, 3072] u8
    y_train = torch.randint(0, NUM_CLASSES, (num_train,), generator=g)                      # [N] i64
    x_val = torch.randint(0, 256, (num_val, IMAGE_DIM), dtype=torch.uint8, generator=g)      # [V, 3072] u8
    y_val = torch.randint(0, NUM_CLASSES, (num_val,), generator=g)                          # [V] i64
    return [t.to(device) for t in (x_train, y_train, x_val, y_val)]


def normalise(x_u8):
    """[B, 3072] uint8 -> [B, 3072] float32 in [-1, 1]: (x/255 - 0.5)/0.5."""
    return (x_u8.float() / 255.0 - 0.5) / 0.5


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_epoch(model, opt, data, shuffle_gen, max_steps, device):
    """One epoch: shuffled training steps, then validation. Returns (train images, val accuracy)."""
    x_train, y_train, x_val, y_val = data
    n = x_train.shape[0]
    perm = torch.randperm(n, generator=shuffle_gen).to(device)  # [N] i64, new order each epoch
    steps = math.ceil(n / BATCH_SIZE)
    if max_steps is not None:
        steps = min(steps, max_steps)

    model.train()
    seen = 0
    for s in range(steps):
        idx = perm[s * BATCH_SIZE:(s + 1) * BATCH_SIZE]  # [B]; the last batch may be short
        xb = normalise(x_train[idx])                      # gather u8 [B, 3072] -> f32 [B, 3072]
        yb = y_train[idx]                                 # [B]
        logits = model(xb)                                # [B, 10]
        loss = F.cross_entropy(logits, yb)                # scalar, mean over the batch
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += idx.shape[0]

    # Validation in batches of 200, as part of the epoch (and of its time).
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    with torch.no_grad():
        for start in range(0, x_val.shape[0], BATCH_SIZE):
            xb = normalise(x_val[start:start + BATCH_SIZE])         # [B, 3072] f32
            pred = model(xb).argmax(dim=1)                          # [B]
            correct += (pred == y_val[start:start + BATCH_SIZE]).sum()
    acc = correct.item() / max(1, x_val.shape[0])  # .item() waits for the device
    return seen, acc


def gflop_per_epoch(sizes, train_images, val_images):
    products = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    forward = 2 * sum(products)
    backward = 2 * sum(products) + 2 * sum(products[1:])
    return ((forward + backward) * train_images + forward * val_images) / 1e9


def matmul_peak_gflops(device, n=2048, repeats=5):
    """Best GFLOP/s of an n x n float32 matrix product on `device`."""
    gen = torch.Generator().manual_seed(SEED)
    a = torch.rand(n, n, generator=gen).to(device)
    b = torch.rand(n, n, generator=gen).to(device)
    torch.mm(a, b)
    sync(device)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def peak_memory_mib(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_model(name, data, device, args, peak):
    torch.manual_seed(SEED)  # same initial weights on every run
    sizes = layer_sizes(name)
    model = build_mlp(sizes).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-3, eps=1e-8)
    shuffle_gen = torch.Generator().manual_seed(SEED)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    times, train_images, acc = [], 0, 0.0
    for epoch in range(args.warmup + args.epochs):
        sync(device)
        t0 = time.perf_counter()
        train_images, acc = run_epoch(model, opt, data, shuffle_gen, args.steps, device)
        sync(device)
        dt = time.perf_counter() - t0
        timed = epoch >= args.warmup
        if timed:
            times.append(dt)
        print(f"  {name}: epoch {epoch + 1}/{args.warmup + args.epochs} "
              f"{'timed' if timed else 'warm-up'} {dt:.3f} s, val acc {acc:.3f}",
              file=sys.stderr)

    median = statistics.median(times)
    gflop = gflop_per_epoch(sizes, train_images, data[2].shape[0])
    return {
        "model": name,
        "device": device.type,
        "engine": "pytorch",
        "threads": torch.get_num_threads(),
        "epoch_seconds_median": median,
        "epoch_seconds_min": min(times),
        "images_per_second": train_images / median,
        "peak_memory_mib": peak_memory_mib(device),
        "gflop_per_epoch": gflop,
        "gflops": gflop / median,
        "peak_fraction": gflop / median / peak,
        # Extra detail, only in the JSON output.
        "epoch_seconds": times,
        "train_images_per_epoch": train_images,
        "val_accuracy": acc,
    }


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_info(device):
    info = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": device.type,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def print_table(rows):
    headers = ["model", "device", "threads", "s/epoch (median)", "s/epoch (min)",
               "images/s", "peak MiB", "GFLOP/epoch", "GFLOP/s", "% peak"]
    cells = [[r["model"], r["device"], str(r["threads"]),
              f"{r['epoch_seconds_median']:.3f}", f"{r['epoch_seconds_min']:.3f}",
              f"{r['images_per_second']:,.0f}", f"{r['peak_memory_mib']:.1f}",
              f"{r['gflop_per_epoch']:.3f}", f"{r['gflops']:.2f}",
              f"{100 * r['peak_fraction']:.1f}%"] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = lambda xs: "  ".join(x.rjust(w) if i >= 2 else x.ljust(w)
                                for i, (x, w) in enumerate(zip(xs, widths)))
    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for c in cells:
        print(line(c))


# ---------------------------------------------------------------------------
# --study: the whole default depth study, one network after another.

STUDY_VARIANTS = ["plain", "kaiming", "batchnorm", "batchnorm-dropout"]
STUDY_LAYERS = range(2, 7)
STUDY_WIDTHS = [50, 40, 30, 25, 20]
LR_DECAY = 0.95
DROPOUT = 0.4


def build_variant(variant, sizes):
    """The study's variant: Linear [-> BatchNorm1d] -> ReLU [-> Dropout(0.4)] per
    hidden layer, then Linear. plain/batchnorm*: weights ~ N(0, 1e-3);
    kaiming: N(0, 2 / fan_in); biases 0."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(n_in, n_out)
        std = math.sqrt(2.0 / n_in) if variant == "kaiming" else 1e-3
        nn.init.normal_(linear.weight, mean=0.0, std=std)
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < len(sizes) - 2:
            if variant.startswith("batchnorm"):
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(nn.ReLU())
            if variant == "batchnorm-dropout":
                layers.append(nn.Dropout(DROPOUT))
    return nn.Sequential(*layers)


def evaluate(model, x_u8, y):
    """(mean loss, accuracy) over a split, in batches of 200."""
    model.eval()
    loss_sum = torch.zeros((), device=x_u8.device)
    correct = torch.zeros((), dtype=torch.int64, device=x_u8.device)
    with torch.no_grad():
        for start in range(0, x_u8.shape[0], BATCH_SIZE):
            logits = model(normalise(x_u8[start:start + BATCH_SIZE]))  # [B, 10]
            yb = y[start:start + BATCH_SIZE]
            loss_sum += F.cross_entropy(logits, yb, reduction="sum")
            correct += (logits.argmax(dim=1) == yb).sum()
    n = max(1, x_u8.shape[0])
    return loss_sum.item() / n, correct.item() / n


def train_network(variant, layers, data, device, args):
    """One network of the study: returns its row."""
    x_train, y_train, x_val, y_val, x_test, y_test = data
    torch.manual_seed(SEED)
    sizes = [IMAGE_DIM] + STUDY_WIDTHS[:layers - 1] + [NUM_CLASSES]
    model = build_variant(variant, sizes).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-3, eps=1e-8)
    schedule = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=LR_DECAY)
    shuffle_gen = torch.Generator().manual_seed(SEED)  # one data order per seed, as ours
    n = x_train.shape[0]
    steps = math.ceil(n / BATCH_SIZE)
    if args.steps is not None:
        steps = min(steps, args.steps)
    sync(device)
    t0 = time.perf_counter()
    best_acc, best_state, best_epoch = -1.0, None, 0
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(n, generator=shuffle_gen).to(device)
        for s in range(steps):
            idx = perm[s * BATCH_SIZE:(s + 1) * BATCH_SIZE]
            loss = F.cross_entropy(model(normalise(x_train[idx])), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        schedule.step()
        _, val_acc = evaluate(model, x_val, y_val)
        if val_acc > best_acc:
            best_acc, best_epoch = val_acc, epoch + 1
            best_state = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    test_loss, test_acc = evaluate(model, x_test, y_test)  # the test set, once
    sync(device)
    seconds = time.perf_counter() - t0
    print(f"  {layers}L {variant}: {seconds:.2f} s, best val acc {best_acc:.3f} "
          f"(epoch {best_epoch}), test acc {test_acc:.3f}", file=sys.stderr)
    return {
        "layers": layers,
        "variant": variant,
        "device": device.type,
        "threads": torch.get_num_threads(),
        "epochs": args.epochs,
        "seconds": seconds,
        "best_val_accuracy": best_acc,
        "best_epoch": best_epoch,
        "test_accuracy": test_acc,
        "test_loss": test_loss,
    }


def run_study(args, device, info):
    g = torch.Generator().manual_seed(SEED)
    sizes = [args.num_train, args.num_val, args.num_test]
    data = []
    for count in sizes:
        data.append(torch.randint(0, 256, (count, IMAGE_DIM), dtype=torch.uint8, generator=g).to(device))
        data.append(torch.randint(0, NUM_CLASSES, (count,), generator=g).to(device))
    print(f"# study: {len(STUDY_VARIANTS) * len(STUDY_LAYERS)} networks, {args.epochs} epochs each; "
          f"torch {info['torch']}, {info['cpu']}, threads {info['threads']}; "
          f"train {args.num_train}, val {args.num_val}, test {args.num_test}"
          + (f", steps/epoch <= {args.steps}" if args.steps else ""), file=sys.stderr)
    start = time.perf_counter()
    rows = [train_network(variant, layers, data, device, args)
            for layers in STUDY_LAYERS for variant in STUDY_VARIANTS]
    total = time.perf_counter() - start
    columns = list(rows[0].keys())
    if args.format == "json":
        print(json.dumps({"machine": info, "study_seconds": total, "networks": rows}, indent=2))
    elif args.format == "csv":
        print(",".join(columns))
        for r in rows:
            print(",".join(str(r[c]) if isinstance(r[c], (str, int)) else f"{r[c]:.6g}" for c in columns))
    else:
        print(f"{'layers':>6} {'variant':<18} {'seconds':>8} {'best val':>8} {'test acc':>8}")
        for r in rows:
            print(f"{r['layers']:>6} {r['variant']:<18} {r['seconds']:>8.2f} "
                  f"{r['best_val_accuracy']:>8.3f} {r['test_accuracy']:>8.3f}")
    print(f"# study wall time: {total:.1f} s", file=sys.stdout if args.format == "table" else sys.stderr)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    want = args.device
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: CUDA is not available in this torch build / machine")
    device = torch.device(want)

    info = machine_info(device)
    if args.study:
        run_study(args, device, info)
        return
    where = f"GPU {info['gpu']} (CUDA {info['cuda']}), " if device.type == "cuda" else ""
    header = (f"# torch {info['torch']}, python {info['python']}, {where}"
              f"CPU {info['cpu']} ({info['cpu_count']} cores), threads {info['threads']}; "
              f"train {args.num_train}, val {args.num_val}, batch {BATCH_SIZE}, "
              f"warm-up {args.warmup}, timed epochs {args.epochs}"
              + (f", steps/epoch <= {args.steps}" if args.steps else ""))
    # Keep stdout machine-readable for csv/json: the header goes to stderr there.
    print(header, file=sys.stdout if args.format == "table" else sys.stderr)

    data = make_data(args.num_train, args.num_val, device)
    peak = matmul_peak_gflops(device)
    print(f"# matmul peak (2048 x 2048 float32): {peak:.1f} GFLOP/s", file=sys.stderr)
    rows = [bench_model(name.strip(), data, device, args, peak)
            for name in args.models.split(",") if name.strip()]

    if args.format == "table":
        print_table(rows)
    elif args.format == "csv":
        print(",".join(CSV_COLUMNS))
        for r in rows:
            print(",".join(str(r[c]) if isinstance(r[c], (str, int))
                           else f"{r[c]:.6g}" for c in CSV_COLUMNS))
    else:
        print(json.dumps({"machine": info, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
