"""Recurrent networks over characters or ABC tokens: vanilla RNN (tanh), LSTM and GRU; and
`build_model`, which makes the model a run's settings describe (the Transformer is transformer.py's).

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
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

from abcrnn.models.recurrence import FusedGRU, FusedLSTM, FusedRNN
from abcrnn.settings import RunSettings

# torch's fused oneDNN kernel serves nn.LSTM only; the vanilla RNN and the GRU get recurrence.py's own
# fused time loops (same parameters as nn.RNN/nn.GRU, tested equal to them), faster per character.
CELLS = {"rnn": FusedRNN, "lstm": nn.LSTM, "gru": FusedGRU}
# The deterministic mode (settings.deterministic): recurrence.py's loops for every cell and every input,
# since torch's own LSTM, RNN and GRU run kernels that compute different bits on different CPUs.
DETERMINISTIC_CELLS = {"rnn": FusedRNN, "lstm": FusedLSTM, "gru": FusedGRU}

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
        deterministic: bool = False,
    ):
        """Arguments as in RunSettings, which checks them (build_model); this only builds."""
        super().__init__()
        self.vocab_size, self.kind, self.hidden, self.layers = vocab_size, model, hidden, layers
        self.input_mode = input
        self.embedding = nn.Embedding(vocab_size, embedding_dim) if input == "embedding" else None
        in_dim = embedding_dim if input == "embedding" else vocab_size
        kwargs = {"nonlinearity": "tanh"} if model == "rnn" else {}
        cells = DETERMINISTIC_CELLS if deterministic else CELLS
        self.rnn = cells[model](in_dim, hidden, num_layers=layers, batch_first=True,
                                dropout=dropout if layers > 1 else 0.0, **kwargs)
        if deterministic:
            self.rnn.deterministic = True
        # and on the top layer's output, as folk-rnn has it: a one-layer model can use dropout too
        self.drop = nn.Dropout(dropout)
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
        return self.head(self.drop(out)), state

    # --- sampling: every stream primed at once, then one symbol per stream per step ----------------
    def start(self, prime_ids: list[list[int]], device) -> tuple[torch.Tensor, State]:
        """Run every prime through the model in one batched call (packed, since lengths differ).

        Returns the logits after each prime's last symbol, (n, vocab), and the state after it.
        """
        lengths = torch.tensor([len(p) for p in prime_ids])
        x = pad_sequence([torch.tensor(p, dtype=torch.long) for p in prime_ids], batch_first=True).to(device)
        packed = pack_padded_sequence(self.encode_input(x), lengths, batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True)
        last = out[torch.arange(len(prime_ids), device=out.device), (lengths - 1).to(out.device)]
        return self.head(last), state

    def advance(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """The logits (n, vocab) after feeding one symbol per stream, and the new state."""
        logits, state = self(tokens[:, None], state)
        return logits[:, -1], state

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


GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def parameter_count(vocab_size: int, settings: RunSettings) -> int:
    """The number of parameters build_model makes, computed without building it (to refuse in time a
    model that would not fit in memory)."""
    if settings.model == "transformer":
        from abcrnn.models import transformer

        return transformer.parameter_count(vocab_size, settings.hidden, settings.layers, settings.context)
    h, gates = settings.hidden, GATES[settings.model]
    first = settings.embedding_dim if settings.input == "embedding" else vocab_size
    embedding = vocab_size * settings.embedding_dim if settings.input == "embedding" else 0
    recurrent = sum(gates * h * ((first if layer == 0 else h) + h + 2) for layer in range(settings.layers))
    return embedding + recurrent + h * vocab_size + vocab_size


def build_model(vocab_size: int, settings: RunSettings) -> nn.Module:
    """The model a run's settings describe (its weights initialised from torch's current seed)."""
    if settings.model == "transformer":
        from abcrnn.models.transformer import Transformer

        return Transformer(vocab_size, hidden=settings.hidden, layers=settings.layers, heads=settings.heads,
                           context=settings.context, dropout=settings.dropout)
    return CharRNN(vocab_size, model=settings.model, hidden=settings.hidden, layers=settings.layers,
                   dropout=settings.dropout, input=settings.input, embedding_dim=settings.embedding_dim,
                   init=settings.init, deterministic=settings.deterministic)
