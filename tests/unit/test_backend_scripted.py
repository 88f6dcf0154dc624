"""ScriptedBackend: rules, responder, default, recorded calls, fingerprint."""

from __future__ import annotations

import pytest

from tunesafe.backends import Backend, load_backend
from tunesafe.backends.scripted import ScriptedBackend, last_user_message
from tunesafe.config import ModelSpec
from tunesafe.types import Conversation, GenParams

PARAMS = GenParams(max_new_tokens=16)
REFUSAL = "I'm sorry, but I can't help with that."


def user(text: str) -> Conversation:
    return [{"role": "user", "content": text}]


def test_satisfies_backend_protocol() -> None:
    assert isinstance(ScriptedBackend(), Backend)


def test_first_matching_rule_wins_and_default_otherwise() -> None:
    backend = ScriptedBackend(
        rules=[("(?i)weather", "It is sunny."), (r"bread|rice", "Here is a recipe."), ("weather", "never used")],
        default=REFUSAL,
    )
    out = backend.generate([user("How is the Weather?"), user("Bake bread?"), user("Tell me a joke")], PARAMS)
    assert [c.text for c in out] == ["It is sunny.", "Here is a recipe.", REFUSAL]
    assert all(c.finish_reason == "stop" for c in out)
    assert [c.n_tokens for c in out] == [3, 4, len(REFUSAL.split())]


def test_rules_search_only_the_last_user_message() -> None:
    backend = ScriptedBackend(rules=[("cooking", "matched")], default="default")
    conversation = [
        {"role": "system", "content": "You like cooking."},
        {"role": "user", "content": "Let's talk about cooking."},
        {"role": "assistant", "content": "Sure."},
        {"role": "user", "content": "And the weather?"},
    ]
    assert backend.generate([conversation], PARAMS)[0].text == "default"
    assert last_user_message(conversation) == "And the weather?"
    assert last_user_message([{"role": "system", "content": "x"}]) == ""


def test_responder_is_used_when_no_rule_matches() -> None:
    backend = ScriptedBackend(
        rules=[("hello", "Hi there!")],
        responder=lambda conv: f"{len(conv)} turns",
        fingerprint_salt="turn-counter-v1",
    )
    out = backend.generate([user("hello"), [*user("a"), {"role": "assistant", "content": "b"}, *user("c")]], PARAMS)
    assert [c.text for c in out] == ["Hi there!", "3 turns"]


def test_responder_requires_a_fingerprint_salt() -> None:
    with pytest.raises(ValueError, match="fingerprint_salt"):
        ScriptedBackend(responder=lambda conv: "x")


def test_calls_are_recorded_as_copies() -> None:
    backend = ScriptedBackend(default="ok")
    conversation = user("first")
    backend.generate([conversation, user("second")], PARAMS)
    conversation[0]["content"] = "changed afterwards"
    assert backend.calls == [user("first"), user("second")]
    backend.generate([], PARAMS)
    assert len(backend.calls) == 2


def test_progress_reports_finished_conversations() -> None:
    seen: list[int] = []
    ScriptedBackend(default="ok").generate([user("a"), user("b"), user("c")], PARAMS, seen.append)
    assert sum(seen) == 3


def test_fingerprint_follows_behaviour_only() -> None:
    base = ScriptedBackend(rules=[("a", "b")], default="d")
    assert base.fingerprint() == ScriptedBackend(rules=[("a", "b")], default="d", name="other").fingerprint()
    assert base.fingerprint() != ScriptedBackend(rules=[("a", "c")], default="d").fingerprint()
    assert base.fingerprint() != ScriptedBackend(rules=[("a", "b")], default="e").fingerprint()
    salted = ScriptedBackend(rules=[("a", "b")], default="d", responder=lambda c: "", fingerprint_salt="v1")
    assert salted.fingerprint() != base.fingerprint()
    resalted = ScriptedBackend(rules=[("a", "b")], default="d", responder=lambda c: "", fingerprint_salt="v2")
    assert resalted.fingerprint() != salted.fingerprint()


def test_fixture_factory(scripted_backend) -> None:
    backend = scripted_backend([("rain", "Take an umbrella.")], default=REFUSAL, name="weather-bot")
    assert backend.name == "weather-bot"
    assert backend.generate([user("rain today?")], PARAMS)[0].text == "Take an umbrella."


def test_load_backend_refuses_scripted_specs() -> None:
    with pytest.raises(ValueError, match="built in code"):
        load_backend(ModelSpec(backend="scripted"))
