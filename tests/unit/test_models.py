import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from abcrnn.errors import AbcrnnError
from abcrnn.models.recurrent import CharRNN, build_model, detach_state
from abcrnn.settings import RunSettings

CELLS = ["rnn", "lstm", "gru"]
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("mode", ["onehot", "embedding"])
def test_output_and_state_shapes(cell, mode):
    torch.manual_seed(0)
    model = CharRNN(11, cell, hidden=7, layers=2, input=mode, embedding_dim=5)
    logits, state = model(torch.randint(0, 11, (3, 13)))
    assert logits.shape == (3, 13, 11)
    states = state if cell == "lstm" else (state,)
    assert all(s.shape == (2, 3, 7) for s in states)
    init = model.init_state(3)
    assert [s.shape for s in (init if cell == "lstm" else (init,))] == [s.shape for s in states]


@pytest.mark.parametrize("cell", CELLS)
def test_state_carried_between_chunks_equals_one_pass(cell):
    torch.manual_seed(0)
    model = CharRNN(9, cell, hidden=6, layers=2).eval()
    x = torch.randint(0, 9, (4, 20))
    whole, _ = model(x)
    first, state = model(x[:, :8])
    second, _ = model(x[:, 8:], detach_state(state))
    torch.testing.assert_close(torch.cat([first, second], 1), whole)


@pytest.mark.parametrize("cell", CELLS)
def test_embedding_input_with_identity_weights_equals_onehot_input(cell):
    """An embedding whose rows are W_ih's columns, followed by W_ih = I, is the one-hot model."""
    torch.manual_seed(0)
    vocab, hidden = 10, 6
    onehot = CharRNN(vocab, cell, hidden, input="onehot")
    width = GATES[cell] * hidden
    embedded = CharRNN(vocab, cell, hidden, input="embedding", embedding_dim=width)
    state = onehot.state_dict()
    state["embedding.weight"] = onehot.rnn.weight_ih_l0.detach().t().clone()
    state["rnn.weight_ih_l0"] = torch.eye(width)
    embedded.load_state_dict(state)
    x = torch.randint(0, vocab, (2, 15))
    torch.testing.assert_close(embedded(x)[0], onehot(x)[0])


def test_xavier_init_zeroes_biases_and_pytorch_init_does_not():
    torch.manual_seed(0)
    xavier = CharRNN(12, "lstm", 8, init="xavier")
    default = CharRNN(12, "lstm", 8, init="pytorch")
    assert all(p.abs().sum() == 0 for n, p in xavier.named_parameters() if n.endswith(("bias_ih_l0", "bias")))
    assert default.rnn.bias_ih_l0.abs().sum() > 0
    # Xavier-uniform bound for W_hh (4H x H): sqrt(6 / (4H + H))
    assert xavier.rnn.weight_hh_l0.abs().max() <= math.sqrt(6 / (32 + 8))


def test_tiny_model_learns_a_tiny_corpus_well_below_unigram_entropy():
    text = "X:1\nT:Reel\nK:D\n|:d2fd AdFA|dfed cABc|d2fd AdFA|Bgfe d2d2:|\n" * 12
    symbols = sorted(set(text))
    ids = torch.tensor([symbols.index(c) for c in text])
    counts = Counter(text)
    unigram = -sum(n / len(text) * math.log(n / len(text)) for n in counts.values())
    torch.manual_seed(0)
    model = build_model(len(symbols), RunSettings(model="lstm", hidden=48))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    x, y = ids[:-1].view(1, -1), ids[1:].view(1, -1)
    for _ in range(12):
        state = None
        for start in range(0, x.shape[1], 50):
            logits, state = model(x[:, start:start + 50], state)
            loss = F.cross_entropy(logits.reshape(-1, len(symbols)), y[:, start:start + 50].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            state = detach_state(state)
    model.eval()
    with torch.no_grad():
        final = F.cross_entropy(model(x)[0].reshape(-1, len(symbols)), y.reshape(-1)).item()
    assert final < 0.25 * unigram


@pytest.mark.parametrize("kwargs, word", [({"model": "mamba"}, "model"), ({"input": "bytes"}, "input"),
                                          ({"init": "zeros"}, "init"), ({"dropout": 1.5}, "dropout")])
def test_bad_model_options_name_the_option(kwargs, word):
    with pytest.raises(AbcrnnError, match=word):
        RunSettings(**kwargs)
