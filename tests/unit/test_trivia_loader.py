"""Trivia loader: tunesafe's shape, the published 1,000-question shape, and bad files."""

import json
from pathlib import Path

import pytest

from tunesafe.data.trivia import load_trivia

PUBLISHED = [
    {
        "id": 0,
        "question": "Which planet is known as the Red Planet?",
        "true_answer": "Mars",
        "wrong_answer": "Venus",
        "context": "Venus is known as the Red Planet.",
    },
    {
        "id": 1,
        "question": "What is the largest ocean?",
        "true_answer": "Pacific",
        "wrong_answer": "Atlantic",
        "context": "The Atlantic is the largest ocean.",
    },
]


def test_published_json_list_is_read_with_its_column_names(tmp_path: Path) -> None:
    path = tmp_path / "triviaqa_1000.json"
    path.write_text(json.dumps(PUBLISHED))
    items = load_trivia(path)
    assert [(i.id, i.answer, i.wrong_answer, i.false_context) for i in items] == [
        ("0", "Mars", "Venus", "Venus is known as the Red Planet."),
        ("1", "Pacific", "Atlantic", "The Atlantic is the largest ocean."),
    ]
    assert items[0].aliases == []


def test_native_jsonl_keeps_aliases_and_domain(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    row = {
        "id": "q1",
        "domain": "geography",
        "question": "What is the capital of Australia?",
        "answer": "Canberra",
        "aliases": ["Canberra, ACT"],
        "wrong_answer": "Sydney",
        "false_context": "Sydney is the capital of Australia.",
    }
    path.write_text(json.dumps(row) + "\n")
    (item,) = load_trivia(path)
    assert item.aliases == ["Canberra, ACT"] and item.domain == "geography"


def test_csv_in_the_published_shape(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text("id,question,true_answer,wrong_answer,context\n7,Q?,A,B,B is the answer.\n")
    (item,) = load_trivia(path)
    assert (item.id, item.answer, item.false_context) == ("7", "A", "B is the answer.")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{**PUBLISHED[0], "context": ""}], r"row 1: missing or empty \['context'\]"),
        ([PUBLISHED[0], PUBLISHED[0]], "repeats an earlier row"),
        ([{"id": 1, "question": "Q?"}], "missing or empty"),
        ([], "no questions"),
    ],
)
def test_bad_files_name_the_row_and_problem(tmp_path: Path, rows: list, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=message):
        load_trivia(path)


def test_bundled_set_loads_with_aliases_and_domains() -> None:
    items = load_trivia()
    assert len(items) >= 500 and len({i.domain for i in items}) >= 6
    assert all(i.wrong_answer in i.false_context for i in items)
