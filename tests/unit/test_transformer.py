import math

import pytest
import torch
import torch.nn.functional as F

from abcrnn.errors import AbcrnnError
from abcrnn.models.transformer import Transformer, parameter_count, sliding_loss

TOL = {"rtol": 1e-5, "atol": 1e-5}


def tiny(vocab=7, hidden=16, layers=2, heads=2, context=8, dropout=0.0, seed=0):
    torch.manual_seed(seed)
    return Transformer(vocab, hidden=hidden, layers=layers, heads=heads, context=context, dropout=dropout)


def test_shapes_attributes_and_ignored_state():
    model = tiny()
    logits, state = model(torch.randint(0, 7, (3, 8)), state="anything")
    assert logits.shape == (3, 8, 7) and state is None
    assert (model.vocab_size, model.kind, model.hidden, model.layers, model.context) == (7, "transformer", 16, 2, 8)
    assert model(torch.randint(0, 7, (2, 3)))[0].shape == (2, 3, 7)


def test_window_longer_than_context_is_a_one_line_error():
    with pytest.raises(AbcrnnError, match="longer than the context") as err:
        tiny()(torch.zeros(1, 9, dtype=torch.long))
    assert "\n" not in str(err.value)


def test_bad_heads_are_an_error():
    with pytest.raises(AbcrnnError, match="multiple of heads"):
        Transformer(7, hidden=10, heads=3)


def test_causal_changing_the_future_leaves_earlier_logits_unchanged():
    model = tiny().eval()
    x = torch.randint(0, 7, (2, 8))
    y = x.clone()
    y[:, 5:] = (y[:, 5:] + 1) % 7
    a, b = model(x)[0], model(y)[0]
    torch.testing.assert_close(a[:, :5], b[:, :5])
    assert not torch.allclose(a[:, 5:], b[:, 5:])


def test_head_weight_is_the_embedding_weight():
    model = tiny()
    assert model.head.weight is model.token.weight
    assert model.head.bias is None


@pytest.mark.parametrize("vocab,hidden,layers,heads,context", [(7, 16, 2, 2, 8), (100, 256, 4, 4, 256),
                                                              (3, 12, 1, 3, 5), (50, 32, 0, 1, 1)])
def test_parameter_count_is_exact(vocab, hidden, layers, heads, context):
    model = Transformer(vocab, hidden=hidden, layers=layers, heads=heads, context=context)
    assert parameter_count(vocab, hidden, layers, context) == model.num_params()


def test_init_is_nanogpt_like():
    model = tiny(vocab=50, hidden=64, layers=4, heads=4, context=64)
    assert all(p.abs().sum() == 0 for n, p in model.named_parameters() if n.endswith(".bias") and "norm" not in n)
    assert abs(model.token.weight.std().item() - 0.02) < 0.002
    assert abs(model.blocks[0].attn.qkv.weight.std().item() - 0.02) < 0.002
    scaled = 0.02 / math.sqrt(2 * 4)
    assert abs(model.blocks[1].mlp.proj.weight.std().item() - scaled) < 0.001
    assert abs(model.blocks[2].attn.proj.weight.std().item() - scaled) < 0.001


def test_same_seed_same_weights_and_outputs():
    a, b = tiny(seed=3), tiny(seed=3)
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb and torch.equal(pa, pb)
    x = torch.randint(0, 7, (2, 8))
    assert torch.equal(a(x)[0], b(x)[0])
    assert not torch.equal(tiny(seed=4).token.weight, a.token.weight)


def test_dropout_only_in_training():
    model = tiny(dropout=0.5)
    x = torch.randint(0, 7, (2, 8))
    assert not torch.equal(model(x)[0], model(x)[0])
    model.eval()
    assert torch.equal(model(x)[0], model(x)[0])


