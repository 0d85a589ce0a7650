"""FusedRNN / FusedGRU / FusedLSTM against torch's nn.RNN / nn.GRU / nn.LSTM: same parameters, same outputs,
same gradients."""
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from abcrnn.models import recurrence
from abcrnn.models.recurrence import FusedGRU, FusedLSTM, FusedRNN, one_hot_indices

PAIRS = {"rnn": (nn.RNN, FusedRNN), "gru": (nn.GRU, FusedGRU)}
IN, HID, T = 5, 7, 6


@pytest.fixture(autouse=True)
def one_thread_and_short_windows(monkeypatch):
    """Tiny products are fastest, and not at the mercy of other processes, on one thread; and the fast
    path takes the tests' short windows too."""
    monkeypatch.setattr(recurrence, "MIN_STEPS", 1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_pair(cell, layers=1, seed=0, **kwargs):
    """torch's layer and ours, built from the same seed (so with the same initial weights)."""
    torch_cls, fused_cls = PAIRS[cell]
    kwargs = {"num_layers": layers, "batch_first": True, **kwargs}
    torch.manual_seed(seed)
    ref = torch_cls(IN, HID, **kwargs)
    torch.manual_seed(seed)
    fused = fused_cls(IN, HID, **kwargs)
    return ref, fused


def run(module, x, h0, dout, dh, input_grad=True):
    """Outputs, final state and the gradients of the input, the initial state and every parameter."""
    x = x.clone().requires_grad_(input_grad)
    h0 = None if h0 is None else h0.clone().requires_grad_()
    module.zero_grad(set_to_none=True)
    out, hn = module(x, h0)
    ((out * dout).sum() + (hn * dh).sum()).backward()
    grads = {name: p.grad for name, p in module.named_parameters()}
    return out, hn, x.grad, None if h0 is None else h0.grad, grads


@pytest.mark.parametrize("cell", ["rnn", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("initial_state", [False, True])
@pytest.mark.parametrize("train", [True, False])
def test_outputs_states_and_gradients_equal_torch(cell, layers, batch, initial_state, train):
    ref, fused = make_pair(cell, layers)
    ref.train(train), fused.train(train)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(batch, T, IN, generator=gen)
    h0 = torch.randn(layers, batch, HID, generator=gen) if initial_state else None
    dout, dh = torch.randn(batch, T, HID, generator=gen), torch.randn(layers, batch, HID, generator=gen)
    expected, got = run(ref, x, h0, dout, dh), run(fused, x, h0, dout, dh)
    for e, g in zip(expected[:4], got[:4]):
        torch.testing.assert_close(g, e)
    assert got[4].keys() == expected[4].keys()
    for name in expected[4]:
        torch.testing.assert_close(got[4][name], expected[4][name], msg=name)


@pytest.mark.parametrize("cell", ["rnn", "gru"])
@pytest.mark.parametrize("batch", [1, 4])
def test_one_hot_input_equals_torch(cell, batch, monkeypatch):
    """One-hot input (the character input) goes through a row lookup instead of the matrix product."""
    ref, fused = make_pair(cell, 2)
    linear_inputs = []
    linear = torch.nn.functional.linear
    monkeypatch.setattr(torch.nn.functional, "linear",
                        lambda x, *a: linear_inputs.append(x.shape) or linear(x, *a))
    gen = torch.Generator().manual_seed(3)
    x = torch.nn.functional.one_hot(torch.randint(IN, (batch, T), generator=gen), IN).float()
    h0 = torch.randn(2, batch, HID, generator=gen)
    dout, dh = torch.randn(batch, T, HID, generator=gen), torch.randn(2, batch, HID, generator=gen)
    expected, got = run(ref, x, h0, dout, dh, input_grad=False), run(fused, x, h0, dout, dh, input_grad=False)
    for e, g in zip(expected[:4], got[:4]):
        torch.testing.assert_close(g, e)
    for name in expected[4]:
        torch.testing.assert_close(got[4][name], expected[4][name], msg=name)
    assert linear_inputs and all(shape[-1] == HID for shape in linear_inputs)  # only the second layer's input


def testone_hot_indices():
    idx = torch.randint(IN, (3, T))
    assert torch.equal(one_hot_indices(torch.nn.functional.one_hot(idx, IN).float()), idx)
    assert one_hot_indices(torch.randn(3, T, IN)) is None
    assert one_hot_indices(torch.nn.functional.one_hot(idx, IN).float().requires_grad_()) is None


@pytest.mark.parametrize("row", [[0.5, 0.5, 0, 0, 0], [2.0, -1.0, 0, 0, 0], [0, 0, 0, 0, 0],
                                 [1.0, 0, 0, 0, 1.0]])
def test_almost_one_hot_input_is_not_taken_for_one_hot(row):
    ref, fused = make_pair("gru", 1)
    x = torch.nn.functional.one_hot(torch.arange(2 * T).remainder(IN).view(2, T), IN).float()
    x[1, 3] = torch.tensor(row)
    with torch.no_grad():
        torch.testing.assert_close(fused(x)[0], ref(x)[0])


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_time_major_relu_and_long_window(cell):
    kwargs = {"batch_first": False} | ({"nonlinearity": "relu"} if cell == "rnn" else {})
    ref, fused = make_pair(cell, 2, **kwargs)
    gen = torch.Generator().manual_seed(2)
    x, h0 = torch.randn(40, 3, IN, generator=gen), torch.randn(2, 3, HID, generator=gen)
    dout, dh = torch.randn(40, 3, HID, generator=gen), torch.randn(2, 3, HID, generator=gen)
    for e, g in zip(run(ref, x, h0, dout, dh)[:4], run(fused, x, h0, dout, dh)[:4]):
        torch.testing.assert_close(g, e)


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_gradcheck_in_double(cell):
    _, fused = make_pair(cell, 2)
    fused.double()
    x = torch.randn(2, 4, IN, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 2, HID, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, h0: fused(x, h0), (x, h0))


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_parameters_and_state_dict_interchangeable(cell):
    ref, fused = make_pair(cell, 2, dropout=0.3)
    assert list(fused.state_dict()) == list(ref.state_dict())
    for (name, p), (ref_name, q) in zip(fused.named_parameters(), ref.named_parameters()):
        assert name == ref_name and p.shape == q.shape
        assert torch.equal(p, q)  # the same initialisation
    torch_cls, fused_cls = PAIRS[cell]
    other = fused_cls(IN, HID, num_layers=2, batch_first=True)
    other.load_state_dict(ref.state_dict())
    back = torch_cls(IN, HID, num_layers=2, batch_first=True)
    back.load_state_dict(other.state_dict())
    x = torch.randn(3, T, IN)
    torch.testing.assert_close(other.eval()(x)[0], ref.eval()(x)[0])


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_packed_input_still_works(cell):
    ref, fused = make_pair(cell, 2)
    x, lengths = torch.randn(3, T, IN), torch.tensor([T, 4, 1])
    h0 = torch.randn(2, 3, HID)
    outs = []
    for module in (ref, fused):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, hn = module(packed, h0)
        outs.append((pad_packed_sequence(out, batch_first=True)[0], hn))
    for e, g in zip(*outs):
        torch.testing.assert_close(g, e)


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_chunk_of_one_and_unbatched_input(cell):
    ref, fused = make_pair(cell, 2)
    x, h0 = torch.randn(2, 1, IN), torch.randn(2, 2, HID)
    dout, dh = torch.randn(2, 1, HID), torch.randn(2, 2, HID)
    for e, g in zip(run(ref, x, h0, dout, dh), run(fused, x, h0, dout, dh)):
        if isinstance(e, dict):
            for name in e:
                torch.testing.assert_close(g[name], e[name])
        else:
            torch.testing.assert_close(g, e)
    single = torch.randn(T, IN)  # no batch dimension: torch's own path
    for e, g in zip(ref(single), fused(single)):
        torch.testing.assert_close(g, e)


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_dropout_between_layers_only_in_training(cell):
    ref, fused = make_pair(cell, 2, dropout=0.5)
    x = torch.randn(2, T, IN)
    ref.eval(), fused.eval()
    torch.testing.assert_close(fused(x)[0], ref(x)[0])
    fused.train()
    with torch.no_grad():
        first, second = fused(x)[0], fused(x)[0]
    assert not torch.allclose(first, second)
    _, one_layer = make_pair(cell, 1)
    one_layer.dropout = 0.5  # torch warns and ignores dropout after the last layer: so do we
    torch.testing.assert_close(one_layer.train()(x)[0], one_layer.eval()(x)[0])


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_no_grad_and_carried_state(cell):
    ref, fused = make_pair(cell, 1)
    x = torch.randn(2, 10, IN)
    with torch.no_grad():
        whole, _ = fused(x)
        first, state = fused(x[:, :4])
        second, _ = fused(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    torch.testing.assert_close(whole, ref(x)[0].detach())


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_wrong_state_shape_raises_like_torch(cell):
    ref, fused = make_pair(cell, 2)
    x, bad = torch.randn(3, T, IN), torch.zeros(2, 4, HID)
    with pytest.raises(RuntimeError, match="Expected hidden size"):
        ref(x, bad)
    with pytest.raises(RuntimeError, match="Expected hidden size"):
        fused(x, bad)


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_short_windows_go_to_torch(cell, monkeypatch):
    monkeypatch.setattr(recurrence, "MIN_STEPS", 16)
    loops = []
    for loop in (recurrence._RNNLoop, recurrence._GRULoop):
        monkeypatch.setattr(loop, "apply", lambda *args, apply=loop.apply: loops.append(1) or apply(*args))
    ref, fused = make_pair(cell, 2)
    for steps, expected_calls in ((15, 0), (16, 2)):
        x = torch.randn(3, steps, IN)
        for e, g in zip(ref(x), fused(x)):
            torch.testing.assert_close(g, e)
        assert len(loops) == expected_calls


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_thread_count_untouched_and_inference_mode(cell):
    torch.set_num_threads(2)
    ref, fused = make_pair(cell, 1)
    x = torch.randn(2, T, IN, requires_grad=True)
    out, _ = fused(x)
    out.sum().backward()
    assert torch.get_num_threads() == 2
    with torch.inference_mode():
        torch.testing.assert_close(fused(x)[0], ref(x)[0])


# --- FusedLSTM (the deterministic mode's LSTM) and the deterministic RNN and GRU -------------------

def make_lstm(layers=1, seed=0, **kwargs):
    kwargs = {"num_layers": layers, "batch_first": True, **kwargs}
    torch.manual_seed(seed)
    ref = nn.LSTM(IN, HID, **kwargs)
    torch.manual_seed(seed)
    return ref, FusedLSTM(IN, HID, **kwargs)


def run_lstm(module, x, state, dout, dh, dc, input_grad=True):
    """Outputs, final (h, c) and the gradients of the input, the initial state and every parameter."""
    x = x.clone().requires_grad_(input_grad)
    state = None if state is None else tuple(s.clone().requires_grad_() for s in state)
    module.zero_grad(set_to_none=True)
    out, (hn, cn) = module(x, state)
    ((out * dout).sum() + (hn * dh).sum() + (cn * dc).sum()).backward()
    grads = {name: p.grad for name, p in module.named_parameters()}
    return [out, hn, cn, x.grad, *([] if state is None else [s.grad for s in state])], grads


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("steps", [1, T])
@pytest.mark.parametrize("initial_state", [False, True])
@pytest.mark.parametrize("one_hot", [False, True])
def test_lstm_outputs_states_and_gradients_equal_torch(layers, batch, steps, initial_state, one_hot):
    ref, fused = make_lstm(layers)
    gen = torch.Generator().manual_seed(1)
    if one_hot:  # the character input: a row lookup instead of the product
        x = torch.nn.functional.one_hot(torch.randint(IN, (batch, steps), generator=gen), IN).float()
    else:
        x = torch.randn(batch, steps, IN, generator=gen)
    state = (torch.randn(layers, batch, HID, generator=gen), torch.randn(layers, batch, HID, generator=gen)) \
        if initial_state else None
    dout, dh, dc = (torch.randn(batch, steps, HID, generator=gen), torch.randn(layers, batch, HID, generator=gen),
                    torch.randn(layers, batch, HID, generator=gen))
    (expected, expected_grads), (got, got_grads) = (run_lstm(m, x, state, dout, dh, dc, not one_hot)
                                                    for m in (ref, fused))
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e)
    assert got_grads.keys() == expected_grads.keys()
    for name in expected_grads:
        torch.testing.assert_close(got_grads[name], expected_grads[name], msg=name)


def test_lstm_gradcheck_in_double_and_time_major_long_window():
    _, fused = make_lstm(2)
    fused.double()
    x = torch.randn(2, 4, IN, dtype=torch.float64, requires_grad=True)
    h0, c0 = (torch.randn(2, 2, HID, dtype=torch.float64, requires_grad=True) for _ in range(2))
    assert torch.autograd.gradcheck(lambda x, h0, c0: (lambda o, s: (o, *s))(*fused(x, (h0, c0))), (x, h0, c0))
    ref, fused = make_lstm(2, batch_first=False)
    x, state = torch.randn(40, 3, IN), (torch.randn(2, 3, HID), torch.randn(2, 3, HID))
    dout, dh, dc = torch.randn(40, 3, HID), torch.randn(2, 3, HID), torch.randn(2, 3, HID)
    for e, g in zip(run_lstm(ref, x, state, dout, dh, dc)[0], run_lstm(fused, x, state, dout, dh, dc)[0]):
        torch.testing.assert_close(g, e)


def test_lstm_parameters_state_dict_dropout_and_carried_state():
    ref, fused = make_lstm(2, dropout=0.3)
    assert list(fused.state_dict()) == list(ref.state_dict())
    for p, q in zip(fused.parameters(), ref.parameters()):
        assert torch.equal(p, q)  # the same initialisation
    x = torch.randn(2, 10, IN)
    ref.eval(), fused.eval()
    with torch.no_grad():
        torch.testing.assert_close(fused(x)[0], ref(x)[0])
        first, state = fused(x[:, :4])
        second, _ = fused(x[:, 4:], state)
        torch.testing.assert_close(torch.cat([first, second], 1), ref(x)[0])
        fused.train()
        assert not torch.allclose(fused(x)[0], fused(x)[0])  # dropout between the layers


def _states(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_deterministic_modules_loop_every_length_and_packed_input(cell, monkeypatch):
    """The deterministic mode never runs torch's own recurrent kernels: one step (sampling), short
    windows and packed primes of different lengths all go through the fused loops, with torch's results."""
    monkeypatch.setattr(recurrence, "MIN_STEPS", 16)
    lstm = cell == "lstm"
    ref, fused = make_lstm(2) if lstm else make_pair(cell, 2)
    fused.deterministic = True
    gen = torch.Generator().manual_seed(4)

    def state():
        h = torch.randn(2, 3, HID, generator=gen)
        return (h, torch.randn(2, 3, HID, generator=gen)) if lstm else h

    x, lengths = torch.randn(3, T, IN, generator=gen), torch.tensor([4, T, 1])
    inputs = [(torch.randn(3, 1, IN, generator=gen), state()), (torch.randn(3, 5, IN, generator=gen), state()),
              (pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False), state())]
    with torch.no_grad():
        expected = [ref(x, s) for x, s in inputs]
    calls = []
    for loop in (recurrence._RNNLoop, recurrence._GRULoop, recurrence._LSTMLoop):
        monkeypatch.setattr(loop, "apply", lambda *args, apply=loop.apply: calls.append(1) or apply(*args))
    for name in ("rnn_tanh", "rnn_relu", "gru", "lstm"):  # torch's layers must not run at all
        monkeypatch.setattr(torch._VF, name, lambda *args, name=name: pytest.fail(f"torch's {name} ran"))
    with torch.no_grad():
        got = [fused(x, s) for x, s in inputs]
    assert len(calls) == 2 + 2 + 2 * 3  # a loop per layer; the packed input: one batch per length
    for (out, hn), (e_out, e_hn) in zip(got, expected):
        if isinstance(out, torch.nn.utils.rnn.PackedSequence):
            out, e_out = (pad_packed_sequence(o, batch_first=True)[0] for o in (out, e_out))
        torch.testing.assert_close(out, e_out)
        for g, e in zip(_states(hn), _states(e_hn)):
            torch.testing.assert_close(g, e)
    with pytest.raises(RuntimeError, match="deterministic"):
        fused(torch.randn(T, IN))  # unbatched input would take torch's path: the mode refuses it
