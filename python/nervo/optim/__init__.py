"""nervo.optim: optimizers on fused step kernels and learning-rate schedulers (torch.optim)."""
from nervo.optim.optimizer import Optimizer  # noqa: F401
from nervo.optim.optimizers import SGD, Adam, AdamW, RMSprop, Adagrad  # noqa: F401
from nervo.optim import lr_scheduler  # noqa: F401

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]
