"""Benchmark case families (one module per operator family, mirroring csrc/ops/)."""
from nervo.bench.cases import act, attn, conv, gemm, norm, pool, privacy, rnn
from nervo.bench.cases import softmax, loss, dropout, embed, optim

FAMILIES = {
    "act": act,
    "gemm": gemm,
    "privacy": privacy,
    "conv": conv,
    "pool": pool,
    "norm": norm,
    "softmax": softmax,
    "loss": loss,
    "dropout": dropout,
    "embed": embed,
    "optim": optim,
    "rnn": rnn,
    "attn": attn,
}
