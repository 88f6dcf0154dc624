"""Chat templates rendered without the model: the same text as transformers, GGUF headers read right."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from tunesafe.backends.chat_template import ChatTemplate, ChatTemplateError, read_gguf_header

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Café au lait — ünïcode?"}],
    [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a fact."},
    ],
]


@pytest.mark.parametrize("generation_prompt", [True, False])
def test_render_matches_transformers_apply_chat_template(tiny_model_dir: Path, generation_prompt: bool) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    template = ChatTemplate.from_hf_dir(tiny_model_dir)
    for conversation in CONVERSATIONS:
        expected = tokenizer.apply_chat_template(conversation, add_generation_prompt=generation_prompt, tokenize=False)
        assert template.render(conversation, add_generation_prompt=generation_prompt) == expected


def test_render_uses_special_tokens_tojson_and_raise_exception(tmp_path: Path) -> None:
    template = ChatTemplate(
        "{{ bos_token }}{% for m in messages %}{{ m | tojson }}{% endfor %}"
        "{% if messages | length > 2 %}{{ raise_exception('too long') }}{% endif %}{{ eos_token }}",
        bos_token="<s>",
        eos_token="</s>",
    )
    text = template.render([{"role": "user", "content": "é"}])
    assert text == '<s>{"role": "user", "content": "é"}</s>'  # non-ASCII kept, as transformers does
    with pytest.raises(ChatTemplateError, match="too long"):
        template.render([{"role": "user", "content": str(i)} for i in range(3)])


def test_identity_changes_with_template_and_tokens() -> None:
    base = ChatTemplate("{{ messages[0]['content'] }}", "<s>", "</s>")
    assert base.identity() == ChatTemplate("{{ messages[0]['content'] }}", "<s>", "</s>").identity()
    assert base.identity() != ChatTemplate("{{ messages[0]['content'] }}!", "<s>", "</s>").identity()
    assert base.identity() != ChatTemplate("{{ messages[0]['content'] }}", "<s>", "<eot>").identity()


def test_missing_template_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": "</s>"}))
    with pytest.raises(ChatTemplateError, match="no chat template"):
        ChatTemplate.from_hf_dir(tmp_path)


def _write_gguf(path: Path, kv: list[tuple[str, int, bytes]]) -> None:
    """A GGUF v3 header written byte by byte from the spec: magic, version, tensor and KV counts, KVs."""

    def string(text: str) -> bytes:
        data = text.encode("utf-8")
        return struct.pack("<Q", len(data)) + data

    body = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kv))
    for key, kind, value in kv:
        body += string(key) + struct.pack("<I", kind) + value
    path.write_bytes(body)


def test_gguf_header_reader_on_a_spec_built_file(tmp_path: Path) -> None:
    def string(text: str) -> bytes:
        data = text.encode("utf-8")
        return struct.pack("<Q", len(data)) + data

    tokens = ["<s>", "</s>", "hello"]
    array = struct.pack("<IQ", 8, len(tokens)) + b"".join(string(t) for t in tokens)
    path = tmp_path / "m.gguf"
    _write_gguf(
        path,
        [
            ("general.architecture", 8, string("llama")),
            ("llama.context_length", 4, struct.pack("<I", 2048)),
            ("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 0)),
            ("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 1)),
            ("tokenizer.ggml.tokens", 9, array),
            ("tokenizer.ggml.scores", 9, struct.pack("<IQ", 6, 3) + struct.pack("<3f", 0.0, -1.0, -2.5)),
            ("tokenizer.chat_template", 8, string("{{ bos_token }}{{ messages[0]['content'] }}{{ eos_token }}")),
        ],
    )
    header = read_gguf_header(path)
    assert header["general.architecture"] == "llama"
    assert header["llama.context_length"] == 2048
    assert header["tokenizer.ggml.tokens"] == tokens
    assert header["tokenizer.ggml.scores"] == [0.0, -1.0, -2.5]
    template = ChatTemplate.from_gguf(path)
    assert template.render([{"role": "user", "content": "hi"}]) == "<s>hi</s>"


def test_gguf_without_template_or_magic_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "none.gguf"
    _write_gguf(path, [("general.architecture", 8, struct.pack("<Q", 5) + b"llama")])
    with pytest.raises(ChatTemplateError, match="no tokenizer.chat_template"):
        ChatTemplate.from_gguf(path)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOPE" + b"\0" * 20)
    with pytest.raises(ChatTemplateError, match="not a GGUF"):
        read_gguf_header(bad)
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ChatTemplateError, match="unreadable GGUF header"):
        read_gguf_header(truncated)
