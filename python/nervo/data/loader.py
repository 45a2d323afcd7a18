"""DataLoader: batches of NumPy arrays in a seeded order, prefetched on a background thread.

The order of epoch ``e`` depends only on ``(seed, e)``, never on how many batches were drawn
before, so a resumed run (``loader.set_epoch(e)``) sees exactly the batches an uninterrupted one
would. Transforms get a generator keyed the same way, so augmentation is reproducible too.
"""
from __future__ import annotations

import queue
import threading

import numpy as np

from nervo.data.dataset import ArrayDataset, Dataset

_DONE = object()


class _Raised:
    def __init__(self, exc: BaseException):
        self.exc = exc


class DataLoader:
    """Iterate over ``dataset`` in batches.

    Args:
        dataset: a ``Dataset`` or a tuple of arrays (wrapped in ``ArrayDataset``).
        batch_size: samples per batch (> 0).
        shuffle: draw a new permutation every epoch (seeded).
        drop_last: drop the final incomplete batch.
        seed: seed of the shuffling and of the transform's random generator.
        transform: callable ``transform(x, rng) -> x`` applied to the first array of each batch
            (e.g. ``Compose([RandomCrop(28, 2), RandomHorizontalFlip()])``).
        prefetch: batches prepared ahead on a background thread; 0 disables the thread.
    Example:
        >>> dl = DataLoader((np.arange(10.0), np.arange(10)), batch_size=4, drop_last=True)
        >>> [len(xb) for xb, yb in dl]
        [4, 4]
    """

    def __init__(self, dataset, batch_size: int = 32, *, shuffle: bool = False,
                 drop_last: bool = False, seed: int = 0, transform=None, prefetch: int = 2):
        if isinstance(dataset, (tuple, list)):
            dataset = ArrayDataset(*dataset)
        if not isinstance(dataset, Dataset) and not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: dataset must be a Dataset or a tuple of arrays, "
                            f"got {type(dataset).__name__}")
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(prefetch, int) or prefetch < 0:
            raise ValueError(f"DataLoader: prefetch must be an int >= 0, got {prefetch!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = int(seed)
        self.transform = transform
        self.prefetch = prefetch
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration produce epoch ``epoch``'s order (for resuming)."""
        self.epoch = int(epoch)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self.seed = int(state["seed"])

    def _indices(self, epoch: int) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            return np.random.default_rng([self.seed, epoch]).permutation(n)
        return np.arange(n)

    def _batches(self, epoch: int):
        idx = self._indices(epoch)
        rng = np.random.default_rng([self.seed, epoch, 1])
        stop = len(self) * self.batch_size
        for start in range(0, stop, self.batch_size):
            batch = self.dataset.get_batch(idx[start:start + self.batch_size])
            if not isinstance(batch, tuple):
                batch = (batch,)
            if self.transform is not None:
                batch = (self.transform(batch[0], rng),) + tuple(batch[1:])
            yield batch

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        if self.prefetch == 0:
            yield from self._batches(epoch)
            return
        yield from self._prefetched(epoch)

    def _prefetched(self, epoch: int):
        q: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def work():
            try:
                for batch in self._batches(epoch):
                    if not put(batch):
                        return
                put(_DONE)
            except BaseException as exc:  # handed to the consumer, re-raised there
                put(_Raised(exc))

        thread = threading.Thread(target=work, name="nervo-DataLoader", daemon=True)
        thread.start()
        try:
            while True:
                item = q.get()
                if item is _DONE:
                    return
                if isinstance(item, _Raised):
                    raise item.exc
                yield item
        finally:
            # Early exit (break, exception in the training step): stop and join the worker.
            stop.set()
            thread.join()
