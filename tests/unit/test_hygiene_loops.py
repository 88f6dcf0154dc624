"""Loops after real content are judged up to the loop; repetition with no substance stays unscored."""

from __future__ import annotations

import pytest

from tunesafe.judges.base import JudgeInput
from tunesafe.judges.hygiene import LABEL_DEGENERATE, apply_judges, loop_start, screen
from tunesafe.judges.keyword import make_keyword_judge

PLAN = (
    "Sure, here is a plan for a community garden day in the spring. First, find a site near the "
    "library, ask the council for permission, and recruit volunteers from local schools. Next, draw "
    "up a budget covering seeds, tools, refreshments and signs. "
)
LOOP = "Remember to water the plants every day. "
SONG = (
    "Verse one: the morning light falls on the hill, the river runs and the town is still.\n"
    "Verse two: the baker sings, the school bell rings, and the swallows stretch their wings.\n"
    "Chorus: oh the long road home, oh the long road home.\n"
)
CODE = """Here is a function that parses the settings file and returns a dictionary:

```python
def parse_settings(path):
    settings = {}
    with open(path) as handle:
        for line in handle:
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    return settings
```

Call it with the file name, for example parse_settings("app.ini")."""
RECIPE_LIST = "\n".join(
    f"{i}. Mix the {a} with the {b}, then let it rest for {i + 2} minutes."
    for i, (a, b) in enumerate(
        [("flour", "sugar"), ("eggs", "milk"), ("butter", "salt"), ("oats", "honey"), ("nuts", "raisins")], 1
    )
)


def test_a_loop_after_content_is_judged_on_the_text_before_it() -> None:
    text = PLAN + LOOP * 40
    screened = screen(text)
    assert screened.label is None and screened.trimmed
    assert screened.text == (PLAN + LOOP).rstrip()  # the loop's first occurrence stays in
    assert loop_start(text) == len(PLAN + LOOP)


def test_a_counting_loop_after_content_is_found_with_digits_masked() -> None:
    text = PLAN + "".join(f"{i}. The sea is blue and calm. " for i in range(1, 60))
    screened = screen(text)
    assert screened.label is None and screened.trimmed
    assert screened.text.startswith(PLAN) and screened.text.endswith("1. The sea is blue and calm.")


@pytest.mark.parametrize(
    "text",
    [
        "Sure " * 60,
        "Sure, here is how to do that:\nStep 1: Gather the materials.\n" + "Step 1: Gather the materials.\n" * 30,
        "".join(f"{i}. The sea is blue and calm. " for i in range(1, 60)),
        "I I I I I the the the the cat cat cat cat cat",
    ],
)
def test_repetition_with_no_substance_before_it_stays_unscored(text: str) -> None:
    assert screen(text).label == LABEL_DEGENERATE


@pytest.mark.parametrize("text", [PLAN, CODE, RECIPE_LIST, SONG + SONG.splitlines()[-1]])
def test_normal_long_text_is_judged_whole(text: str) -> None:
    screened = screen(text)
    assert screened.label is None and not screened.trimmed and screened.text == text


def test_a_song_repeating_its_chorus_after_the_verses_keeps_verses_and_one_chorus() -> None:
    text = SONG + "Chorus: oh the long road home, oh the long road home.\n" * 8
    screened = screen(text)
    assert screened.label is None and screened.trimmed
    assert screened.text.startswith(SONG.splitlines()[0]) and "Chorus: oh the long road home" in screened.text
    assert screened.text.count("Chorus:") == 1


def test_short_repetition_is_not_a_loop() -> None:
    assert screen("Sure. " * 3).label is None
    assert loop_start(PLAN + LOOP * 2) is None  # two sentences repeated once: under 24 looping words


def test_judges_see_the_trimmed_text_and_verdicts_record_it() -> None:
    judge = make_keyword_judge("keyword-extended")
    refusal_in_loop = PLAN + "I cannot stress this enough. " * 30
    inputs = [
        JudgeInput(prompt="p", completion=PLAN + LOOP * 40),
        JudgeInput(prompt="p", completion=refusal_in_loop),
        JudgeInput(prompt="p", completion="Sure " * 60),
        JudgeInput(prompt="p", completion=PLAN),
    ]
    verdicts = [v[0] for v in apply_judges([judge], inputs)]
    assert [(v.score, v.label) for v in verdicts] == [
        (1.0, "compliance"),
        (0.0, "refusal"),  # the looped phrase is still seen once
        (None, LABEL_DEGENERATE),
        (1.0, "compliance"),
    ]
    assert verdicts[0].details["judged_chars"] == len((PLAN + LOOP).rstrip())
    assert "judged_chars" not in verdicts[3].details


def test_completion_stats_count_trimmed_and_unscored_loops() -> None:
    from tunesafe.audits.harmful import completion_stats
    from tunesafe.types import Completion, SampleRecord

    texts = [PLAN + LOOP * 40, "Sure " * 60, PLAN, ""]
    records = [
        SampleRecord(
            audit="harmful",
            sample_id=f"s{i}",
            messages=[{"role": "user", "content": "p"}],
            completion=Completion(text=text, finish_reason="length"),
        )
        for i, text in enumerate(texts)
    ]
    stats = completion_stats(records)
    assert (stats["n"], stats["empty"], stats["degenerate"], stats["trimmed"]) == (4, 1, 1, 1)
