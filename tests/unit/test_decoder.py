"""Masks for grammar-aware sampling (generation/constrain/decoder.py) over real vocabularies."""
import random

import pytest
import torch

from abcrnn.data.vocab import Vocab
from abcrnn.generation.constrain.decoder import Decoder
from abcrnn.generation.constrain.forms import PlanBook
from abcrnn.notation.bars import bar_check
from abcrnn.notation.defects import defects
from abcrnn.notation.melody import read_melody
from abcrnn.notation.tunes import END, START, join_tagged, split_tagged

HEADER = "X:1\nT:Test\nR:reel\nM:C|\nL:1/8\nK:D\n"


@pytest.fixture(scope="module")
def tunes(root):
    from abcrnn.data.sources import read_sources

    return [t.text for result in read_sources([str(root / "tests" / "data" / "tiny")], "strip") for t in result.tunes]


@pytest.fixture(scope="module", params=["char", "token"])
def vocab(request, tunes):
    return Vocab.build(join_tagged(tunes), tags="token", unit=request.param, min_count=1)


def write(decoder: Decoder, vocab: Vocab, n: int, seed: int, limit: int = 3000) -> list[str]:
    """Tunes written by choosing uniformly among the allowed symbols (as a model that knows nothing
    would, at a high temperature), every step checked."""
    rng = random.Random(seed)
    texts = [""] * n
    for _ in range(limit):
        mask = decoder.mask()
        assert not mask[:, 0].any()  # <unk> is never written
        choice = []
        for k in range(n):
            ids = torch.nonzero(mask[k]).flatten().tolist()
            assert ids
            prefer = [i for i in ids if vocab.symbols[i][:1] in ("\n", "<", "|", ":", ")")] if len(texts[k]) > 200 else []
            choice.append(rng.choice(prefer or ids))
        decoder.advance(choice)
        for k, i in enumerate(choice):
            if not texts[k].endswith(END):
                texts[k] += vocab.symbols[i]
        if all(t.endswith(END) for t in texts):
            break
    assert decoder.fallbacks == [0] * n
    return texts


@pytest.mark.parametrize("level", ["abc", "meter", "form"])
def test_every_tune_written_within_the_masks_is_valid(vocab, tunes, level):
    book = PlanBook(tunes)
    decoder = Decoder(vocab.symbols, [f"{START}\n{HEADER}"] * 3, level, lambda k, header: book.draw(header, k))
    for text in write(decoder, vocab, 3, seed=len(vocab)):
        assert text.endswith(END), text
        tune = HEADER + text[: -len(END)]
        assert not defects(tune).any, tune
        if level != "abc":
            assert bar_check(tune)[1] == 1.0, tune
        if level == "form":
            assert read_melody(tune).ends_on_tonic(), tune
    if level == "form":
        assert all(decoder.plans), "a reel's header gets a plan of the tiny corpus's reels"


def test_the_header_is_free_and_a_stream_past_its_end_is_left_alone(vocab):
    decoder = Decoder(vocab.symbols, [f"{START}\nX:1\nT:", f"{START}\n{HEADER}|:A8:|\n{END}"], "meter")
    mask = decoder.mask()
    assert mask[0, 1:].all() and mask[1, 1:].all()


def test_the_tune_ends_with_the_end_symbol_only(vocab):
    # "<", "e", "n", "d", ">" are symbols too: spelled in pieces, <end> ended the reader but not the
    # sampler, which wrote on to max_chars (found in the best preset's samples)
    decoder = Decoder(vocab.symbols, [f"{START}\n{HEADER}|:A8:|\n"], "abc")
    allowed = [vocab.symbols[i] for i in torch.nonzero(decoder.mask()[0]).flatten().tolist()]
    assert "<" in vocab.symbols and END in allowed
    assert [s for s in allowed if s.startswith("<")] == [END]


def test_masks_equal_a_reading_of_every_symbol_in_full(vocab, tunes):
    """The shortcut (note letters of a case tried once where pitch does not matter) changes no mask."""
    decoder = Decoder(vocab.symbols, [f"{START}\n{HEADER}"], "meter")
    body = split_tagged(join_tagged(tunes))[0].split("K:", 1)[1].split("\n", 1)[1][:120]
    stream = decoder.streams[0]
    for c in body:
        if not stream.reader.copy().step(c):
            break
        row = decoder._row(stream.reader)
        full = [i > 0 and stream.reader.copy().feed(s) for i, s in enumerate(decoder.texts)]
        assert row.tolist() == full
        decoder._feed(0, stream, c)
