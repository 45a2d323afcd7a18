"""Attention and Transformer layers (torch.nn.MultiheadAttention, TransformerEncoderLayer,
TransformerEncoder, TransformerDecoderLayer, TransformerDecoder): PyTorch's arguments, parameter
names and state_dict keys, on nervo's fused scaled-dot-product-attention kernel; plus sinusoidal
and learned positional encodings (nervo additions).
"""
from __future__ import annotations

import copy
import math

import numpy as np

from nervo import functional as F
from nervo.functional.attention import multi_head_attention_forward
from nervo.nn import init
from nervo.nn.container import ModuleList
from nervo.nn.dropout import Dropout
from nervo.nn.linear import Linear
from nervo.nn.module import Buffer, Module, Parameter
from nervo.nn.normalization import LayerNorm
from nervo.tensor import get_default_dtype

__all__ = ["MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder",
           "TransformerDecoderLayer", "TransformerDecoder", "SinusoidalPositionalEncoding",
           "LearnedPositionalEncoding", "TransformerSequenceClassifier"]


class _OutProj(Linear):
    """torch's NonDynamicallyQuantizableLinear: a Linear (kept for the out_proj.* keys)."""


class MultiheadAttention(Module):
    """softmax(Q K^T / sqrt(d) + mask) V per head, heads concatenated and projected
    (torch.nn.MultiheadAttention).

    Args:
        embed_dim, num_heads: embed_dim must be divisible by num_heads.
        dropout: on the attention weights (training only). bias: projection biases.
        kdim, vdim: key/value feature sizes (default embed_dim; if different, separate
            q_proj_weight/k_proj_weight/v_proj_weight replace in_proj_weight, as in torch).
        batch_first: inputs (N, L, E) instead of (L, N, E).
        add_bias_kv: learned bias_k, bias_v (1, 1, embed_dim) appended to the projected keys and
            values as one extra position (masks get an allowed column), as in torch.
        add_zero_attn: one more all-zero key/value position per head, after bias_kv, as in torch.

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (output, weights or None). Masks follow torch:
    bool True = NOT allowed to attend; float masks are added. is_causal without attn_mask applies
    the causal mask. NOTE: the returned weights carry no gradient (nervo computes them separately
    from the fused kernel, for inspection); pass need_weights=False for speed.

    Example:
        >>> import nervo
        >>> mha = nervo.nn.MultiheadAttention(8, 2, batch_first=True)
        >>> x = nervo.randn(3, 5, 8)
        >>> out, w = mha(x, x, x)
        >>> out.shape, w.shape
        ((3, 5, 8), (3, 5, 5))
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None,
                 dtype=None):
        super().__init__()
        if not isinstance(embed_dim, int) or embed_dim <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim must be a positive int, got {embed_dim!r}")
        if not isinstance(num_heads, int) or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: num_heads must be a positive int, got {num_heads!r}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by "
                             f"num_heads ({num_heads})")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1), got {dropout}")
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, float(dropout)
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim = embed_dim // num_heads
        self.batch_first = batch_first
        E = embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(np.empty((3 * E, E), dt))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(np.empty((E, E), dt))
            self.k_proj_weight = Parameter(np.empty((E, self.kdim), dt))
            self.v_proj_weight = Parameter(np.empty((E, self.vdim), dt))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(np.empty((3 * E,), dt))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = _OutProj(E, E, bias=bias, dtype=dt)
        if add_bias_kv:
            self.bias_k = Parameter(np.empty((1, 1, E), dt))
            self.bias_v = Parameter(np.empty((1, 1, E), dt))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = bool(add_zero_attn)
        self._reset_parameters()

    def _reset_parameters(self):
        # torch: xavier_uniform_ on the input projections, zero biases.
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        E = self.embed_dim
        q_last = query.shape[-1]
        if q_last != E:
            raise ValueError(f"MultiheadAttention: query has {q_last} features, expected "
                             f"embed_dim={E}")
        if key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise ValueError(f"MultiheadAttention: key/value have {key.shape[-1]}/{value.shape[-1]} "
                             f"features, expected kdim={self.kdim}, vdim={self.vdim}")
        unbatched = query.ndim == 2
        if unbatched:
            ax = 0 if self.batch_first else 1
            query, key, value = (t.unsqueeze(ax) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = np.asarray(getattr(key_padding_mask, "_data", key_padding_mask))[None]
        out, w = multi_head_attention_forward(
            query, key, value, self.num_heads, self.in_proj_weight, self.in_proj_bias,
            self.out_proj.weight, self.out_proj.bias, dropout_p=self.dropout,
            training=self.training, key_padding_mask=key_padding_mask, need_weights=need_weights,
            attn_mask=attn_mask, q_proj_weight=self.q_proj_weight,
            k_proj_weight=self.k_proj_weight, v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights, is_causal=is_causal,
            batch_first=self.batch_first, bias_k=self.bias_k, bias_v=self.bias_v,
            add_zero_attn=self.add_zero_attn)
        if unbatched:
            out = out.squeeze(0 if self.batch_first else 1)
            w = w.squeeze(0) if w is not None else None
        return out, w

    def extra_repr(self):
        s = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"
        if self.bias_k is not None:
            s += ", add_bias_kv=True"
        if self.add_zero_attn:
            s += ", add_zero_attn=True"
        return s


def _activation(act, call):
    if callable(act):
        return act
    if act == "relu":
        return F.relu
    if act == "gelu":
        return F.gelu
    raise ValueError(f"{call}: activation should be relu/gelu or a callable, not {act!r}")


class TransformerEncoderLayer(Module):
    """Self-attention + feed-forward block (torch.nn.TransformerEncoderLayer).

    post-norm (default): x = norm1(x + sa(x)); x = norm2(x + ff(x)).
    pre-norm (norm_first=True): x = x + sa(norm1(x)); x = x + ff(norm2(x)).
    ff(x) = linear2(dropout(activation(linear1(x)))).

    Example:
        >>> import nervo
        >>> layer = nervo.nn.TransformerEncoderLayer(16, 4, 32, batch_first=True)
        >>> layer(nervo.randn(2, 7, 16)).shape
        (2, 7, 16)
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, device=None,
                 dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation_relu_or_gelu = activation in ("relu", "gelu")
        self._act_name = activation if isinstance(activation, str) else None
        self.activation = _activation(activation, "TransformerEncoderLayer")

    def _sa(self, x, mask, kpm, is_causal):
        return self.dropout1(self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=kpm,
                                            need_weights=False, is_causal=is_causal)[0])

    def _ff(self, x):
        if self._act_name == "relu":  # relu fused into linear1's GEMM epilogue
            h = F.linear(x, self.linear1.weight, self.linear1.bias, "relu")
        else:
            h = self.activation(self.linear1(x))
        return self.dropout2(self.linear2(self.dropout(h)))

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff(self.norm2(x))
        else:
            x = self.norm1(x + self._sa(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff(x))
        return x


class TransformerDecoderLayer(Module):
    """Self-attention, cross-attention over ``memory``, feed-forward
    (torch.nn.TransformerDecoderLayer; pre- or post-norm)."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, device=None,
                 dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation, "TransformerDecoderLayer")

    def _sa(self, x, mask, kpm, is_causal):
        return self.dropout1(self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=kpm,
                                            need_weights=False, is_causal=is_causal)[0])

    def _mha(self, x, mem, mask, kpm, is_causal):
        return self.dropout2(self.multihead_attn(x, mem, mem, attn_mask=mask, key_padding_mask=kpm,
                                                 need_weights=False, is_causal=is_causal)[0])

    def _ff(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                              memory_is_causal)
            x = x + self._ff(self.norm3(x))
        else:
            x = self.norm1(x + self._sa(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha(x, memory, memory_mask, memory_key_padding_mask,
                                         memory_is_causal))
            x = self.norm3(x + self._ff(x))
        return x


def _clones(module, n):
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer`` and an optional final norm
    (torch.nn.TransformerEncoder; keys layers.<i>.*)."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
                 mask_check=True):
        super().__init__()
        if not isinstance(num_layers, int) or num_layers < 0:
            raise ValueError(f"TransformerEncoder: num_layers must be a non-negative int, got {num_layers!r}")
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal))
        return self.norm(x) if self.norm is not None else x


class TransformerDecoder(Module):
    """A stack of ``num_layers`` copies of ``decoder_layer`` (torch.nn.TransformerDecoder)."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                      memory_key_padding_mask, bool(tgt_is_causal), memory_is_causal)
        return self.norm(x) if self.norm is not None else x


class SinusoidalPositionalEncoding(Module):
    """x + PE, PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...), then dropout
    (Vaswani et al.; a nervo addition). Input (T, B, d) or (B, T, d) with batch_first.
    The table is a non-persistent buffer (not in state_dict)."""

    def __init__(self, d_model, max_len=5000, dropout=0.0, batch_first=False, dtype=None):
        super().__init__()
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        pos = np.arange(max_len)[:, None]
        div = np.exp(np.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = np.zeros((max_len, d_model))
        pe[:, 0::2] = np.sin(pos * div)
        pe[:, 1::2] = np.cos(pos * div)[:, : d_model // 2]
        self.register_buffer("pe", Buffer(pe.astype(dt)), persistent=False)
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.dropout = Dropout(dropout)

    def forward(self, x):
        T = x.shape[1] if self.batch_first else x.shape[0]
        if T > self.max_len:
            raise ValueError(f"SinusoidalPositionalEncoding: sequence length {T} exceeds max_len "
                             f"{self.max_len}")
        pe = self.pe[:T]
        pe = pe.unsqueeze(0) if self.batch_first else pe.unsqueeze(1)
        return self.dropout(x + pe)

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}"


class LearnedPositionalEncoding(Module):
    """x + weight[:T] (a learned (max_len, d_model) table, N(0, 0.02) init), then dropout."""

    def __init__(self, d_model, max_len=512, dropout=0.0, batch_first=False, dtype=None):
        super().__init__()
        dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
        self.weight = Parameter(np.empty((max_len, d_model), dt))
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.dropout = Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self):
        init.normal_(self.weight, 0.0, 0.02)

    def forward(self, x):
        T = x.shape[1] if self.batch_first else x.shape[0]
        if T > self.max_len:
            raise ValueError(f"LearnedPositionalEncoding: sequence length {T} exceeds max_len "
                             f"{self.max_len}")
        pe = self.weight[:T]
        pe = pe.unsqueeze(0) if self.batch_first else pe.unsqueeze(1)
        return self.dropout(x + pe)

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}"


