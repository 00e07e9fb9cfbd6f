#!/usr/bin/env python3
"""Builds the Python-layout CIFAR-10 fixture the mlp-data tests read.

Takes the first 20 records of each file of the bundled binary subset
(../shared/data/cifar-10-subset) and writes them as the official
cifar-10-python.tar.gz would hold them, into
crates/mlp-data/tests/data/python-layout/ (each file NAME.pickle; the tests copy
them to a cifar-10-batches-py/ directory under the official names):

  data_batch_1 .. data_batch_5   protocol 2, bytes keys (b'data', b'labels', ...):
                                 what the official Python 2 files look like when
                                 loaded with encoding='bytes'; Python 3 writes the
                                 bytes via _codecs.encode(str, 'latin1') in protocol 2
  test_batch                     protocol 4, str keys: SHORT_BINBYTES pixels, FRAME,
                                 MEMOIZE, STACK_GLOBAL
  batches.meta                   protocol 2, bytes keys, label_names as bytes

It also writes protocol5_batch.pickle (3 test records, str keys) beside them:
numpy pickles arrays differently in protocol 5 (_frombuffer + BYTEARRAY8).

`data` is a C-ordered numpy uint8 array [20, 3072] (rows are the CHW pixels, exactly
the record bytes after the label byte) and `labels` a list of ints, as in the
official files. Needs numpy (pip install numpy). Usage:

  python3 scripts/make_pickle_fixture.py [SUBSET_DIR]
"""

import pickle
import sys
from pathlib import Path

import numpy as np

RECORDS = 20
RECORD_BYTES = 3073
ROOT = Path(__file__).resolve().parent.parent
SUBSET = ROOT.parent / "shared" / "data" / "cifar-10-subset"
FIXTURES = ROOT / "crates" / "mlp-data" / "tests" / "data"
OUT = FIXTURES / "python-layout"


def read_records(path: Path, count: int):
    """First `count` records of a binary batch file as (labels, uint8 array [count, 3072])."""
    raw = path.read_bytes()[: count * RECORD_BYTES]
    if len(raw) != count * RECORD_BYTES:
        sys.exit(f"{path} holds fewer than {count} records")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(count, RECORD_BYTES)
    labels = [int(label) for label in records[:, 0]]
    return labels, np.ascontiguousarray(records[:, 1:])


def write(path: Path, obj, protocol: int):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes, protocol {protocol})")


def main():
    subset = Path(sys.argv[1]) if len(sys.argv) > 1 else SUBSET
    OUT.mkdir(parents=True, exist_ok=True)

    for i in range(1, 6):
        labels, data = read_records(subset / f"data_batch_{i}.bin", RECORDS)
        batch = {
            b"batch_label": f"training batch {i} of 5".encode(),
            b"labels": labels,
            b"data": data,
        }
        write(OUT / f"data_batch_{i}.pickle", batch, protocol=2)

    labels, data = read_records(subset / "test_batch.bin", RECORDS)
    write(OUT / "test_batch.pickle", {"batch_label": "testing batch 1 of 1", "labels": labels, "data": data}, protocol=4)

    names = [line.strip() for line in (subset / "batches.meta.txt").read_text().splitlines() if line.strip()]
    meta = {b"num_cases_per_batch": 10000, b"label_names": [n.encode() for n in names], b"num_vis": 3072}
    write(OUT / "batches.meta.pickle", meta, protocol=2)

    labels, data = read_records(subset / "test_batch.bin", 3)
    write(OUT / "protocol5_batch.pickle", {"labels": labels, "data": data}, protocol=5)


if __name__ == "__main__":
    main()
