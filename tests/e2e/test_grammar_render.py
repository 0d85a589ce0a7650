"""Grammar-aware decoding checked against the renderers themselves: what a trained model writes under
`abc`, `meter` and `form`, and what a writer choosing at random among the allowed symbols writes,
goes through abc2midi and abcm2ps with no error in the part that was written."""

import random
import shutil
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from abcrnn.data.vocab import Vocab
from abcrnn.generation.constrain.decoder import Decoder
from abcrnn.generation.constrain.forms import PlanBook
from abcrnn.generation.render import Settings, render_tune
from abcrnn.generation.sample import sample_batch
from abcrnn.models.checkpoint import load_checkpoint
from abcrnn.notation.bars import bar_check
from abcrnn.notation.defects import defects
from abcrnn.notation.melody import read_melody
from abcrnn.notation.tunes import END, START, join_tagged

pytestmark = pytest.mark.skipif(not (shutil.which("abc2midi") and shutil.which("abcm2ps")),
                                reason="abc2midi/abcm2ps not installed (make setup installs them)")
JIG = "X:1\nT:Test Jig\nR:jig\nM:6/8\nL:1/8\nK:G\n"
REEL = "X:2\nT:Test Reel\nR:reel\nM:C|\nL:1/8\nK:D\n"


@pytest.fixture(scope="module")
def real_tunes(root):
    from abcrnn.data.sources import read_sources

    return [t.text for r in read_sources([str(root / "tests" / "data" / "tiny")], "strip") for t in r.tunes]


def rendered(tune: str, folder: Path, name: str):
    path = folder / f"{name}.abc"
    path.write_text(tune + "\n", encoding="utf-8")
    return render_tune(path, Settings(midi=True, score=True), folder / "out")


def check(tune: str, level: str, folder: Path, name: str) -> None:
    result = rendered(tune, folder, name)
    assert result.body_errors == 0 and result.midi_ok, f"{result.message}\n{tune}"
    assert not defects(tune).any, tune
    if level != "abc":
        judged, share = bar_check(tune)
        assert judged and share == 1.0, tune  # no overfull (nor short) bar
    if level == "form":
        melody = read_melody(tune)
        assert melody.ends_on_tonic() and melody.final_complete(), tune


@pytest.mark.parametrize("level", ["abc", "meter", "form"])
def test_a_trained_models_constrained_tunes_render_without_errors(trained_run, tmp_path, level):
    folder, data = trained_run
    model, vocab, _ = load_checkpoint(folder / "best.pt", torch.device("cpu"))
    book = PlanBook([JIG + "|:GAB c2d|e2f g2e|dcB A2G|F2G A3:|\n|:dfa afd|cea aec|dfa afd|e2c d3:|"])
    texts = sample_batch(model, vocab, f"{START}\n{JIG}", 6, 1.5, 1200, seed=3, constrain=level,
                         plan_for=lambda k, header: book.draw(header, k), stats=(stats := {}))
    assert stats["fallbacks"] == [0] * 6
    for k, text in enumerate(texts):
        assert text.endswith(END), text
        check(text[len(START) + 1 : -len(END)].rstrip("\n"), level, tmp_path, f"{level}{k}")


@settings(max_examples=8, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10**6), level=st.sampled_from(["abc", "meter", "form"]),
       unit=st.sampled_from(["char", "token"]), header=st.sampled_from([JIG, REEL]))
def test_random_allowed_symbols_render_without_errors(real_tunes, tmp_path_factory, seed, level, unit, header):
    vocab = Vocab.build(join_tagged(real_tunes), tags="token", unit=unit, min_count=1)
    book = PlanBook(real_tunes)
    decoder = Decoder(vocab.symbols, [f"{START}\n{header}"], level, lambda k, h: book.draw(h, seed))
    rng, text = random.Random(seed), ""
    for _ in range(4000):
        ids = torch.nonzero(decoder.mask()[0]).flatten().tolist()
        late = [i for i in ids if vocab.symbols[i][:1] in ("\n", "<", "|", ":", ")")] if len(text) > 250 else []
        choice = rng.choice(late or ids)
        decoder.advance([choice])
        text += vocab.symbols[choice]
        if text.endswith(END):
            break
    assert text.endswith(END) and decoder.fallbacks == [0]
    check(header + text[: -len(END)].rstrip("\n"), level, tmp_path_factory.mktemp("walk"), "walk")
