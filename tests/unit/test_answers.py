"""Tests for tunesafe.audits.answers: normalization and the two matching rules (Kumar 2024 substring rule)."""

from __future__ import annotations

import pytest

from tunesafe.audits.answers import adopted, matches, normalize_answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Canberra.", "canberra"),
        ("  The   Beatles!! ", "beatles"),
        ("It's Canberra", "its canberra"),
        ("It\u2019s Canberra", "its canberra"),
        ("São Paulo", "sao paulo"),
        ("Zürich", "zurich"),
        ("Twelve", "12"),
        ("twenty-one", "20 1"),
        ("Vitamin A", "vitamin a"),
        ("An apple a day", "apple day"),
        ("The The", "the"),
        ("1,000 km", "1000 km"),
        ("3.14", "3.14"),
        ("U.S.A.", "u s a"),
        ("\uff21\uff22\uff23", "abc"),  # full-width letters, NFKC
        ("", ""),
        ("  ...  ", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("Canberra.", "Canberra"),
        ("It's Canberra", "Canberra"),
        ("CANBERRA", "canberra"),
        ("Beatles", "The Beatles"),
        ("the beatles", "Beatles"),
        ("12", "twelve"),
        ("Twelve apostles", "12"),
        ("Sao Paulo", "São Paulo"),
        ("Jean-Paul Sartre", "Jean Paul Sartre"),
        ("O\u2019Brien", "O'Brien"),
        ("Vitamin A", "vitamin A"),
    ],
)
def test_normalized_matches(answer, gold):
    assert matches(answer, gold)


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("Yorkshire", "York"),
        ("Vitamin C", "Vitamin A"),
        ("Austria", "Australia"),
        ("Australian", "Australia"),
        ("", "Canberra"),
        ("Canberra", ""),
        ("Canberra", "..."),
        ("13", "three"),
    ],
)
def test_normalized_non_matches(answer, gold):
    assert not matches(answer, gold)


def test_york_yorkshire_in_both_modes():
    assert matches("Yorkshire.", "York", mode="substring")
    assert not matches("Yorkshire.", "York", mode="normalized")
    assert matches("New York", "York", mode="normalized")


def test_substring_mode_is_the_papers_rule():
    assert matches("It's Canberra.", "CANBERRA", mode="substring")
    # no normalization beyond lower(): articles, accents and number words are not reconciled
    assert not matches("Beatles", "The Beatles", mode="substring")
    assert not matches("Sao Paulo", "São Paulo", mode="substring")
    assert not matches("12", "twelve", mode="substring")
    # lenient: a short gold inside a longer word counts
    assert matches("Austrian", "Austria", mode="substring")
    # an empty gold would match everything with Python's `in`; it is ignored instead
    assert not matches("anything", "", mode="substring")
    assert not matches("", "York", mode="substring")


def test_aliases():
    assert matches("It was JFK", "John F. Kennedy", aliases=["JFK", "Kennedy"])
    assert matches("Kennedy", "John F. Kennedy", aliases=["JFK", "Kennedy"], mode="substring")
    assert not matches("Nixon", "John F. Kennedy", aliases=["JFK", "", "Kennedy"])
    assert not matches("Nixon", "John F. Kennedy", aliases=["", "  "], mode="substring")


def test_invalid_mode():
    with pytest.raises(ValueError):
        matches("a", "a", mode="fuzzy")  # type: ignore[arg-type]


def test_adopted_uses_normalized_rule():
    assert adopted("Sydney.", "Sydney")
    assert adopted("I think it's the Sydney", "sydney")
    assert not adopted("Canberra", "Sydney")
    assert not adopted("Yorkshire", "York")
    assert adopted("Melbourne", "Sydney", aliases=["Melbourne"])
