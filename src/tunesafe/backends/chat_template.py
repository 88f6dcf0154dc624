"""A model's chat template, rendered without loading the model.

Used where the chat template must be applied on the client: the in-process llama.cpp backend
(template from the GGUF's metadata) and log-likelihood scoring over HTTP (the served model's own
tokenizer files or GGUF). Rendering follows transformers' ``apply_chat_template`` (a sandboxed
Jinja2 environment with ``trim_blocks``, ``lstrip_blocks``, loop controls, a ``tojson`` that keeps
non-ASCII text, ``raise_exception`` and ``strftime_now``), so the same conversation gives the same
text as the HF backend; a test checks that on real templates.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesafe._util.hashing import sha256_obj
from tunesafe.errors import InputError
from tunesafe.types import Conversation

if TYPE_CHECKING:
    import jinja2

GGUF_TEMPLATE_KEY = "tokenizer.chat_template"


class ChatTemplateError(InputError):
    """A model has no usable chat template, or the template failed on a conversation."""


@dataclass(frozen=True)
class ChatTemplate:
    """A Jinja2 chat template with the special tokens it may refer to."""

    template: str
    bos_token: str = ""
    eos_token: str = ""

    def render(self, conversation: Conversation, *, add_generation_prompt: bool = True) -> str:
        """The conversation as the model sees it (with the assistant turn's opening when asked)."""
        import jinja2

        try:
            return _compiled(self.template).render(
                messages=list(conversation),
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                tools=None,
                documents=None,
            )
        except jinja2.TemplateError as err:
            raise ChatTemplateError(f"the chat template failed: {err}") from None

    def identity(self) -> str:
        """sha256 of the template and its special tokens (part of a model fingerprint)."""
        return sha256_obj({"template": self.template, "bos": self.bos_token, "eos": self.eos_token})

    @classmethod
    def from_source(cls, source: str | Path) -> ChatTemplate:
        """The chat template of a GGUF file, a Hugging Face model folder or a bundled model name."""
        path = Path(source).expanduser()
        if path.is_file() and path.suffix.lower() == ".gguf":
            return cls.from_gguf(path)
        if path.is_dir():
            return cls.from_hf_dir(path)
        from tunesafe.models import prepare_gguf

        return cls.from_gguf(prepare_gguf(str(source)))

    @classmethod
    def from_gguf(cls, path: Path) -> ChatTemplate:
        """The template in a GGUF's ``tokenizer.chat_template`` with its BOS/EOS token texts."""
        meta = gguf_metadata(path, (GGUF_TEMPLATE_KEY, "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"))
        template = meta.get(GGUF_TEMPLATE_KEY)
        if not isinstance(template, str) or not template:
            raise ChatTemplateError(f"{path}: the GGUF has no {GGUF_TEMPLATE_KEY}")
        tokens = gguf_tokens(path)
        return cls(
            template=template,
            bos_token=_token_text(tokens, meta.get("tokenizer.ggml.bos_token_id")),
            eos_token=_token_text(tokens, meta.get("tokenizer.ggml.eos_token_id")),
        )

    @classmethod
    def from_hf_dir(cls, directory: Path) -> ChatTemplate:
        """The template of a transformers model folder (``chat_template.jinja`` or ``tokenizer_config.json``)."""
        config_path = directory / "tokenizer_config.json"
        config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        jinja_file = directory / "chat_template.jinja"
        template = jinja_file.read_text(encoding="utf-8") if jinja_file.is_file() else config.get("chat_template")
        if isinstance(template, list):  # named templates: the default one
            template = next((t.get("template") for t in template if t.get("name") == "default"), None)
        if not isinstance(template, str) or not template:
            raise ChatTemplateError(f"{directory}: no chat template (chat_template.jinja or tokenizer_config.json)")
        bos, eos = _token_str(config.get("bos_token")), _token_str(config.get("eos_token"))
        return cls(template=template, bos_token=bos, eos_token=eos)


def gguf_metadata(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """The values of ``keys`` in a GGUF header (missing keys are left out)."""
    header = read_gguf_header(Path(path))
    return {key: header[key] for key in keys if key in header}


def gguf_tokens(path: Path) -> list[str]:
    """The vocabulary of a GGUF (``tokenizer.ggml.tokens``), token id -> text."""
    return list(read_gguf_header(Path(path)).get("tokenizer.ggml.tokens", []))


_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


@lru_cache(maxsize=8)
def _read_header_cached(path: str, size: int, mtime_ns: int) -> dict[str, Any]:
    with open(path, "rb") as handle:

        def read(n: int) -> bytes:
            data = handle.read(n)
            if len(data) != n:
                raise struct.error(f"the file ends {n - len(data)} byte(s) early")
            return data

        if handle.read(4) != b"GGUF":
            raise ChatTemplateError(f"{path} is not a GGUF file")
        version, _n_tensors, n_kv = struct.unpack("<IQQ", read(20))
        if version < 2:
            raise ChatTemplateError(f"{path}: GGUF version {version} is not supported")

        def string() -> str:
            (length,) = struct.unpack("<Q", read(8))
            return read(length).decode("utf-8", errors="replace")

        def value(kind: int) -> Any:
            if kind == _STRING:
                return string()
            if kind == _ARRAY:
                item_kind, count = struct.unpack("<IQ", read(12))
                if item_kind in _SCALARS:
                    fmt = _SCALARS[item_kind]
                    return [v[0] for v in struct.iter_unpack(fmt, read(struct.calcsize(fmt) * count))]
                return [value(item_kind) for _ in range(count)]
            fmt = _SCALARS[kind]
            return struct.unpack(fmt, read(struct.calcsize(fmt)))[0]

        header: dict[str, Any] = {}
        for _ in range(n_kv):
            key = string()
            (kind,) = struct.unpack("<I", handle.read(4))
            header[key] = value(kind)
        return header


def read_gguf_header(path: Path) -> dict[str, Any]:
    """Every key-value pair of a GGUF file's header (the GGUF spec of ggml; tensors are not read).

    ``gguf.GGUFReader`` maps every tensor too, which takes seconds on a 0.5B model; the header
    alone is read in milliseconds. Cached by path, size and modification time.
    """
    stat = path.stat()
    try:
        return _read_header_cached(str(path), stat.st_size, stat.st_mtime_ns)
    except (struct.error, KeyError, UnicodeDecodeError) as err:
        raise ChatTemplateError(f"{path}: unreadable GGUF header ({type(err).__name__}: {err})") from None


def _token_text(tokens: list[str], token_id: Any) -> str:
    if isinstance(token_id, int) and 0 <= token_id < len(tokens):
        return tokens[token_id]
    return ""


def _token_str(token: Any) -> str:
    if isinstance(token, dict):  # older tokenizer configs: {"content": ..., ...}
        token = token.get("content")
    return token if isinstance(token, str) else ""


def _generation_extension() -> Any:
    """``{% generation %}...{% endgeneration %}`` (transformers' assistant-mask markers) rendered as their body."""
    import jinja2
    from jinja2.ext import Extension

    class Generation(Extension):
        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        def _body(self, caller: Any) -> str:
            body: str = caller()
            return body

    return Generation


@lru_cache(maxsize=16)
def _compiled(template: str) -> jinja2.Template:
    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.TemplateError(message)

    def tojson(
        x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None, sort_keys: bool = False
    ) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols, _generation_extension()]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        return env.from_string(template)
    except jinja2.TemplateError as err:
        raise ChatTemplateError(f"the chat template does not compile: {err}") from None
