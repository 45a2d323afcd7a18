"""NumPy references of embedding and its backward."""
import numpy as np


def embedding(weight, idx):
    return weight[idx]


def embedding_backward(dout, idx, V, padding_idx=None):
    D = dout.shape[-1]
    dw = np.zeros((V, D), np.float64)
    np.add.at(dw, np.asarray(idx).reshape(-1), dout.reshape(np.asarray(idx).size, D).astype(np.float64))
    if padding_idx is not None:
        dw[padding_idx] = 0
    return dw.astype(dout.dtype)
