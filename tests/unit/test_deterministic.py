"""The deterministic mode (train.deterministic): the setting, the process set-up that pins the kernels
(runtime.pin_kernels), and the models and optimizer it chooses. The mode's promise, the same bits on
other CPUs, is tests/e2e/test_golden.py's; here, processes with emulated CPU differences (environment
variables that make torch and MKL choose other kernels) must still train to the same bits."""
from pathlib import Path

import pytest
import torch

from abcrnn.commands.train import build_parser
from abcrnn.errors import AbcrnnError
from abcrnn.models.recurrence import FusedGRU, FusedLSTM, FusedRNN
from abcrnn.models.recurrent import build_model
from abcrnn.settings import RunSettings
from abcrnn.training.train import make_optimizer

ROOT = Path(__file__).resolve().parents[2]
EMULATION = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")


# --- the setting ---------------------------------------------------------------------------------

def test_the_setting_names_the_run_flows_through_flags_and_is_a_trajectory_setting():
    s = RunSettings(deterministic=True)
    assert s.run_name() == "lstm-h150-l1-c200-lr0.01-b32-d0-det"  # never a fast run's folder
    assert RunSettings().run_name() == "lstm-h150-l1-c200-lr0.01-b32-d0"  # fast runs keep their names
    assert RunSettings(unit="token", deterministic=True).run_name().endswith("-token-det")
    assert "--deterministic" in s.to_flags()
    assert "deterministic" not in RunSettings().to_flags()  # fast runs' command lines as before (no reruns)
    for settings in (s, RunSettings()):
        assert RunSettings.from_args(build_parser().parse_args(settings.to_flags().split())) == settings
    assert s.trajectory()["deterministic"] is True  # a resume state of the other mode is not used
    assert "deterministic" in RunSettings.column_keys()
    assert RunSettings.from_dict(s.to_dict()) == s
    with pytest.raises(AbcrnnError, match="deterministic must be true or false"):
        RunSettings.from_dict({"deterministic": "yes"})


def test_results_from_before_the_setting_still_read(tmp_path, trained_run):
    """A resume state and a test.tsv written before `deterministic` existed: the fast mode's."""
    from abcrnn.fileio import read_tsv, write_tsv
    from abcrnn.training.evaluate import TEST_COLUMNS, read_run
    from abcrnn.training.train import load_resume

    identity = {**RunSettings().trajectory(), "data": "x"}
    old = {k: v for k, v in identity.items() if k != "deterministic"}
    torch.save({"identity": old}, tmp_path / "resume.pt")
    assert load_resume(tmp_path / "resume.pt", identity, print) is not None
    assert load_resume(tmp_path / "resume.pt", {**identity, "deterministic": True}, lambda m: None) is None
    run, data = trained_run
    assert main_evaluate(run, data, tmp_path / "test.tsv") == 0
    row = read_tsv(tmp_path / "test.tsv")[0]
    del row["deterministic"]
    write_tsv(tmp_path / "old.tsv", [row], [c for c in TEST_COLUMNS if c != "deterministic"])
    test, _ = read_run(tmp_path / "old.tsv", run / "metrics.tsv")
    assert test["deterministic"] == "False"


def main_evaluate(run, data, out) -> int:
    from abcrnn.commands.cli import main

    return main(["evaluate", "--checkpoint", str(run / "best.pt"), "--data", str(data["test"]), "--out", str(out),
                 "--threads", "1", "--device", "cpu"])


def test_the_mode_refuses_what_it_cannot_pin():
    with pytest.raises(AbcrnnError, match="--deterministic: needs --precision fp32"):
        RunSettings(deterministic=True, precision="bf16")
    with pytest.raises(AbcrnnError, match="--deterministic: needs --optimizer adam or sgd"):
        RunSettings(deterministic=True, optimizer="rmsprop")
    with pytest.raises(AbcrnnError, match="--deterministic: .*CPU mode"):
        RunSettings(deterministic=True, device="cuda")


