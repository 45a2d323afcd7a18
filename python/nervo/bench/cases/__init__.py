"""Benchmark case families (one module per operator family, mirroring csrc/ops/)."""
from nervo.bench.cases import act, attn, conv, gemm, norm, pool, privacy, rnn

FAMILIES = {
    "act": act,
    "gemm": gemm,
    "privacy": privacy,
    "conv": conv,
    "pool": pool,
    "norm": norm,
    "rnn": rnn,
    "attn": attn,
}
