"""HFBackend on the tiny random model: batching, padding, stopping, sampling, fingerprints, adapters.

The tiny model's text is noise, so these tests compare outputs with each other, never with words.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.tiny_model import build_tiny_model

from tunesafe.backends import Backend, BackendError, load_backend
from tunesafe.backends.batching import (
    conversation_seed,
    cut_at_eos,
    eos_token_ids,
    left_pad,
    length_sorted_batches,
)
from tunesafe.backends.hf import HFBackend
from tunesafe.config import ModelSpec
from tunesafe.types import Conversation, GenParams

torch = pytest.importorskip("torch")

GREEDY = GenParams(max_new_tokens=12)
SAMPLED = GenParams(max_new_tokens=12, temperature=1.0, seed=7)
SYSTEM = "You are a helpful assistant."


def user(text: str) -> Conversation:
    return [{"role": "user", "content": text}]


# Prompts of very different lengths, so batches need real left padding and sorting reorders them.
CONVERSATIONS: list[Conversation] = [
    user("Hi"),
    user("How do I bake bread? Tell me about the weather and cooking this morning, in a few simple steps."),
    user("What is the capital of France?"),
    [{"role": "system", "content": SYSTEM}, *user("Tell me a fun fact about cats.")],
    user("Sure"),
    [*user("How do I boil an egg?"), {"role": "assistant", "content": "Here is an easy recipe."}, *user("Thanks!")],
    user("Write a short poem about rain, please; the river is calm and the garden looks lovely today."),
]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """A model this small runs ~10x faster on one thread than on two busy cores; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def backend(tiny_model_dir: Path) -> Iterator[HFBackend]:
    hf = HFBackend(tiny_model_dir, batch_size=3, threads=1)
    yield hf
    hf.close()


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A non-trivial LoRA adapter (random A and B, so it changes the logits) saved with PEFT."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    out = tmp_path_factory.mktemp("adapter") / "adapter"
    with warnings.catch_warnings():  # peft 0.21 calls a transformers API deprecated in 5.x
        warnings.simplefilter("ignore", FutureWarning)
        get_peft_model(model, lora).save_pretrained(out)
    return out


def last_logits(hf: HFBackend, conversation: Conversation) -> torch.Tensor:
    ids = torch.tensor([hf.encode([conversation])[0]])
    with torch.inference_mode():
        return hf.model(input_ids=ids).logits[0, -1]


def raw_greedy_ids(hf: HFBackend, conversation: Conversation, max_new_tokens: int) -> list[int]:
    """Greedy continuation straight from transformers, without padding (the reference)."""
    ids = torch.tensor([hf.encode([conversation])[0]])
    with torch.inference_mode():
        out = hf.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=max_new_tokens
        )
    return out[0, ids.shape[1] :].tolist()


def copy_with_generation_config(src: Path, dst: Path, **changes: object) -> Path:
    shutil.copytree(src, dst)
    path = dst / "generation_config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))
    return dst


# -- pure helpers -----------------------------------------------------------------------------


def test_cut_at_eos() -> None:
    assert cut_at_eos([5, 6, 1, 2, 2], {1}) == ([5, 6], 3, "stop")
    assert cut_at_eos([1, 2], {1, 9}) == ([], 1, "stop")
    assert cut_at_eos([5, 9, 1], {1, 9}) == ([5], 2, "stop")
    assert cut_at_eos([5, 6, 7], {1}) == ([5, 6, 7], 3, "length")


def test_eos_token_ids_accepts_int_list_or_none() -> None:
    assert eos_token_ids(3, 3) == {3}
    assert eos_token_ids([3, 4], 5) == {3, 4, 5}
    assert eos_token_ids(None, 5) == {5}
    assert eos_token_ids(None, None) == set()


