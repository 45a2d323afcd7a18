"""Benchmark case families (one module per operator family, mirroring csrc/ops/)."""
from nervo.bench.cases import act, conv, norm, pool

FAMILIES = {
    "act": act,
    "conv": conv,
    "pool": pool,
    "norm": norm,
}