def test_the_mode_builds_fused_loops_and_fused_adam():
    for model, cls in (("lstm", FusedLSTM), ("rnn", FusedRNN), ("gru", FusedGRU)):
        det = build_model(20, RunSettings(model=model, hidden=8, deterministic=True))
        fast = build_model(20, RunSettings(model=model, hidden=8))
        assert type(det.rnn) is cls and det.rnn.deterministic
        assert not getattr(fast.rnn, "deterministic", False)  # the fast mode: as before
        assert list(det.state_dict()) == list(fast.state_dict())  # checkpoints load into either
    assert type(build_model(20, RunSettings(hidden=8)).rnn) is torch.nn.LSTM
    params = [torch.nn.Parameter(torch.zeros(3))]
    assert make_optimizer("adam", params, 0.1, deterministic=True).defaults["fused"] is True
    assert not make_optimizer("adam", params, 0.1).defaults["fused"]


# --- the process set-up ----------------------------------------------------------------------------


def test_a_cpu_without_avx2_is_refused(monkeypatch):
    from abcrnn import runtime

    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"sse2", "avx"})
    with pytest.raises(AbcrnnError, match="needs an x86-64 CPU with AVX2 and FMA"):
        runtime.pin_kernels()


# --- the same bits under emulated CPU differences -------------------------------------------------


# --- which operations the mode runs ----------------------------------------------------------------

# Operations whose CPU kernels differ by CPU in ways the mode cannot pin: MKL's vector math (torch's
# tanh, exp, log, sqrt ... of tensors: code paths per CPU vendor and level that MKL_CBWR does not
# cover), torch's recurrent kernels (oneDNN's, or the native ones that call that tanh) and oneDNN.
FORBIDDEN = {"tanh", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "erf", "erfc", "erfinv", "sin", "cos",
             "tan", "asin", "acos", "atan", "sinh", "cosh", "sqrt", "lgamma", "lstm", "gru", "rnn_tanh", "rnn_relu",
             "lstm_cell", "gru_cell", "rnn_tanh_cell", "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell"}


def operations(fn) -> set[str]:
    """The ATen operations fn runs (their names without overload), as torch dispatches them."""
    from torch.utils._python_dispatch import TorchDispatchMode

    seen = set()

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.add(func._schema.name.removeprefix("aten::").removesuffix("_"))
            return func(*args, **(kwargs or {}))

    with Record():
        fn()
    return seen


def stages(model: str, deterministic: bool, tiny_data) -> set[str]:
    """The operations of two training steps, a validation pass and sampling from primes of two lengths."""
    from abcrnn.data.vocab import Vocab
    from abcrnn.generation.sample import sample_batch
    from abcrnn.training.train import Trainer

    vocab = Vocab.load(tiny_data["vocab"])
    train, val = (torch.load(tiny_data[s], weights_only=True) for s in ("train", "val"))
    extra = {"context": 20, "heads": 2} if model == "transformer" else {}
    settings = RunSettings(model=model, hidden=8, chunk=20, batch_size=3, deterministic=deterministic, **extra)
    trainer = Trainer(settings, vocab, train[:400], val[:200], torch.device("cpu"), log=lambda m: None)

    def run():
        trainer.step(), trainer.step(), trainer.validate()
        sample_batch(trainer.model, vocab, ["<start>\nX:1\nK:G\n", "<start>\nX:22\nT:A\nK:D\n"], 2, 1.0, 30, 0)

    return operations(run)


@pytest.mark.parametrize("model", ["lstm", "rnn", "gru", "transformer"])
def test_the_mode_runs_no_operation_whose_kernels_differ_by_cpu(model, tiny_data):
    assert stages(model, True, tiny_data) & FORBIDDEN == set()


def test_the_fast_mode_does_run_them(tiny_data):
    """The check above can see them: the fast LSTM (oneDNN) and Adam (sqrt) run them."""
    ops = stages("lstm", False, tiny_data)
    assert "sqrt" in ops and any(op.startswith("mkldnn_rnn") or op == "lstm" for op in ops), sorted(ops)
