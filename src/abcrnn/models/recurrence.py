"""Fast CPU training for the vanilla RNN and the GRU: `FusedRNN` and `FusedGRU`; and `FusedLSTM`, the
deterministic mode's LSTM (see its section below).

On the CPU torch fuses only nn.LSTM (oneDNN's RNN primitive; `aten::mkldnn_rnn_layer` refuses the
tanh-RNN and GRU modes, and there is no other fused RNN or GRU kernel for the CPU). nn.RNN and nn.GRU
run generic per-step composite kernels, several small autograd-recorded ops a step forward and more
backward, which made them slower per character than the LSTM although they compute less.

`FusedRNN` and `FusedGRU` subclass nn.RNN and nn.GRU: the same parameters (names, shapes,
initialisation), so state_dicts and checkpoints are interchangeable. Only `forward` is overridden, for
a plain 3-D tensor of at least MIN_STEPS (16) steps on the CPU (batch_first or not, training and
evaluation); packed sequences and single steps (as sampling uses), unbatched input, bidirectional or
bias-free layers, autocast and other devices go to torch's own implementation. State in and out is
torch's: h of shape (layers, batch, hidden). Dropout goes between layers, in training mode only, as
in torch.

How:

* the input projection of a whole window is one matrix product per layer, x W_ih^T + b, recorded by
  autograd as usual; for a one-hot first-layer input (the character input) the same numbers come from
  a row lookup in W_ih^T + b, which at batch 32 is about 4 times faster, forward and backward, than the
  product with all the zeros (it saved 18% of a GRU training step at batch 32, 1 thread);
* the time loop is a custom autograd.Function. Forward runs a handful of in-place ops per step on
  preallocated buffers (RNN: addmm_, sigmoid_; GRU: addmm_, sigmoid_, addcmul_, sigmoid_, lerp), with
  the per-step views made by one unbind per buffer;
* its hand-written backward walks back through time with 2 (RNN: addmm_, mul_) or 3 (GRU: mul,
  addcmul_, addmm_) ops a step: the elementwise factors of all gate derivatives are computed for the
  whole window at once before the loop, and the weight gradient is ONE matrix product over all steps
  after it, dW_hh = sum_t dpre_t^T h_{t-1};
* tanh is computed as 2 sigmoid(2a) - 1, folded into the recurrence (the loop tracks (h + 1) / 2, see
  the comments): torch's tanh goes through MKL's vector math, which on this CPU took 3 times as long as
  sigmoid at 32x150 and, with 2 threads, about 1 ms instead of 2 us for 150 numbers whenever the other
  core was busy (it enters a parallel region). The results equal torch's to float32 rounding;
* the loops run in inference mode, whose ops skip autograd's bookkeeping (about 10% of a batch-1 step),
  with torch's thread count. Switching to one thread around each loop (torch.set_num_threads, which
  rebuilds thread pools) cost more than it saved, except at batch 32 on a heavily loaded machine.

What is left per step is the price of a torch op called from Python (about 1.3 us, 0.85 us per view)
and MKL's small matrix-vector products (about 7 us for 150x450 on this CPU). That is why at batch 1 the
GRU (8 ops, 13 views and 2 of those products a step) stays slower than oneDNN's LSTM, which runs its
whole loop in C++; the RNN (4 ops, 3 views, 2 products of 150x150) is faster.

The measured rates (`training_rates`) are in the docstring of that function.

The deterministic mode (settings.deterministic, README "Deterministic mode") must not run torch's own
recurrent kernels at all: oneDNN's are compiled for the CPU found, and the native ones compute tanh
with MKL's vector math, whose bits differ by CPU vendor. There build_model sets `deterministic` on the
layer: every length takes the fused loops (MIN_STEPS does not apply), a PackedSequence (sampling's
primes) runs as one plain batch per sequence length (_run_packed), and what the loops cannot take
raises instead of falling back. `FusedLSTM` (nn.LSTM's parameters, the loop `_LSTMLoop`) exists for
this mode only; the fast mode keeps oneDNN's LSTM, unchanged.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

# --- the time loops ------------------------------------------------------------------------------

def _two_u_minus_one(u: torch.Tensor) -> None:
    """u <- 2 u - 1 in place, in one pass."""
    torch.add(u.new_full((), -1.0), u, alpha=2, out=u)


class _RNNLoop(torch.autograd.Function):
    """h_t = act(xp_t + h_{t-1} W_hh^T) for t = 0 .. T-1, xp holding x W_ih^T + b_ih + b_hh.

    xp: (T, B, H) time-major (any strides); h0: (B, H); w_hh: (H, H). Returns out: (T, B, H), contiguous.
    """

    @staticmethod
    def forward(ctx, xp, h0, w_hh, relu: bool):
        out = xp.new_empty(xp.shape)
        if relu:
            out.copy_(xp)
            h, w_t, act = h0, w_hh.t(), torch.relu_
        else:
            # tanh(a) = 2 sigmoid(2a) - 1. In s = (h + 1) / 2 the step is
            # s_t = sigmoid(2 (xp_t - W_hh 1) + s_{t-1} (4 W_hh^T)), and h = 2 s - 1 after the loop.
            torch.add(w_hh.sum(1) * -2, xp, alpha=2, out=out)
            h, w_t, act = (h0 + 1) / 2, w_hh.t() * 4, torch.sigmoid_
        with torch.inference_mode():
            for row in out.unbind(0):
                h = act(row.addmm_(h, w_t))
        if not relu:
            _two_u_minus_one(out)
        ctx.relu = relu
        ctx.save_for_backward(out, h0, w_hh)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        out, h0, w_hh = ctx.saved_tensors
        # the activation's derivative at every step, for the whole window at once
        if ctx.relu:
            dact = (out > 0).to(out.dtype)
        else:
            dact = torch.addcmul(out.new_ones(()), out, out, value=-1)  # 1 - h^2
        # dpre_t = (dout_t + dpre_{t+1} W_hh) * dact_t, built in place over a copy of dout
        dpre = dout.clone(memory_format=torch.contiguous_format)
        rows, facs = dpre.unbind(0), dact.unbind(0)
        rows[-1].mul_(facs[-1])
        with torch.inference_mode():
            for t in range(len(rows) - 1, 0, -1):
                rows[t - 1].addmm_(rows[t], w_hh).mul_(facs[t - 1])
        dh0 = dpre[0] @ w_hh if ctx.needs_input_grad[1] else None
        dw = None
        if ctx.needs_input_grad[2]:  # sum over t of dpre_t^T h_{t-1}
            dw = torch.addmm(dpre[0].t() @ h0, dpre[1:].flatten(0, 1).t(), out[:-1].flatten(0, 1))
        return dpre, dh0, dw, None


class _GRULoop(torch.autograd.Function):
    """torch's GRU recurrence over a window, xp holding x W_ih^T + b_ih (gate order r, z, n):

        r, z = sigmoid(xp_rz + h W_hrz^T + b_hrz),  n = tanh(xp_n + r * (h W_hn^T + b_hn)),
        h' = (1 - z) n + z h = lerp(n, h, z).

    xp: (T, B, 3H) time-major (any strides); h0: (B, H); w_hh: (3H, H); b_hh: (3H,).
    Returns out: (T, B, H), contiguous.
    """

    @staticmethod
    def forward(ctx, xp, h0, w_hh, b_hh):
        T, B, G = xp.shape
        H = G // 3
        # In u = (h + 1) / 2, with tanh(a) = 2 sigmoid(2a) - 1:
        #   gh = h W_hh^T + b_hh = u (2 W_hh^T) + (b_hh - W_hh 1),
        #   s = sigmoid(2 xp_n + 2 r gh_n), n = 2 s - 1,  u' = lerp(s, u, z), h' = 2 u' - 1.
        b, w_t, u = b_hh - w_hh.sum(1), w_hh.t() * 2, (h0 + 1) / 2
        # gh: b (r and z parts plus xp's); each step's matrix product adds into it in place, then the r and z
        # gates replace their pre-activations. Kept for backward: r, z and gh_n.
        gh = xp.new_empty(T, B, G)
        torch.add(xp[..., :2 * H], b[:2 * H], out=gh[..., :2 * H])
        gh[..., 2 * H:] = b[2 * H:]
        # n: starts as 2 xp_n, the step adds 2 r gh_n in place and takes the sigmoid (s)
        n = torch.mul(xp[..., 2 * H:], 2, out=xp.new_empty(T, B, H))
        out = xp.new_empty(T, B, H)
        views = zip(gh.unbind(0), gh[..., :2 * H].unbind(0), gh[..., :H].unbind(0),
                    gh[..., H:2 * H].unbind(0), gh[..., 2 * H:].unbind(0), n.unbind(0), out.unbind(0))
        with torch.inference_mode():
            for gh_t, rz_t, r_t, z_t, ghn_t, s_t, u_t in views:
                gh_t.addmm_(u, w_t)
                rz_t.sigmoid_()
                s_t.addcmul_(r_t, ghn_t, value=2).sigmoid_()
                u = torch.lerp(s_t, u, z_t, out=u_t)
        _two_u_minus_one(out)
        _two_u_minus_one(n)
        ctx.save_for_backward(out, h0, w_hh, gh, n)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        out, h0, w_hh, gh, n = ctx.saved_tensors
        T, B, H = out.shape
        r, z, ghn = gh[..., :H], gh[..., H:2 * H], gh[..., 2 * H:]
        # With dh_t the gradient reaching h_t, the gradient of gh_t = h_{t-1} W_hh^T + b_hh is
        # dh_t * [c_r, c_z, c_n] (dh_t the same for each gate), its factors known for all steps at once:
        #   c_a = (1 - z)(1 - n^2) (at tanh's input),  c_n = c_a r,
        #   c_r = c_a gh_n r (1 - r) = (c_n - c_n r) gh_n,  c_z = (h_{t-1} - n) z (1 - z);
        # and dh_{t-1} = dout_{t-1} + dh_t z_t + dgh_t W_hh.
        coef = out.new_empty(T, B, 3 * H)
        c_r, c_z, c_n = coef[..., :H], coef[..., H:2 * H], coef[..., 2 * H:]
        one_minus_z = torch.rsub(z, 1)
        c_a = torch.addcmul(out.new_ones(()), n, n, value=-1).mul_(one_minus_z)
        torch.mul(c_a, r, out=c_n)
        torch.addcmul(c_n, c_n, r, value=-1, out=c_r).mul_(ghn)
        torch.sub(out[:-1], n[1:], out=c_z[1:])
        torch.sub(h0, n[0], out=c_z[0])
        c_z.mul_(z).mul_(one_minus_z)
        dgh = out.new_empty(T, B, 3 * H)
        dh = dout.clone(memory_format=torch.contiguous_format)
        coef_l, dgh_l, dgh3_l = coef.view(T, B, 3, H).unbind(0), dgh.unbind(0), dgh.view(T, B, 3, H).unbind(0)
        dh_l, dh1_l, z_l = dh.unbind(0), dh.unsqueeze(2).unbind(0), z.unbind(0)
        with torch.inference_mode():
            for t in range(T - 1, 0, -1):
                torch.mul(coef_l[t], dh1_l[t], out=dgh3_l[t])
                dh_l[t - 1].addcmul_(dh_l[t], z_l[t]).addmm_(dgh_l[t], w_hh)
        torch.mul(coef_l[0], dh1_l[0], out=dgh3_l[0])
        dh0 = torch.addcmul(dgh[0] @ w_hh, dh[0], z[0]) if ctx.needs_input_grad[1] else None
        dw = db = None
        if ctx.needs_input_grad[2]:  # sum over t of dgh_t^T h_{t-1}
            dw = torch.addmm(dgh[0].t() @ h0, dgh[1:].flatten(0, 1).t(), out[:-1].flatten(0, 1))
        if ctx.needs_input_grad[3]:
            db = dgh.sum((0, 1))
        # the input projection's gradient: r and z as gh's, n without the factor r
        torch.mul(dh, c_a, out=dgh[..., 2 * H:])
        return dgh, dh0, dw, db


class _LSTMLoop(torch.autograd.Function):
    """torch's LSTM recurrence over a window, xp holding x W_ih^T + b_ih + b_hh (gate order i, f, g, o):

        i, f, o = sigmoid(.), g = tanh(.) of xp + h W_hh^T,  c' = f c + i g,  h' = o tanh(c').

    xp: (T, B, 4H) time-major (any strides); h0, c0: (B, H); w_hh: (4H, H). Returns (out, c_T): the
    hidden states (T, B, H), contiguous, and the last cell state (B, H).

    Written for the deterministic mode (FusedLSTM), where nn.LSTM cannot run: its oneDNN kernel and
    its native one (MKL's vector tanh) compute different bits on different CPUs. Both tanh are
    2 sigmoid(2a) - 1: the g rows of xp and W_hh are doubled (exactly: a power of two), so one sigmoid_
    covers all four gates of a step.
    """

    @staticmethod
    def forward(ctx, xp, h0, c0, w_hh):
        T, B, G = xp.shape
        H = G // 4
        # gates: the pre-activations (g rows doubled), activated in place step by step: i, f, g, o
        gates = xp.new_empty(T, B, G)
        gates.copy_(xp)
        gates[..., 2 * H:3 * H].mul_(2)
        w_t = w_hh.t().clone()
        w_t[:, 2 * H:3 * H].mul_(2)
        cs, ks, out = xp.new_empty(T, B, H), xp.new_empty(T, B, H), xp.new_empty(T, B, H)
        four = gates.view(T, B, 4, H)
        views = zip(gates.unbind(0), four[:, :, 0].unbind(0), four[:, :, 1].unbind(0), four[:, :, 2].unbind(0),
                    four[:, :, 3].unbind(0), cs.unbind(0), ks.unbind(0), out.unbind(0))
        h, c = h0, c0
        with torch.inference_mode():
            for a_t, i_t, f_t, g_t, o_t, c_t, k_t, h_t in views:
                a_t.addmm_(h, w_t).sigmoid_()
                _two_u_minus_one(g_t)                                  # g = tanh
                c = torch.mul(f_t, c, out=c_t).addcmul_(i_t, g_t)      # c' = f c + i g
                torch.mul(c, 2, out=k_t).sigmoid_()
                _two_u_minus_one(k_t)                                  # k = tanh(c')
                h = torch.mul(o_t, k_t, out=h_t)                       # h' = o k
        ctx.save_for_backward(gates, cs, ks, out, h0, c0, w_hh)
        return out, cs[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dcT):
        gates, cs, ks, out, h0, c0, w_hh = ctx.saved_tensors
        T, B, H = out.shape
        four = gates.view(T, B, 4, H)
        i, f, g, o = four.unbind(2)
        # Window-wide factors: with dc_t the gradient reaching c_t (through h_t and c_{t+1}) and dh_t h_t's,
        #   dpre_{i,f,g} = dc_t * [g i(1-i), c_{t-1} f(1-f), i (1-g^2)],  dpre_o = dh_t * k o(1-o),
        #   dc_t = dc_{t+1} f_{t+1} + dh_t o (1-k^2),  dh_{t-1} = dout_{t-1} + dpre_t W_hh.
        coef = gates.new_empty(T, B, 3, H)
        c_prev = torch.cat([c0[None], cs[:-1]])
        torch.mul(g, i, out=coef[:, :, 0]).mul_(torch.rsub(i, 1))
        torch.mul(c_prev, f, out=coef[:, :, 1]).mul_(torch.rsub(f, 1))
        torch.mul(i, torch.addcmul(g.new_ones(()), g, g, value=-1), out=coef[:, :, 2])
        coef_o = torch.mul(ks, o).mul_(torch.rsub(o, 1))
        o_dk = torch.addcmul(ks.new_ones(()), ks, ks, value=-1).mul_(o)       # o (1 - k^2)
        dpre = gates.new_empty(T, B, 4, H)
        dh = dout.clone(memory_format=torch.contiguous_format)
        dc = dcT.clone() if dcT is not None else c0.new_zeros(B, H)
        dpre_l, dpre3_l, dpreo_l = dpre.view(T, B, 4 * H).unbind(0), dpre[:, :, :3].unbind(0), dpre[:, :, 3].unbind(0)
        views = zip(dh.unbind(0), coef.unbind(0), coef_o.unbind(0), o_dk.unbind(0), f.unbind(0))
        with torch.inference_mode():
            for t, (dh_t, coef_t, coefo_t, odk_t, f_t) in reversed(list(enumerate(views))):
                if t < T - 1:
                    dh_t.addmm_(dpre_l[t + 1], w_hh)
                dc.addcmul_(dh_t, odk_t)
                torch.mul(coef_t, dc.unsqueeze(1), out=dpre3_l[t])
                torch.mul(dh_t, coefo_t, out=dpreo_l[t])
                dc.mul_(f_t)
        dpre = dpre.view(T, B, 4 * H)
        dh0 = dpre[0] @ w_hh if ctx.needs_input_grad[1] else None
        dw = None
        if ctx.needs_input_grad[3]:  # sum over t of dpre_t^T h_{t-1}
            dw = torch.addmm(dpre[0].t() @ h0, dpre[1:].flatten(0, 1).t(), out[:-1].flatten(0, 1))
        return dpre, dh0, dc if ctx.needs_input_grad[2] else None, dw


# --- the modules ---------------------------------------------------------------------------------

# Shorter windows (sampling's one step at a time) go to torch's implementation: the fast path's setup
# per call and layer (about 0.15 ms at batch 1, 1 thread) outweighs what it saves on a few steps. With
# gradients it broke even at 4-8 steps, in inference at 8-30.
MIN_STEPS = 16


def _fast_path_applies(module: nn.RNNBase, input) -> bool:
    """Whether `input` goes through the fused loops. Deterministic modules (`module.deterministic`)
    take every length, since torch's implementation is what they must not run, and refuse what the
    loops cannot take; a PackedSequence they run themselves (_run_packed)."""
    applies = (isinstance(input, torch.Tensor) and input.dim() == 3 and input.device.type == "cpu"
               and input.size(1 if module.batch_first else 0) >= (1 if module.deterministic else MIN_STEPS)
               and input.size(0 if module.batch_first else 1) > 0
               and module.bias and not module.bidirectional and module.proj_size == 0
               and not torch.is_autocast_enabled("cpu"))
    if module.deterministic and not applies and not isinstance(input, PackedSequence):
        raise RuntimeError(f"deterministic {type(module).__name__}: takes a 3-D CPU tensor of at least one step "
                           "(or a PackedSequence) with biases, one direction, no projection and no autocast")
    return applies


def one_hot_indices(x: torch.Tensor) -> torch.Tensor | None:
    """The indices of the ones if every row of x (along the last axis) is one-hot, else None."""
    if x.requires_grad or not x.is_floating_point() or x.size(-1) < 2:
        return None
    if int(x.count_nonzero()) != x.numel() // x.size(-1) or not bool((x.sum(-1) == 1).all()):
        return None  # each row has one nonzero summing to 1: it is 1
    return x.argmax(-1)


def _input_projection(xs: torch.Tensor, w_ih: torch.Tensor, bias: torch.Tensor, first: bool) -> torch.Tensor:
    """xs W_ih^T + bias. For the first layer's input, when it is one-hot (the character input), the same
    numbers come from a row lookup in W_ih^T + bias: forward and backward about 4 times faster than the
    matrix product, which multiplies by all the zeros (batch 32, chunk 200, one-hot 90 to 450)."""
    idx = one_hot_indices(xs) if first else None
    if idx is None:
        return F.linear(xs, w_ih, bias)
    return (w_ih.t() + bias).index_select(0, idx.flatten()).view(*idx.shape, -1)


def _run_layers(module: nn.RNNBase, input: torch.Tensor, hx, layer_fn):
    """(output, h_n) of module's layers, `layer_fn(weights, xs, state0, first) -> (out, extra)` running
    one layer over xs (time-major) from its initial state; checks and conventions as nn.RNN's, nn.GRU's
    and nn.LSTM's. For an LSTM hx and the returned state are (h, c) and extra is the layer's last c."""
    lstm = isinstance(module, nn.LSTM)
    batch = input.size(0) if module.batch_first else input.size(1)
    if hx is None:
        zeros = input.new_zeros(module.num_layers, batch, module.hidden_size)
        hx = (zeros, zeros) if lstm else zeros
    elif any(h.dim() != 3 for h in (hx if lstm else (hx,))):
        raise RuntimeError(f"For batched 3-D input, hx should also be 3-D but got "
                           f"{next(h.dim() for h in (hx if lstm else (hx,)) if h.dim() != 3)}-D tensor")
    module.check_forward_args(input, hx, None)
    xs = input.transpose(0, 1) if module.batch_first else input
    finals, cells = [], []
    for layer in range(module.num_layers):
        if layer > 0 and module.dropout > 0 and module.training:
            xs = F.dropout(xs, module.dropout, training=True)
        weights = [getattr(module, f"{name}_l{layer}")
                   for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        state0 = (hx[0][layer], hx[1][layer]) if lstm else hx[layer]
        xs, extra = layer_fn(weights, xs, state0, layer == 0)
        finals.append(xs[-1])
        cells.append(extra)
    out = xs.transpose(0, 1) if module.batch_first else xs
    return out, ((torch.stack(finals), torch.stack(cells)) if lstm else torch.stack(finals))


def _run_packed(module: nn.RNNBase, input: PackedSequence, hx):
    """A PackedSequence through the fused loops (deterministic modules), the sequences of each length
    together as a plain batch. As torch's layers: hx and the returned state (after each sequence's
    last step) in the order of the sequences before packing, the output packed."""
    lstm = isinstance(module, nn.LSTM)
    padded, lengths = pad_packed_sequence(input, batch_first=True)  # in the order before packing
    out = padded.new_zeros(*padded.shape[:2], module.hidden_size)
    states = [padded.new_zeros(module.num_layers, len(lengths), module.hidden_size) for _ in range(1 + lstm)]
    for length in sorted(set(lengths.tolist())):
        rows = (lengths == length).nonzero().squeeze(1)
        x = padded[rows, :length]
        h0 = None if hx is None else (tuple(h[:, rows] for h in hx) if lstm else hx[:, rows])
        y, state = module(x if module.batch_first else x.transpose(0, 1), h0)
        out[rows, :length] = y if module.batch_first else y.transpose(0, 1)
        for full, part in zip(states, state if lstm else (state,)):
            full[:, rows] = part
    packed = pack_padded_sequence(out if module.batch_first else out.transpose(0, 1), lengths,
                                  batch_first=module.batch_first, enforce_sorted=False)
    return packed, (tuple(states) if lstm else states[0])


class FusedRNN(nn.RNN):
    """nn.RNN (tanh or relu) with a fast CPU forward and backward; parameters identical to nn.RNN's."""

    deterministic = False  # True (build_model, deterministic mode): the fused loops for every input

    def forward(self, input, hx=None):
        if not _fast_path_applies(self, input):
            if self.deterministic:
                return _run_packed(self, input, hx)
            return super().forward(input, hx)
        relu = self.nonlinearity == "relu"

        def layer(weights, xs, h0, first):
            w_ih, w_hh, b_ih, b_hh = weights
            return _RNNLoop.apply(_input_projection(xs, w_ih, b_ih + b_hh, first), h0, w_hh, relu), None

        return _run_layers(self, input, hx, layer)


class FusedGRU(nn.GRU):
    """nn.GRU with a fast CPU forward and backward; parameters identical to nn.GRU's."""

    deterministic = False  # True (build_model, deterministic mode): the fused loops for every input

    def forward(self, input, hx=None):
        if not _fast_path_applies(self, input):
            if self.deterministic:
                return _run_packed(self, input, hx)
            return super().forward(input, hx)

        def layer(weights, xs, h0, first):
            w_ih, w_hh, b_ih, b_hh = weights
            return _GRULoop.apply(_input_projection(xs, w_ih, b_ih, first), h0, w_hh, b_hh), None

        return _run_layers(self, input, hx, layer)


class FusedLSTM(nn.LSTM):
    """nn.LSTM through _LSTMLoop for every input: the deterministic mode's LSTM (build_model), since
    torch's LSTM runs kernels that differ by CPU (oneDNN's, or MKL's vector tanh without it). Parameters
    identical to nn.LSTM's, so checkpoints of either load into the other. In a fast-mode process it
    trained about as fast as oneDNN's kernel (1 thread, batch 32: 37.9k against 35.4k chars/s); the
    deterministic mode's cost is MKL's reproducible matrix products (README, "Deterministic mode")."""

    deterministic = True

    def forward(self, input, hx=None):
        if not _fast_path_applies(self, input):
            return _run_packed(self, input, hx)

        def layer(weights, xs, state0, first):
            w_ih, w_hh, b_ih, b_hh = weights
            return _LSTMLoop.apply(_input_projection(xs, w_ih, b_ih + b_hh, first), *state0, w_hh)

        return _run_layers(self, input, hx, layer)
