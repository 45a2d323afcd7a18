"""Benchmark case families (one module per operator family, mirroring csrc/ops/)."""
from nervo.bench.cases import act, conv, gemm, norm, pool, privacy

FAMILIES = {
    "act": act,
    "gemm": gemm,
    "privacy": privacy,
    "conv": conv,
    "pool": pool,
    "norm": norm,
}
