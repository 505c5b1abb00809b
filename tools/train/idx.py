"""Reader for the gzipped IDX files of (Fashion-)MNIST: magic with the dimension count in byte 3,
then one big-endian uint32 per dimension, then uint8 data. Shared by the FID classifier trainer and
the DiT trainer."""
import gzip
import os

import numpy as np

FASHION_MNIST = '/usr/share/datasets/fashion-mnist'


def load_idx(name, data_dir=FASHION_MNIST):
    """The uint8 array in data_dir/name, shaped by the file's own dimensions."""
    with gzip.open(os.path.join(data_dir, name), 'rb') as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
