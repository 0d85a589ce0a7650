"""Generating tunes from a trained model: temperature, argmax, top-k and nucleus sampling.

All samples advance together, one forward step for every stream per character. Each sample draws its
random numbers from its own generator seeded with `seed + i`, so sample i is the same text whether it
is generated alone or among others. Priming follows the paper: the header of a test-set tune.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from abcrnn.notation.tunes import END, START, header_text, split_tagged
from abcrnn.labels import temperature_label
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import claim_folder, write_text, write_tsv
from abcrnn.labels import CONSTRAINTS
from abcrnn.labels import number_width
from abcrnn.labels import parse_temperature

PRIME_MODES = ("test-header", "start")
# masked: the mean probability per step that grammar-aware decoding took away; plan: the form plan
# Under grammar-aware decoding, a tune this many characters short of max_chars ends at its next bar line
# (the bar completes, open repeats close): room for a bar of sixteenths, a second ending and <end>.
CLOSING = 160
SAMPLE_COLUMNS = ["n", "file", "seed", "temperature", "constrain", "fallbacks", "masked", "plan", "ended", "chars",
                  "prime"]


# --- sampling ---------------------------------------------------------------------------------


def check_options(n: int, max_chars: int, top_k: int, top_p: float) -> None:
    if n < 1:
        raise AbcrnnError(f"--num: must be at least 1, got {n}")
    if max_chars < 1:
        raise AbcrnnError(f"--max-chars: must be at least 1, got {max_chars}")
    if top_k < 0:
        raise AbcrnnError(f"--top-k: must be 0 (off) or positive, got {top_k}")
    if not 0 < top_p <= 1:
        raise AbcrnnError(f"--top-p: must be in (0, 1] (1 = off), got {top_p}")


def _choose(logits: torch.Tensor, temperature: float | str, top_k: int, top_p: float,
            u: torch.Tensor) -> torch.Tensor:
    """Next symbol per stream from logits (n, V), using the uniform draws u (n,) for sampling.

    Inverse-CDF sampling with pre-drawn numbers keeps each stream's choice independent of the
    other streams in the batch.
    """
    logits = logits.double()
    logits[:, 0] = float("-inf")  # never emit <unk>
    if temperature == "argmax":
        return logits.argmax(-1)
    logits = logits / temperature
    if top_k:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = F.softmax(logits, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True, stable=True)
        before = sorted_p.cumsum(-1) - sorted_p  # mass of the more likely symbols
        sorted_p = sorted_p.masked_fill(before >= top_p, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    cdf = probs.cumsum(-1)
    total = cdf[:, -1:]
    v = torch.minimum(u.to(cdf)[:, None] * total, torch.nextafter(total, torch.zeros_like(total)))
    return torch.searchsorted(cdf, v, right=True).squeeze(1).clamp_(max=probs.shape[-1] - 1)


def _end_ids(vocab) -> torch.Tensor | None:
    """Symbol ids that spell <end> (one id in token mode, five in chars mode); None if absent."""
    ids = vocab.encode(END)
    return None if 0 in ids else torch.tensor(ids, dtype=torch.long)


@torch.inference_mode()
def sample_batch(model, vocab, prime: str | list[str], n: int, temperature: float | str, max_chars: int,
                 seed: int, top_k: int = 0, top_p: float = 1.0, device="cpu", progress: bool = False,
                 constrain: str = "none", stats: dict | None = None, plan_for=None) -> list[str]:
    """Generate n samples together; each is its prime plus the continuation.

    A sample stops when its text ends with <end> or when its generated text reaches max_chars
    characters (a token model's symbols spell several; one that would pass max_chars is left out). Sample i
    uses seed + i, so it does not depend on n. `prime` is one text for all or a list of n texts.
    constrain "abc", "meter" or "form": grammar-aware decoding (constrain.decoder.Decoder masks every
    symbol after which the tune could no longer be completed into a valid one, at that strength;
    `plan_for(i, header)` gives sample i its form plan under "form"). The model's probabilities
    are renormalised over the allowed symbols. `stats` then gets, per sample: "fallbacks", how often
    no symbol was allowed (all were); "masked", the mean probability per step the mask took away
    (at the sampling temperature: a high share means the model wanted what the grammar forbids);
    "plans", each sample's form plan ('' without one).
    """
    if constrain not in CONSTRAINTS:
        raise AbcrnnError(f"--constrain: must be one of {', '.join(CONSTRAINTS)}, got {constrain!r}")
    check_options(n, max_chars, top_k, top_p)
    temperature = parse_temperature(temperature)
    primes = [prime] * n if isinstance(prime, str) else list(prime)
    if len(primes) != n:
        raise AbcrnnError(f"prime: got {len(primes)} prime texts for {n} samples")
    prime_ids = [vocab.encode(p) for p in primes]
    if any(not ids for ids in prime_ids):
        raise AbcrnnError("prime: must not be empty (use the 'start' prime for just <start>)")
    draws = torch.stack([torch.rand(max_chars, generator=torch.Generator().manual_seed(seed + i),
                                    dtype=torch.float64) for i in range(n)])
    end_ids = _end_ids(vocab)
    width = 0 if end_ids is None else len(end_ids)
    generated = torch.zeros(n, max_chars, dtype=torch.long)
    lengths = torch.full((n,), max_chars, dtype=torch.long)
    done = torch.zeros(n, dtype=torch.bool)
    symbol_chars = torch.tensor(vocab.symbol_lengths(), dtype=torch.long)  # characters each symbol spells
    chars = torch.zeros(n, dtype=torch.long)  # characters generated per sample
    was_training = model.training
    model.eval()  # no dropout while sampling; the caller's mode is restored below
    decoder = None
    removed = torch.zeros(n, dtype=torch.float64)  # probability the mask took away, summed over steps
    masked_steps = torch.zeros(n, dtype=torch.float64)
    if constrain != "none":
        from abcrnn.generation.constrain.decoder import Decoder

        decoder = Decoder(vocab.symbols, primes, constrain, plan_for)
    try:
        logits, state = model.start(prime_ids, device)
        steps = tqdm(range(max_chars), desc="sampling", unit="char", disable=None if progress else True,
                     file=sys.stderr)
        for t in steps:
            if decoder is not None:
                allowed = decoder.mask().to(logits.device)
                scale = 1.0 if temperature == "argmax" else temperature
                probs = F.softmax(logits.double()[:, 1:] / scale, dim=-1)  # (<unk> is never written)
                lost = (probs * ~allowed[:, 1:]).sum(-1).cpu()
                removed += torch.where(done, 0.0, lost)
                masked_steps += (~done).double()
                logits = logits.masked_fill(~allowed, float("-inf"))
            token = _choose(logits, temperature, top_k, top_p, draws[:, t]).cpu()
            if decoder is not None:
                decoder.advance(token)
                for k in torch.nonzero(chars + symbol_chars[token] >= max_chars - CLOSING).flatten().tolist():
                    decoder.close(k)
            generated[:, t] = token
            chars += symbol_chars[token]
            over = (chars > max_chars) & ~done  # this symbol passes max_chars: the sample stops before it
            lengths[over] = t
            done |= over
            if width and t + 1 >= width:
                ended = (generated[:, t + 1 - width : t + 1] == end_ids).all(1) & ~done
                lengths[ended] = t + 1
                done |= ended
                if done.all():
                    break
            full = (chars >= max_chars) & ~done
            lengths[full] = t + 1
            done |= full
            if done.all():
                break
            logits, state = model.advance(token.to(device), state)
    finally:
        model.train(was_training)
    if stats is not None:
        stats["fallbacks"] = decoder.fallbacks if decoder is not None else [0] * n
        stats["masked"] = (removed / masked_steps.clamp(min=1)).tolist()
        stats["plans"] = decoder.plans if decoder is not None else [""] * n
    return [p + vocab.decode(generated[i, : lengths[i]].tolist()) for i, p in enumerate(primes)]


# --- samples as tunes -------------------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    text: str        # prime + generated text, as the model wrote it
    tune: str        # the tune without <start>/<end>
    ended: bool      # reached <end> before max_chars
    chars: int       # generated characters (the prime not counted)


def split_sample(text: str, prime: str) -> Sample:
    """The tune in one generated text; a text cut off at max_chars still gives its tune."""
    generated = len(text) - len(prime)
    tunes = split_tagged(text)
    if tunes and text.rstrip().endswith(END):
        return Sample(text, tunes[0].strip("\n"), True, generated)
    tune = text[text.index(START) + len(START):] if START in text else text
    return Sample(text, tune.strip("\n"), False, generated)


def make_primes(mode: str, n: int, seed: int, test_path: str | Path | None = None) -> list[str]:
    """The prime of each sample: a test-set tune's header (chosen with the sample's seed), just
    <start>, or the user's text (\\n escapes allowed) after <start>."""
    if mode == "start":
        return [f"{START}\n"] * n
    if mode == "test-header":
        headers = _test_headers(test_path)
        return [f"{START}\n{headers[random.Random(seed + i).randrange(len(headers))]}\n" for i in range(n)]
    text = mode.replace("\\n", "\n")
    if END in text:
        raise AbcrnnError(f"--prime: holds {END}, which ends a tune; a prime is the start of one (sample.prime)")
    if not text.startswith(START):
        text = f"{START}\n{text}"
    return [text] * n