def test_left_pad_and_length_sorted_batches() -> None:
    ids, mask = left_pad([[7], [5, 6, 7]], pad_id=0)
    assert ids == [[0, 0, 7], [5, 6, 7]]
    assert mask == [[0, 0, 1], [1, 1, 1]]
    assert length_sorted_batches([1, 5, 3, 5, 2], 2) == [[1, 3], [2, 4], [0]]


def test_conversation_seed_depends_on_seed_and_content_only() -> None:
    assert conversation_seed(0, user("a")) == conversation_seed(0, user("a"))
    assert conversation_seed(0, user("a")) != conversation_seed(1, user("a"))
    assert conversation_seed(0, user("a")) != conversation_seed(0, user("b"))
    assert 0 <= conversation_seed(0, user("a")) < 2**63


# -- construction and laziness ----------------------------------------------------------------


def test_importing_backends_does_not_import_torch() -> None:
    code = (
        "import sys, tunesafe.backends, tunesafe.backends.hf, tunesafe.backends.scripted;"
        "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_constructor_validates_without_loading(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="config.json"):
        HFBackend(tmp_path)
    with pytest.raises(BackendError, match="adapter_config.json"):
        HFBackend(tiny_model_dir, adapter_dir=tmp_path)
    with pytest.raises(ValueError, match="dtype"):
        HFBackend(tiny_model_dir, dtype="int8")
    with pytest.raises(ValueError, match="batch_size"):
        HFBackend(tiny_model_dir, batch_size=0)
    hf = HFBackend(tiny_model_dir)
    assert isinstance(hf, Backend)
    assert hf.name == f"hf:{tiny_model_dir.name}"
    assert hf.generate([], GREEDY) == []


def test_load_backend_builds_an_hf_backend(tiny_model_dir: Path, adapter_dir: Path) -> None:
    spec = ModelSpec(source=str(tiny_model_dir), adapter=str(adapter_dir), batch_size=3, system_prompt=SYSTEM)
    hf = load_backend(spec)
    assert isinstance(hf, HFBackend)
    assert (hf.batch_size, hf.system_prompt, hf.adapter_dir) == (3, SYSTEM, adapter_dir)
    expected = HFBackend(tiny_model_dir, adapter_dir=adapter_dir, system_prompt=SYSTEM)
    assert hf.fingerprint() == expected.fingerprint()


# -- greedy generation ------------------------------------------------------------------------


def test_greedy_is_deterministic_and_in_input_order(backend: HFBackend) -> None:
    first = backend.generate(CONVERSATIONS, GREEDY)
    assert len(first) == len(CONVERSATIONS)
    assert backend.generate(CONVERSATIONS, GREEDY) == first
    assert backend.generate(CONVERSATIONS[::-1], GREEDY) == first[::-1]
    assert backend.generate(CONVERSATIONS, GREEDY.model_copy(update={"seed": 99})) == first
    assert len({c.text for c in first}) > 1


def test_batched_equals_one_by_one(backend: HFBackend, tiny_model_dir: Path) -> None:
    """Left padding with a correct attention mask and position ids changes nothing."""
    one_by_one = [backend.generate([conv], GREEDY)[0] for conv in CONVERSATIONS]
    assert backend.generate(CONVERSATIONS, GREEDY) == one_by_one
    single_batch = HFBackend(tiny_model_dir, batch_size=len(CONVERSATIONS))
    assert single_batch.generate(CONVERSATIONS, GREEDY) == one_by_one


def test_matches_plain_transformers_generate(backend: HFBackend) -> None:
    conv = CONVERSATIONS[1]
    ids = raw_greedy_ids(backend, conv, GREEDY.max_new_tokens)
    finished = cut_at_eos(ids, {backend.tokenizer.eos_token_id})
    expected = backend.tokenizer.decode(finished.text_ids, skip_special_tokens=True).strip()
    assert backend.generate([conv], GREEDY)[0].text == expected


def test_max_new_tokens_is_respected(backend: HFBackend) -> None:
    for max_new_tokens in (1, 5):
        out = backend.generate(CONVERSATIONS, GenParams(max_new_tokens=max_new_tokens))
        assert all(c.n_tokens is not None and c.n_tokens <= max_new_tokens for c in out)
        assert all(c.n_tokens == max_new_tokens for c in out if c.finish_reason == "length")
        assert all(c.finish_reason in ("stop", "length") for c in out)


def test_each_sequence_stops_at_its_own_eos(backend: HFBackend, tiny_model_dir: Path, tmp_path: Path) -> None:
    """An extra EOS id from generation_config.json stops the rows that produce it, and only those."""
    max_new = 10
    raw = [raw_greedy_ids(backend, conv, max_new) for conv in CONVERSATIONS]
    position, stop_id = next(
        (pos, tok)
        for pos, tok in enumerate(raw[0])
        if pos > 0 and tok not in raw[0][:pos] and any(tok not in other for other in raw[1:])
    )
    eos = backend.tokenizer.eos_token_id
    variant = copy_with_generation_config(tiny_model_dir, tmp_path / "model", eos_token_id=[eos, stop_id])
    out = HFBackend(variant, batch_size=4).generate(CONVERSATIONS, GenParams(max_new_tokens=max_new))

    assert (out[0].finish_reason, out[0].n_tokens) == ("stop", position + 1)
    assert any(c.finish_reason == "length" and c.n_tokens == max_new for c in out)
    for completion, ids in zip(out, raw, strict=True):
        finished = cut_at_eos(ids, {eos, stop_id})
        text = backend.tokenizer.decode(finished.text_ids, skip_special_tokens=True).strip()
        assert (completion.text, completion.n_tokens, completion.finish_reason) == (
            text,
            finished.n_tokens,
            finished.finish_reason,
        )


def test_immediate_eos_gives_empty_stop(tiny_model_dir: Path) -> None:
    hf = HFBackend(tiny_model_dir, batch_size=4)
    head = hf.model.lm_head
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    with torch.no_grad():
        biased.weight.copy_(head.weight)
        biased.bias.zero_()
        biased.bias[hf.tokenizer.eos_token_id] = 100.0
    hf.model.lm_head = biased
    out = hf.generate(CONVERSATIONS, GREEDY)
    assert {(c.text, c.finish_reason, c.n_tokens) for c in out} == {("", "stop", 1)}


def test_model_generation_defaults_do_not_change_decoding(
    backend: HFBackend, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """Sampling knobs and penalties in generation_config.json are overridden: GenParams rule."""
    variant = copy_with_generation_config(
        tiny_model_dir,
        tmp_path / "model",
        do_sample=True,
        temperature=0.3,
        top_k=3,
        repetition_penalty=3.0,
        no_repeat_ngram_size=1,
    )
    assert HFBackend(variant, batch_size=3).generate(CONVERSATIONS, GREEDY) == backend.generate(CONVERSATIONS, GREEDY)


def test_progress_reports_each_batch(backend: HFBackend) -> None:
    seen: list[int] = []
    backend.generate(CONVERSATIONS, GenParams(max_new_tokens=2), seen.append)
    assert seen == [3, 3, 1]


# -- sampling ---------------------------------------------------------------------------------


def test_seeded_sampling_is_reproducible(backend: HFBackend) -> None:
    first = backend.generate(CONVERSATIONS, SAMPLED)
    assert backend.generate(CONVERSATIONS, SAMPLED) == first
    other_seed = backend.generate(CONVERSATIONS, SAMPLED.model_copy(update={"seed": 8}))
    assert [c.text for c in other_seed] != [c.text for c in first]
    assert [c.text for c in first] != [c.text for c in backend.generate(CONVERSATIONS, GREEDY)]


def test_sampling_does_not_depend_on_batch_composition(backend: HFBackend) -> None:
    together = backend.generate(CONVERSATIONS, SAMPLED)
    assert backend.generate(CONVERSATIONS[::-1], SAMPLED) == together[::-1]
    assert [backend.generate([conv], SAMPLED)[0] for conv in CONVERSATIONS] == together


def test_top_p_sampling_is_reproducible(backend: HFBackend) -> None:
    params = GenParams(max_new_tokens=8, temperature=0.7, top_p=0.5, seed=3)
    assert backend.generate(CONVERSATIONS, params) == backend.generate(CONVERSATIONS, params)


# -- system prompt ----------------------------------------------------------------------------


def test_system_prompt_is_prepended_only_when_missing(backend: HFBackend, tiny_model_dir: Path) -> None:
    with_system = HFBackend(tiny_model_dir, system_prompt=SYSTEM)
    plain, has_own = CONVERSATIONS[0], CONVERSATIONS[3]
    explicit = [{"role": "system", "content": SYSTEM}, *plain]
    assert with_system.encode([plain]) == backend.encode([explicit])
    assert with_system.encode([has_own]) == backend.encode([has_own])
    assert with_system.generate([plain], GREEDY) == backend.generate([explicit], GREEDY)
    assert with_system.fingerprint() != backend.fingerprint()


# -- fingerprints -----------------------------------------------------------------------------


def test_fingerprint_is_content_not_path(tiny_model_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(tiny_model_dir, tmp_path / "elsewhere")
    assert HFBackend(copy).fingerprint() == HFBackend(tiny_model_dir).fingerprint()
    assert HFBackend(copy, dtype="bfloat16").fingerprint() != HFBackend(copy).fingerprint()


def test_fingerprint_changes_when_weights_change_in_place(tmp_path: Path) -> None:
    model_dir = build_tiny_model(tmp_path / "model", seed=0)
    before = HFBackend(model_dir).fingerprint()
    build_tiny_model(model_dir, seed=1)
    assert HFBackend(model_dir).fingerprint() != before
    build_tiny_model(model_dir, seed=0)
    assert HFBackend(model_dir).fingerprint() == before


# -- adapters ---------------------------------------------------------------------------------


def test_adapter_is_applied_unmerged(backend: HFBackend, tiny_model_dir: Path, adapter_dir: Path) -> None:
    from peft import PeftModel

    adapted = HFBackend(tiny_model_dir, adapter_dir=adapter_dir, batch_size=3)
    assert adapted.name == f"hf:{tiny_model_dir.name}+{adapter_dir.name}"
    assert isinstance(adapted.model, PeftModel)
    q_proj = adapted.model.get_base_model().model.layers[0].self_attn.q_proj
    assert hasattr(q_proj, "lora_A")
    base_q = backend.model.model.layers[0].self_attn.q_proj.weight
    assert torch.equal(q_proj.base_layer.weight, base_q)  # base weights untouched (not merged)

    conv = CONVERSATIONS[2]
    assert not torch.allclose(last_logits(adapted, conv), last_logits(backend, conv))
    assert len(adapted.generate(CONVERSATIONS, GREEDY)) == len(CONVERSATIONS)


def test_adapter_changes_fingerprint_by_content(tiny_model_dir: Path, adapter_dir: Path, tmp_path: Path) -> None:
    base = HFBackend(tiny_model_dir).fingerprint()
    adapted = HFBackend(tiny_model_dir, adapter_dir=adapter_dir).fingerprint()
    assert adapted != base
    moved = shutil.copytree(adapter_dir, tmp_path / "moved")
    assert HFBackend(tiny_model_dir, adapter_dir=moved).fingerprint() == adapted


# -- cleanup ----------------------------------------------------------------------------------


def test_close_frees_the_model_and_generate_reloads(tiny_model_dir: Path) -> None:
    hf = HFBackend(tiny_model_dir)
    expected = hf.generate(CONVERSATIONS[:2], GREEDY)
    model_ref = weakref.ref(hf.model)
    hf.close()
    assert model_ref() is None
    assert hf.generate(CONVERSATIONS[:2], GREEDY) == expected


def test_logprob_steps_match_a_plain_forward_pass(backend: HFBackend) -> None:
    """Per-step statistics come from the raw logits: the first step equals the prompt's next-token distribution."""
    params = GenParams(max_new_tokens=6, logprobs=3)
    out = backend.generate(CONVERSATIONS, params)
    plain = backend.generate(CONVERSATIONS, GenParams(max_new_tokens=6))
    assert [c.text for c in out] == [c.text for c in plain] and all(c.steps is None for c in plain)
    for conv, completion in zip(CONVERSATIONS, out, strict=True):
        steps = completion.steps
        assert steps is not None and len(steps) == completion.n_tokens
        logprobs = torch.log_softmax(last_logits(backend, conv).double(), dim=-1)
        first = steps[0]
        assert first.token_id == int(torch.argmax(logprobs))  # greedy: the chosen token is the top-1
        assert first.logprob == pytest.approx(float(logprobs.max()), abs=1e-4)
        assert first.top_logprobs == pytest.approx(torch.topk(logprobs, 3).values.tolist(), abs=1e-4)
        expected_entropy = float(-(logprobs.exp() * logprobs).sum())
        assert first.entropy == pytest.approx(expected_entropy, abs=1e-4)
        for step in steps:
            assert step.top_ids[0] == step.token_id and step.top_logprobs == sorted(step.top_logprobs, reverse=True)
            assert step.entropy >= 0 and step.logprob <= 0


def test_logprob_steps_do_not_depend_on_the_batch(backend: HFBackend, tiny_model_dir: Path) -> None:
    params = GenParams(max_new_tokens=5, logprobs=2)
    alone = [backend.generate([conv], params)[0] for conv in CONVERSATIONS]
    together = HFBackend(tiny_model_dir, batch_size=len(CONVERSATIONS)).generate(CONVERSATIONS, params)
    for a, b in zip(alone, together, strict=True):
        assert a.steps is not None and b.steps is not None
        assert [s.token_id for s in a.steps] == [s.token_id for s in b.steps]
        assert [s.logprob for s in a.steps] == pytest.approx([s.logprob for s in b.steps], abs=1e-4)


# -- dtype auto and device_map ------------------------------------------------------------------


def _cuda(monkeypatch: pytest.MonkeyPatch, *, available: bool, bf16: bool) -> None:
    """Pretend this machine has a CUDA GPU (with or without native bfloat16); nothing is loaded on it."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: available and bf16)


def test_dtype_auto_is_float32_on_cpu(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _cuda(monkeypatch, available=False, bf16=False)
    hf = HFBackend(tiny_model_dir, batch_size=3, threads=1)
    assert (hf.dtype, hf.resolved_dtype(), hf.resolved_device()) == ("auto", "float32", "cpu")
    # what actually runs is fingerprinted: cached generations of dtype float32 runs stay valid
    assert hf.fingerprint() == HFBackend(tiny_model_dir, dtype="float32").fingerprint()
    assert hf.generate(CONVERSATIONS[:2], GREEDY) == HFBackend(tiny_model_dir, dtype="float32").generate(
        CONVERSATIONS[:2], GREEDY
    )
    assert hf.model.dtype == torch.float32


def test_dtype_auto_is_bfloat16_on_a_gpu_with_native_bf16(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cuda(monkeypatch, available=True, bf16=True)
    hf = HFBackend(tiny_model_dir)
    assert (hf.resolved_device(), hf.resolved_dtype()) == ("cuda", "bfloat16")
    assert hf.fingerprint() == HFBackend(tiny_model_dir, dtype="bfloat16").fingerprint()
    assert hf.fingerprint() != HFBackend(tiny_model_dir, dtype="float32").fingerprint()
    # an explicit CPU device keeps float32 on the same machine
    assert HFBackend(tiny_model_dir, device="cpu").resolved_dtype() == "float32"


def test_dtype_auto_is_float16_on_an_older_gpu(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _cuda(monkeypatch, available=True, bf16=False)
    hf = HFBackend(tiny_model_dir)
    assert hf.resolved_dtype() == "float16"
    assert hf.fingerprint() == HFBackend(tiny_model_dir, dtype="float16").fingerprint()
    assert HFBackend(tiny_model_dir, dtype="float32").resolved_dtype() == "float32"  # explicit wins


def test_explicit_dtype_needs_no_torch_to_fingerprint(tiny_model_dir: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from tunesafe.backends.hf import HFBackend;"
        f"HFBackend(Path({str(tiny_model_dir)!r}), dtype='float32', device='cpu').fingerprint();"
        f"HFBackend(Path({str(tiny_model_dir)!r}), device='cpu').fingerprint();"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_device_map_goes_to_from_pretrained_and_the_model_is_not_moved(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoModelForCausalLM

    real = AutoModelForCausalLM.from_pretrained
    seen: dict[str, object] = {}

    def from_pretrained(*args: object, **kwargs: object) -> object:
        seen.update(kwargs)
        kwargs.pop("device_map", None)  # placed on the CPU here, as accelerate would on a CPU-only machine
        model = real(*args, **kwargs)

        def moved(*a: object, **k: object) -> None:
            raise AssertionError("a model placed by device_map must not be moved with .to()")

        model.to = moved  # type: ignore[method-assign]
        return model

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", from_pretrained)
    spec = ModelSpec(source=str(tiny_model_dir), batch_size=3, device_map="auto", threads=1)
    hf = load_backend(spec)
    assert isinstance(hf, HFBackend) and hf.device_map == "auto"
    # the fingerprint ignores placement: the same weights at the same dtype share cached text
    assert hf.fingerprint() == HFBackend(tiny_model_dir).fingerprint()
    completions = hf.generate(CONVERSATIONS[:3], GREEDY)
    assert seen["device_map"] == "auto"
    assert hf.resolved_device() == "cpu"  # where the inputs went: the input embeddings' device
    monkeypatch.undo()
    assert completions == HFBackend(tiny_model_dir, batch_size=3).generate(CONVERSATIONS[:3], GREEDY)


def test_without_device_map_from_pretrained_gets_none(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoModelForCausalLM

    real = AutoModelForCausalLM.from_pretrained
    seen: dict[str, object] = {}

    def from_pretrained(*args: object, **kwargs: object) -> object:
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", from_pretrained)
    HFBackend(tiny_model_dir, device="cpu").load()
    assert "device_map" not in seen and seen["dtype"] == torch.float32


def test_inputs_go_to_the_input_embeddings_device() -> None:
    from tunesafe.backends.hf_loading import input_device

    class Sharded:
        device = torch.device("meta")  # the first parameter's device: not where the inputs go

        def get_input_embeddings(self) -> torch.nn.Module:
            return torch.nn.Embedding(4, 2)

    class NoEmbeddings:
        device = torch.device("cpu")

        def get_input_embeddings(self) -> torch.nn.Module:
            raise NotImplementedError

    assert input_device(Sharded()) == torch.device("cpu")
    assert input_device(NoEmbeddings()) == torch.device("cpu")


def test_device_map_and_an_explicit_device_conflict(tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="device_map"):
        HFBackend(tiny_model_dir, device="cpu", device_map="auto")
    with pytest.raises(ValueError, match="dtype"):
        HFBackend(tiny_model_dir, dtype="half")


def test_describe_names_the_precision_that_ran(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _cuda(monkeypatch, available=False, bf16=False)
    assert HFBackend(tiny_model_dir).describe() == {"dtype": "float32", "device": "cpu"}
    _cuda(monkeypatch, available=True, bf16=True)
    described = HFBackend(tiny_model_dir, device_map="auto").describe()
    assert described == {"dtype": "bfloat16", "device": "cuda", "device_map": "auto"}
