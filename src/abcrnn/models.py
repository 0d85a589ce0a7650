"""Character-level recurrent networks: vanilla RNN (tanh), LSTM and GRU.

Input is a one-hot vector per character (the paper) or a learned embedding; a linear layer maps the
top hidden state to logits over the vocabulary.

The one-hot input goes through the fused layer's own input product. A one-hot vector times W_ih is a
row lookup, but on the CPU torch's fused LSTM (oneDNN) with the one-hot product measured faster
(about 135k chars/s at batch 32, hidden 150) than a row lookup feeding a hand-written time loop (about
95k chars/s), so the paper's formulation is also the fast one here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .errors import AbcrnnError

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
INPUTS = ("onehot", "embedding")
INITS = ("xavier", "pytorch")

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class CharRNN(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        model: str = "lstm",
        hidden: int = 150,
        layers: int = 1,
        dropout: float = 0.0,
        input: str = "onehot",
        embedding_dim: int = 64,
        init: str = "xavier",
    ):
        super().__init__()
        if model not in CELLS:
            raise AbcrnnError(f"model: must be one of {sorted(CELLS)}, got {model!r}")
        if input not in INPUTS:
            raise AbcrnnError(f"input: must be one of {INPUTS}, got {input!r}")
        if init not in INITS:
            raise AbcrnnError(f"init: must be one of {INITS}, got {init!r}")
        if min(vocab_size, hidden, layers, embedding_dim) < 1:
            raise AbcrnnError("model: vocabulary size, hidden, layers and embedding_dim must be at least 1")
        if not 0.0 <= dropout < 1.0:
            raise AbcrnnError(f"dropout: must be in [0, 1), got {dropout}")
        self.vocab_size, self.kind, self.hidden, self.layers = vocab_size, model, hidden, layers
        self.input_mode = input
        self.embedding = nn.Embedding(vocab_size, embedding_dim) if input == "embedding" else None
        in_dim = embedding_dim if input == "embedding" else vocab_size
        kwargs = {"nonlinearity": "tanh"} if model == "rnn" else {}
        self.rnn = CELLS[model](in_dim, hidden, num_layers=layers, batch_first=True,
                                dropout=dropout if layers > 1 else 0.0, **kwargs)
        self.head = nn.Linear(hidden, vocab_size)
        if init == "xavier":
            self._xavier()

    def _xavier(self) -> None:
        # The paper initialises W_hh, W_xh and W_hy with Xavier; biases start at zero.
        for name, p in self.named_parameters():
            if name.startswith("embedding"):
                continue
            if p.dim() >= 2:
                nn.init.xavier_uniform_(p)
            else:
                nn.init.zeros_(p)

    def encode_input(self, x: torch.Tensor) -> torch.Tensor:
        if self.embedding is not None:
            return self.embedding(x)
        return F.one_hot(x, self.vocab_size).to(self.head.weight.dtype)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """x: (batch, time) int64 → logits (batch, time, vocab) and the state after the last step."""
        out, state = self.rnn(self.encode_input(x), state)
        return self.head(out), state

    def init_state(self, batch: int, device=None) -> State:
        h = torch.zeros(self.layers, batch, self.hidden, device=device)
        return (h, torch.zeros_like(h)) if self.kind == "lstm" else h

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def detach_state(state: State | None) -> State | None:
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def build_model(vocab_size: int, settings: dict) -> CharRNN:
    """Build from a run's settings dict (keys: model, hidden, layers, dropout, input, embedding_dim, init)."""
    return CharRNN(
        vocab_size,
        model=settings.get("model", "lstm"),
        hidden=int(settings.get("hidden", 150)),
        layers=int(settings.get("layers", 1)),
        dropout=float(settings.get("dropout", 0.0)),
        input=settings.get("input", "onehot"),
        embedding_dim=int(settings.get("embedding_dim", 64)),
        init=settings.get("init", "xavier"),
    )