def test_a_few_adam_steps_learn_a_repetitive_text():
    text = "|:d2fd AdFA|dfed cABc:|\n" * 20
    symbols = sorted(set(text))
    ids = torch.tensor([symbols.index(c) for c in text])
    model = tiny(vocab=len(symbols), hidden=32, layers=2, heads=2, context=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    starts = torch.arange(0, len(ids) - 33, 16)
    x, y = ids[starts[:, None] + torch.arange(32)], ids[starts[:, None] + torch.arange(1, 33)]

    def loss():
        return F.cross_entropy(model(x)[0].reshape(-1, len(symbols)), y.reshape(-1))

    first = loss().item()
    for _ in range(40):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert first > math.log(len(symbols)) - 0.5
    assert loss().item() < 0.5 * first


# --- incremental decoding ----------------------------------------------------------------------

def reference_windows(sequence, context):
    """The window after each symbol, fed one at a time: a full window slides to its last context//2."""
    keep, window, out = max(1, context // 2), [], []
    for s in sequence:
        if len(window) == context:
            window = window[len(window) - keep + 1:]
        window.append(s)
        out.append(list(window))
    return out


def fresh(model, window):
    """Logits after the window's last symbol, from a plain forward over it."""
    return model(torch.tensor([window]))[0][0, -1]


@pytest.mark.parametrize("context", [8, 7, 2, 1])
def test_advance_equals_forward_over_the_same_window_across_slides(context):
    model = tiny(context=context).eval()
    gen = torch.Generator().manual_seed(1)
    primes = [[1], [2, 3, 4], list(range(7))[:context], [5] * (context + 3),
              torch.randint(0, 7, (3 * context + 2,), generator=gen).tolist()]
    histories = [list(p) for p in primes]
    logits, state = model.start(primes, "cpu")
    slides, steps = 0, 3 * context + 3
    for step in range(steps + 1):
        for i, h in enumerate(histories):
            window = reference_windows(h, context)[-1]
            if len(h) > context:
                assert max(1, context // 2) <= len(window) <= context
            assert state.lengths[i].item() == len(window)
            assert state.window[i, : len(window)].tolist() == window
            torch.testing.assert_close(logits[i], fresh(model, window), **TOL)
        if step == steps:
            break
        tokens = torch.randint(0, 7, (len(primes),), generator=gen)
        slides += int((state.lengths == context).sum())
        for h, t in zip(histories, tokens.tolist()):
            h.append(t)
        logits, state = model.advance(tokens, state)
    assert slides >= 2 * len(primes)


def test_start_on_a_longer_prime_equals_start_then_advance():
    model = tiny().eval()
    prime = torch.randint(0, 7, (30,)).tolist()
    stepped, state = model.start([prime[:20]])
    for t in prime[20:]:
        stepped, state = model.advance(torch.tensor([t]), state)
    whole, _ = model.start([prime])
    torch.testing.assert_close(stepped, whole, **TOL)


def test_start_refuses_an_empty_prime():
    with pytest.raises(AbcrnnError, match="at least one symbol"):
        tiny().start([[1], []])


def test_decoding_does_not_track_gradients():
    model = tiny()
    logits, state = model.start([[1, 2]])
    logits, state = model.advance(torch.tensor([3]), state)
    assert not logits.requires_grad and not state.keys[0].requires_grad


# --- sliding-window loss -----------------------------------------------------------------------

def brute_force(model, data):
    """Per-target loss, each from its own fresh window: target j (1-based) after the first window
    uses the window of `context` symbols ending at the end of the stride block that holds j (the last
    block ends at the data's end)."""
    c, stride, targets = model.context, max(1, model.context // 2), len(data) - 1
    total, histories = 0.0, []
    for j in range(1, targets + 1):
        if j <= c:
            start = 0
        else:
            end = min(c + math.ceil((j - c) / stride) * stride, targets)
            start = end - c
        histories.append(j - start)
        logits = fresh(model, data[start:j].tolist())
        total += F.cross_entropy(logits[None], data[j : j + 1]).double().item()
    return total, histories


@pytest.mark.parametrize("length", [2, 5, 9, 10, 13, 17, 40, 41])
@pytest.mark.parametrize("batch", [1, 3])
def test_sliding_loss_scores_every_target_once(length, batch):
    model = tiny(context=8).eval()
    data = torch.randint(0, 7, (length,), generator=torch.Generator().manual_seed(length))
    total, count = sliding_loss(model, data, "cpu", batch=batch)
    assert count == length - 1
    expected, histories = brute_force(model, data)
    assert all(4 <= h <= 8 for h in histories[8:])
    assert total == pytest.approx(expected, rel=1e-5)


def test_sliding_loss_restores_training_mode_and_handles_one_symbol():
    model = tiny().train()
    assert sliding_loss(model, torch.tensor([3]), "cpu") == (0.0, 0)
    sliding_loss(model, torch.randint(0, 7, (20,)), "cpu")
    assert model.training
