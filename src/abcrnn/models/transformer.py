"""A small decoder-only Transformer over symbols (GPT-style), the non-recurrent model beside models.py.

Token embedding plus a learned absolute position embedding of `context` positions; `layers` pre-norm
blocks, each causal self-attention then an MLP (4 x hidden, GELU), both added back to the residual
stream; a final LayerNorm and an output head that shares the token embedding's weights. Layout and
initialisation follow nanoGPT's model.py (normal(0, 0.02), residual projections scaled by
1/sqrt(2 * layers), biases zero).

Unlike CharRNN it carries no state from one window to the next: training feeds windows of at most
`context` symbols, and forward ignores `state` and returns None for it. Two things take the place of
a carried state:

* sliding_loss scores a long text with overlapping windows (stride context//2), so every symbol after
  the first window is predicted from at least context//2 symbols of history;
* start/advance decode n streams one symbol at a time with a key/value cache per layer. A stream whose
  window is full slides: its cache is recomputed from its last context//2 symbols, so every
  prediction sees between context//2 and context previous symbols, computed exactly as a forward
  pass over a fresh window of those symbols would compute it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from abcrnn.errors import AbcrnnError


class SelfAttention(nn.Module):
    """Multi-head causal self-attention; `step` is the one-symbol version that reads a key/value cache."""

    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.resid_drop = nn.Dropout(dropout)

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(batch, time, hidden) → queries, keys, values, each (batch, heads, time, head_dim)."""
        b, t, _ = x.shape
        return self.qkv(x).view(b, t, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)

    def _merge(self, y: torch.Tensor) -> torch.Tensor:
        b, _, t, _ = y.shape
        return self.resid_drop(self.proj(y.transpose(1, 2).reshape(b, t, -1)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The attention output for every position, and the keys and values (for a decoding cache)."""
        q, k, v = self._split(x)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                           is_causal=True)
        return self._merge(y), (k, v)

    def step(self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, slots: torch.Tensor,
             mask: torch.Tensor) -> torch.Tensor:
        """x: (n, 1, hidden), one new symbol per stream. Its key and value go into slot slots[i] of
        stream i's cache (keys, values: (n, heads, context, head_dim), written in place); it attends
        to the slots `mask` (n, 1, 1, span) allows, which are those up to and including its own."""
        q, k, v = self._split(x)
        rows = torch.arange(x.shape[0], device=x.device)
        keys[rows, :, slots] = k[:, :, 0]
        values[rows, :, slots] = v[:, :, 0]
        span = mask.shape[-1]
        y = F.scaled_dot_product_attention(q, keys[:, :, :span], values[:, :, :span], attn_mask=mask)
        return self._merge(y)


class MLP(nn.Module):
    def __init__(self, hidden: int, dropout: float):
        super().__init__()
        self.fc = nn.Linear(hidden, 4 * hidden)
        self.proj = nn.Linear(4 * hidden, hidden)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """Pre-norm Transformer block: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden)
        self.attn = SelfAttention(hidden, heads, dropout)
        self.norm2 = nn.LayerNorm(hidden)
        self.mlp = MLP(hidden, dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        y, kv = self.attn(self.norm1(x))
        x = x + y
        return x + self.mlp(self.norm2(x)), kv

    def step(self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, slots: torch.Tensor,
             mask: torch.Tensor) -> torch.Tensor:
        x = x + self.attn.step(self.norm1(x), keys, values, slots, mask)
        return x + self.mlp(self.norm2(x))


@dataclass
class DecodeState:
    """What start/advance carry for n streams. advance updates it in place and returns it."""
    keys: list[torch.Tensor]    # per layer, (n, heads, context, head_dim); slots >= lengths are unused
    values: list[torch.Tensor]  # the same for the values
    window: torch.Tensor        # (n, context) int64: each stream's current window, oldest symbol first
    lengths: torch.Tensor       # (n,) int64: symbols in each window, 1..context


class Transformer(nn.Module):
    kind = "transformer"

    def __init__(self, vocab_size: int, hidden: int = 256, layers: int = 4, heads: int = 4,
                 context: int = 256, dropout: float = 0.0):
        super().__init__()
        if heads < 1 or hidden % heads:
            raise AbcrnnError(f"transformer: hidden ({hidden}) must be a multiple of heads ({heads})")
        if context < 1:
            raise AbcrnnError(f"transformer: context must be at least 1, got {context}")
        self.vocab_size, self.hidden, self.layers = vocab_size, hidden, layers
        self.heads, self.context = heads, context
        self.token = nn.Embedding(vocab_size, hidden)
        self.position = nn.Embedding(context, hidden)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(hidden, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, vocab_size, bias=False)
        self.head.weight = self.token.weight  # weight tying: one matrix, counted once
        self._init()

    def _init(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for block in self.blocks:  # the projections that add into the residual stream (GPT-2)
            for proj in (block.attn.proj, block.mlp.proj):
                nn.init.normal_(proj.weight, mean=0.0, std=0.02 / math.sqrt(2 * self.layers))

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _run(self, x: torch.Tensor) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Logits for a batch of windows starting at position 0, and every layer's keys and values."""
        positions = torch.arange(x.shape[1], device=x.device)
        h = self.drop(self.token(x) + self.position(positions))
        kvs = []
        for block in self.blocks:
            h, kv = block(h)
            kvs.append(kv)
        return self.head(self.norm(h)), kvs

    def forward(self, x: torch.Tensor, state=None) -> tuple[torch.Tensor, None]:
        """x: (batch, time) int64, time <= context → logits (batch, time, vocab) and None.

        Each row is a fresh window (positions 0..time-1); `state` is accepted for CharRNN's call
        interface and ignored, and no state is returned.
        """
        if x.shape[1] > self.context:
            raise AbcrnnError(f"transformer: a window of {x.shape[1]} symbols is longer than the "
                              f"context ({self.context})")
        return self._run(x)[0], None

    # --- incremental decoding -------------------------------------------------------------------

    def _keep(self) -> int:
        """Symbols a full window slides down to (the new one included)."""
        return max(1, self.context // 2)

    def _window_length(self, n: int) -> int:
        """Window length after n symbols fed one at a time, sliding whenever a full window gets one more."""
        c, keep = self.context, self._keep()
        return n if n <= c else keep + (n - c - 1) % (c - keep + 1)

    def _fill(self, state: DecodeState, rows: torch.Tensor, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Recompute the caches of streams `rows` from fresh windows x (m, width), right-padded, of
        `lengths` (m,) symbols; returns the logits after each window's last symbol (m, vocab)."""
        logits, kvs = self._run(x)
        width = x.shape[1]
        for layer, (k, v) in enumerate(kvs):
            state.keys[layer][rows, :, :width] = k
            state.values[layer][rows, :, :width] = v
        state.window[rows, :width] = x
        state.lengths[rows] = lengths
        return logits[torch.arange(x.shape[0], device=x.device), lengths - 1]

    @torch.no_grad()
    def start(self, prime_ids: list[list[int]], device=None) -> tuple[torch.Tensor, DecodeState]:
        """Run n primes (lists of symbol ids, lengths may differ) → logits (n, vocab) after each
        prime's last symbol, and the decoding state.

        A prime longer than the context keeps the window that feeding it one symbol at a time through
        advance would have left, so start(p + [t]) gives what start(p) then advance([t]) gives.
        """
        if not prime_ids or any(len(p) == 0 for p in prime_ids):
            raise AbcrnnError("transformer: every prime must have at least one symbol")
        n, weight = len(prime_ids), self.token.weight
        device = weight.device if device is None else device
        windows = [list(p[len(p) - self._window_length(len(p)):]) for p in prime_ids]
        lengths = torch.tensor([len(w) for w in windows], dtype=torch.long, device=device)
        x = torch.zeros(n, max(len(w) for w in windows), dtype=torch.long)
        for i, w in enumerate(windows):
            x[i, : len(w)] = torch.tensor(w, dtype=torch.long)
        shape = (n, self.heads, self.context, self.hidden // self.heads)
        state = DecodeState(
            keys=[torch.zeros(shape, dtype=weight.dtype, device=device) for _ in self.blocks],
            values=[torch.zeros(shape, dtype=weight.dtype, device=device) for _ in self.blocks],
            window=torch.zeros(n, self.context, dtype=torch.long, device=device),
            lengths=torch.zeros(n, dtype=torch.long, device=device))
        logits = self._fill(state, torch.arange(n, device=device), x.to(device), lengths)
        return logits, state

    @torch.no_grad()
    def advance(self, tokens: torch.Tensor, state: DecodeState) -> tuple[torch.Tensor, DecodeState]:
        """Feed one symbol per stream, tokens (n,) → logits (n, vocab) after it, and the state
        (the same object, updated in place).

        A stream whose window already holds `context` symbols first slides: its cache is recomputed
        from its last context//2 - 1 symbols, and the new symbol makes context//2.
        """
        c, keep = self.context, self._keep()
        full = (state.lengths >= c).nonzero().squeeze(1)
        if full.numel():
            if keep > 1:
                kept = state.window[full, c - keep + 1:]
                self._fill(state, full, kept, torch.full_like(full, keep - 1))
            else:
                state.lengths[full] = 0
        slots = state.lengths  # where each stream's new symbol goes: its position in the window
        span = int(slots.max()) + 1
        mask = (torch.arange(span, device=slots.device) <= slots[:, None])[:, None, None, :]
        h = self.drop(self.token(tokens[:, None]) + self.position(slots[:, None]))
        for layer, block in enumerate(self.blocks):
            h = block.step(h, state.keys[layer], state.values[layer], slots, mask)
        state.window[torch.arange(len(slots), device=slots.device), slots] = tokens
        state.lengths = slots + 1
        return self.head(self.norm(h))[:, 0], state


def parameter_count(vocab_size: int, hidden: int, layers: int, context: int) -> int:
    """The number of parameters Transformer(vocab_size, hidden, layers, heads, context) has, computed
    without building it (heads do not change it; the head shares the token embedding)."""
    h = hidden
    block = (2 * h) + (3 * h * h + 3 * h) + (h * h + h) + (2 * h) + (4 * h * h + 4 * h) + (4 * h * h + h)
    return vocab_size * h + context * h + layers * block + 2 * h


@torch.no_grad()
def sliding_loss(model: Transformer, data: torch.Tensor, device, batch: int = 16) -> tuple[float, int]:
    """Total cross-entropy (nats, summed in float64) of predicting data[1:] from the past, and the
    number of symbols predicted (len(data) - 1).

    Windows of `context` symbols with stride context//2: the first window scores all its positions;
    each later one scores only the targets past the previous window's end (its last `stride`
    positions; the final window is aligned to the end of the data), so every target is scored once
    and, after the first window, with at least context//2 symbols of history. Data shorter than the
    context is one window. Windows go through the model `batch` at a time.
    """
    targets = data.numel() - 1
    if targets < 1:
        return 0.0, 0
    stride = max(1, model.context // 2)
    width = min(model.context, targets)
    ends = [width]
    while ends[-1] < targets:
        ends.append(min(ends[-1] + stride, targets))
    starts = [e - width for e in ends]
    skips = [0] + [prev - s for prev, s in zip(ends, starts[1:])]  # leading positions already scored
    offsets = torch.arange(width, device=data.device)
    was_training = model.training
    model.eval()
    total, count = torch.zeros((), dtype=torch.float64, device=device), 0
    try:
        for i in range(0, len(starts), batch):
            first = torch.tensor(starts[i:i + batch], device=data.device)[:, None] + offsets
            x, y = data[first].to(device), data[first + 1].to(device)
            scored = offsets.to(device)[None] >= torch.tensor(skips[i:i + batch], device=device)[:, None]
            logits, _ = model(x)
            nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1), reduction="none")
            total += nll.view_as(y)[scored].double().sum()
            count += int(scored.sum())
    finally:
        model.train(was_training)
    return total.item(), count
