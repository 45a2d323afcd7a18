"""Benchmark case families (one module per operator family, mirroring csrc/ops/)."""
from nervo.bench.cases import act, attn, gemm, rnn

FAMILIES = {
    "act": act,
    "gemm": gemm,
    "rnn": rnn,
    "attn": attn,
}
