"""Single-thread CPU time (time.thread_time: immune to the shared machine's time slicing) of
nervo-native vs torch for every kernel-family bench case of issue 5, min of K runs, interleaved."""
import os, time, sys
import numpy as np
import nervo, torch
from nervo.bench import all_cases
K = int(os.environ.get("K", "7"))
nervo.set_num_threads(1); torch.set_num_threads(1)
fams = sys.argv[1:] or ["act", "softmax", "loss", "dropout", "embed", "optim"]
print(f"{'case':34s} {'nervo ms':>9s} {'torch ms':>9s} {'ratio':>6s}  nervo GB/s")
for fam in fams:
    for case in all_cases(fam):
        peers = [i for i in case.impls if i in ("torch", "torch-fused")]
        fs = [case.setup("nervo-native")] + [case.setup(p) for p in peers]
        nervo.set_num_threads(1); torch.set_num_threads(1)
        for f in fs: f()
        ts = [[] for _ in fs]
        for _ in range(K):
            for j, f in enumerate(fs):
                t0 = time.thread_time(); f(); ts[j].append(time.thread_time() - t0)
        a = min(ts[0]); b = min(ts[1]) if peers else float("nan")
        gbs = case.nbytes / a / 1e9 if case.nbytes else 0
        print(f"{case.group + ' (' + (peers[0] if peers else '-') + ')':34s} {a*1e3:9.2f} {b*1e3:9.2f} {b/a:6.2f}  {gbs:6.1f}", flush=True)
