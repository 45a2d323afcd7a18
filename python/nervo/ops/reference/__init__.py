"""NumPy references for every kernel: the test oracles, written for clarity, float64-capable."""
