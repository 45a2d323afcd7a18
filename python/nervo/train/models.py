"""Reference models used by ``nervo demo`` / ``nervo train`` and the Fashion-MNIST benchmark.

- ``mlp``: Flatten -> 256 -> 128 -> classes (ReLU, dropout), the classic 784-256-128-10.
- ``cnn``: conv(32, 3x3, pad 1)-ReLU-maxpool2 -> conv(64, 3x3, pad 1)-ReLU-maxpool2 -> fc128 -> fc.
  Padding 1 keeps 8x8 digits usable (8 -> 4 -> 2) and gives 28 -> 14 -> 7 on Fashion-MNIST.
- ``resnet``: a small ResNet with batch norm: stem conv(32) + three stages of two basic blocks
  (32, 64, 128 channels, strides 1, 2, 2), global average pooling, fc.
- ``lstm`` / ``gru``: the image read as a sequence of its rows (H steps of C*W features) through
  a 128-unit LSTM/GRU; the final hidden state through fc (``nn.RNNSequenceClassifier``).
- ``transformer``: the same row sequence through Linear(C*W -> 64) + learned positions, two
  pre-norm encoder layers (4 heads, feed-forward 128), mean over time, fc
  (``nn.TransformerSequenceClassifier``).

Each builder takes the input shape ``(C, H, W)`` and the class count and returns a Module whose
``state_dict`` keys match the PyTorch twins in ``examples/fashion_mnist_reference.py`` (same layer
names).
"""
from __future__ import annotations

MODELS = ("mlp", "cnn", "resnet", "lstm", "gru", "transformer")


def _nn():
    from nervo import nn
    return nn


def mlp(in_shape, num_classes: int = 10, *, hidden=(256, 128), dropout: float = 0.2):
    nn = _nn()
    c, h, w = in_shape
    layers, prev = [nn.Flatten()], c * h * w
    for width in hidden:
        layers += [nn.Linear(prev, width), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        prev = width
    layers.append(nn.Linear(prev, num_classes))
    return nn.Sequential(*layers)


def cnn(in_shape, num_classes: int = 10, *, channels=(32, 64), hidden: int = 128,
        dropout: float = 0.25):
    nn = _nn()
    c, h, w = in_shape
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(c, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * (h // 4) * (w // 4), hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, num_classes),
    )


def _basic_block_cls():
    nn = _nn()

    class BasicBlock(nn.Module):
        """conv3x3-BN-ReLU-conv3x3-BN plus a shortcut (1x1 conv + BN when the shape changes)."""

        def __init__(self, cin, cout, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                              nn.BatchNorm2d(cout))
            else:
                self.shortcut = nn.Identity()

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + self.shortcut(x))

    return BasicBlock


def resnet(in_shape, num_classes: int = 10, *, widths=(32, 64, 128), blocks: int = 2):
    nn = _nn()
    Block = _basic_block_cls()
    c = in_shape[0]
    layers = [nn.Conv2d(c, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()]
    prev = widths[0]
    for i, w in enumerate(widths):
        for b in range(blocks):
            layers.append(Block(prev, w, stride=2 if (i > 0 and b == 0) else 1))
            prev = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(prev, num_classes)]
    return nn.Sequential(*layers)


def lstm(in_shape, num_classes: int = 10, *, hidden: int = 128):
    c, h, w = in_shape
    return _nn().RNNSequenceClassifier("lstm", c * w, hidden, num_classes)


def gru(in_shape, num_classes: int = 10, *, hidden: int = 128):
    c, h, w = in_shape
    return _nn().RNNSequenceClassifier("gru", c * w, hidden, num_classes)


def transformer(in_shape, num_classes: int = 10, *, d_model: int = 64, nhead: int = 4,
                num_layers: int = 2, dim_feedforward: int = 128):
    c, h, w = in_shape
    return _nn().TransformerSequenceClassifier(c * w, d_model=d_model, nhead=nhead,
                                               num_layers=num_layers,
                                               dim_feedforward=dim_feedforward,
                                               num_classes=num_classes, max_len=max(512, h))


_BUILDERS = {"mlp": mlp, "cnn": cnn, "resnet": resnet, "lstm": lstm, "gru": gru,
             "transformer": transformer}
_SEQUENCE_MODELS = ("lstm", "gru", "transformer")


def build_model(name: str, in_shape, num_classes: int = 10, **kwargs):
    """Build reference model ``name`` (one of ``MODELS``) for inputs ``(C, H, W)``.

    The sequence models (``lstm``, ``gru``, ``transformer``) read an image as H time steps of C*W
    features.
    """
    if name not in _BUILDERS:
        raise ValueError(f"build_model: unknown model {name!r} (choose from {list(MODELS)})")
    in_shape = tuple(int(d) for d in in_shape)
    if len(in_shape) != 3 or min(in_shape) <= 0:
        raise ValueError(f"build_model: in_shape must be (C, H, W) with positive sizes, got {in_shape}")
    if name not in ("mlp",) + _SEQUENCE_MODELS and (in_shape[1] < 4 or in_shape[2] < 4):
        raise ValueError(f"build_model: {name} needs images of at least 4x4, got {in_shape}")
    return _BUILDERS[name](in_shape, num_classes, **kwargs)
