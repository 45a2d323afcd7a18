"""Benchmark case families (one module per operator family, mirroring csrc/ops/)."""
from nervo.bench.cases import act, gemm, privacy

FAMILIES = {
    "act": act,
    "gemm": gemm,
    "privacy": privacy,
}