class TransformerSequenceClassifier(Module):
    """A small Transformer-encoder sequence classifier (nervo addition, used by
    ``nervo train --model transformer``): Linear(F -> d_model) + learned positions, pre-norm
    encoder layers (batch_first, gelu), final LayerNorm, mean over time, Linear -> classes.

    Input (N, T, F), or images (N, C, H, W) read as H steps of C*W features. Output (N, classes).

    Example:
        >>> import nervo
        >>> m = nervo.nn.TransformerSequenceClassifier(28, d_model=16, nhead=2, num_layers=1)
        >>> m(nervo.zeros(4, 1, 28, 28)).shape
        (4, 10)
    """

    def __init__(self, input_size, d_model=64, nhead=4, num_layers=2, dim_feedforward=128,
                 num_classes=10, dropout=0.1, max_len=512, dtype=None):
        super().__init__()
        self.embed = Linear(input_size, d_model, dtype=dtype)
        self.pos = LearnedPositionalEncoding(d_model, max_len, dropout, batch_first=True, dtype=dtype)
        layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, "gelu",
                                        batch_first=True, norm_first=True, dtype=dtype)
        self.encoder = TransformerEncoder(layer, num_layers, norm=LayerNorm(d_model, dtype=dtype))
        self.fc = Linear(d_model, num_classes, dtype=dtype)

    def forward(self, x):
        if x.ndim == 4:
            n, c, h, w = x.shape
            x = x.permute(0, 2, 1, 3).reshape(n, h, c * w)
        z = self.encoder(self.pos(self.embed(x)))
        return self.fc(z.mean(1))
