#!/usr/bin/env python3
"""Write a full-size CIFAR-10 look-alike of random pixels in the binary layout.

Six files of 10,000 records (data_batch_1.bin ... data_batch_5.bin and
test_batch.bin), each record one label byte (0-9) and 3,072 pixel bytes, as
the official archive has them: enough to time and size a full-size run where
the real dataset cannot be fetched (e.g. a machine without internet). The
images are noise, so accuracies stay at chance; only speed and memory mean
anything.

  python3 scripts/synthetic_cifar.py DIR [--seed 0]
"""
import argparse
import os
import random

RECORDS_PER_FILE = 10_000
PIXELS = 3 * 32 * 32
FILES = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir", help="directory to write the six .bin files into")
    p.add_argument("--seed", type=int, default=0, help="seed of the pixels and labels")
    args = p.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    rng = random.Random(args.seed)
    for name in FILES:
        path = os.path.join(args.dir, name)
        with open(path, "wb") as f:
            for _ in range(RECORDS_PER_FILE):
                f.write(bytes([rng.randrange(10)]))
                f.write(rng.randbytes(PIXELS))
        print(f"wrote {path}")
    with open(os.path.join(args.dir, "batches.meta.txt"), "w") as f:
        f.write("\n".join(["airplane", "automobile", "bird", "cat", "deer",
                           "dog", "frog", "horse", "ship", "truck"]) + "\n")


if __name__ == "__main__":
    main()