def _test_headers(test_path) -> list[str]:
    if test_path is None:
        raise AbcrnnError("--prime test-header needs --test (the test split, e.g. results/data/test.txt)")
    try:
        text = Path(test_path).read_text(encoding="utf-8")
    except OSError as exc:
        raise AbcrnnError(f"{test_path}: cannot read the test split ({exc.strerror})") from None
    headers = [h for h in map(header_text, split_tagged(text)) if h]
    if not headers:
        raise AbcrnnError(f"{test_path}: no <start>…<end> tune with a K: line to take a header from")
    return headers


# --- files --------------------------------------------------------------------------------------


def raw_block(n: int, width: int, seed: int, temperature, sample: Sample) -> str:
    status = "ended" if sample.ended else "cut off at --max-chars"
    head = (f"===== sample {n:0{width}d} | seed {seed} | temperature {temperature_label(temperature)}"
            f" | {sample.chars} chars | {status} =====")
    return f"{head}\n{sample.text.rstrip(chr(10))}\n\n"


def write_samples(out_dir, samples: list[Sample], primes: list[str], seed: int, temperature,
                  constrain: str = "none", stats: dict | None = None) -> None:
    """{n}.abc per tune, raw.txt and samples.tsv (last, as it marks a finished run)."""
    out_dir = Path(out_dir)
    width = number_width(len(samples))
    names = [f"{i + 1:0{width}d}.abc" for i in range(len(samples))]
    claim_folder(out_dir, [*names, "raw.txt", "samples.tsv"], "samples.tsv", "abcrnn sample", always=["raw.txt"])
    rows, raw = [], []
    for i, (sample, prime) in enumerate(zip(samples, primes)):
        name = f"{i + 1:0{width}d}.abc"
        write_text(out_dir / name, sample.tune + "\n")
        raw.append(raw_block(i + 1, width, seed + i, temperature, sample))
        rows.append({"n": i + 1, "file": name, "seed": seed + i, "temperature": temperature_label(temperature),
                     "constrain": constrain, "fallbacks": stats["fallbacks"][i] if stats else 0,
                     "masked": stats["masked"][i] if stats else 0.0, "plan": stats["plans"][i] if stats else "",
                     "ended": sample.ended, "chars": sample.chars, "prime": prime.replace("\n", "\\n")})
    write_text(out_dir / "raw.txt", "".join(raw))
    write_tsv(out_dir / "samples.tsv", rows, SAMPLE_COLUMNS)


# --- command line ---------------------------------------------------------------------------------
