"""Loops and copying: the repetition score and the longest run copied from the training tunes."""

import pytest
from abc_examples import ARGMAX, ONEILLS, tune
from hypothesis import given, settings
from hypothesis import strategies as st

from abcrnn.notation.tunes import body
from abcrnn.analysis.novelty import SEPARATOR, CopyFinder, novelty, repetition


def test_repetition_catches_dead_loops_but_not_real_tunes():
    assert repetition(tune("B2 B2 | B2 B2 | B2 B2 |")) == 1.0
    endless = tune("~A3 AB|d2 dB | B2 BA | " + "B2 B2 | " * 200)  # an argmax sample cut off at --max-chars
    assert repetition(endless) > 0.95
    assert repetition(ARGMAX) > 0.4  # the paper's argmax tune (Figure 21)
    assert all(repetition(t) < 0.1 for t in ONEILLS)
    assert repetition(tune("")) == 0.0


def finder_of(*musics: str) -> CopyFinder:
    return CopyFinder(body(tune(m)) for m in musics)


def test_a_tune_found_in_the_training_set_is_fully_copied():
    finder = CopyFinder(body(t) for t in ONEILLS)
    assert all(novelty(t, finder) == (len(body(t)), 1.0) for t in ONEILLS)


def test_longest_copy_is_the_longest_shared_run_of_the_body():
    # 'ABc ded' (7 characters) is the longest run of the body found in the training tune
    assert novelty(tune("zzABc dedzz"), finder_of("GABc dedB|")) == (7, pytest.approx(7 / 11))
    # the header is not music: 'L:1/8' is in every header but in no training body
    assert novelty(tune("L:1/8"), finder_of("ABC")) == (0, 0.0)
    assert novelty(tune(""), finder_of("ABC")) == (0, 0.0)
    assert novelty("ABC", finder_of("ABC")) == (0, 0.0)  # no K: line, no body


def test_a_copy_never_runs_across_two_training_tunes():
    finder = finder_of("ABCD", "EFGH")
    assert finder.longest_copy("CDEFG") == 3  # 'EFG'; joined without a separator it would be 5
    assert finder.longest_copy("ABCD" + SEPARATOR + "EFGH") == 4
    assert CopyFinder(["AB" + SEPARATOR + "CD"]).longest_copy("BC") == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab|", max_size=12), min_size=1, max_size=4), st.text(alphabet="ab|c", max_size=16))
def test_longest_copy_matches_a_brute_force_search(training, query):
    finder = CopyFinder(training)
    expected = max((j - i for i in range(len(query)) for j in range(i + 1, len(query) + 1)
                    if any(query[i:j] in t for t in training)), default=0)
    assert finder.longest_copy(query) == expected
