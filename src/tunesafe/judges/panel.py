"""A panel of judges: built from specs, each behind the verdict cache; LLM judge models load once per model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tunesafe.judges import make_judge, measures
from tunesafe.judges.base import JudgeInput

if TYPE_CHECKING:
    from tunesafe.backends.base import Backend
    from tunesafe.cache import CachedJudge, CacheMode, GenerationCache
    from tunesafe.config import JudgeSpec


class JudgePanel:
    """Judges built from specs, each wrapped in the verdict cache; LLM judge models load once per model.

    Args:
        specs: the judges, in report order (the first is the headline judge).
        cache: generation/verdict cache (None: no caching).
        backends: ready judge backends by judge display name (tests, embedding); others are loaded
            from each spec's ``model``.
    """

    def __init__(
        self,
        specs: Sequence[JudgeSpec],
        *,
        cache: GenerationCache | None = None,
        cache_mode: CacheMode = "read_write",
        backends: Mapping[str, Backend] | None = None,
    ) -> None:
        from tunesafe.cache import CachedBackend, CachedJudge

        names = [s.display_name for s in specs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"two judges share the name {duplicates}; give them distinct `name`s")
        self._owned: list[Any] = []
        shared: dict[str, Backend] = {}
        self.judges: list[CachedJudge] = []
        for spec in specs:
            backend = None
            if spec.model is not None:
                backend = (backends or {}).get(spec.display_name)
                if backend is None:
                    key = spec.model.model_dump_json()
                    if key not in shared:
                        from tunesafe.backends import load_backend

                        shared[key] = CachedBackend(load_backend(spec.model), cache, cache_mode)
                        self._owned.append(shared[key])
                    backend = shared[key]
            self.judges.append(CachedJudge(make_judge(spec, backend=backend), cache, cache_mode))

    @property
    def names(self) -> list[str]:
        return [j.name for j in self.judges]

    def fingerprints(self) -> dict[str, str]:
        return {f"judge:{j.name}": j.fingerprint() for j in self.judges}

    def describe(self) -> dict[str, dict[str, Any]]:
        """Each judge's kind of measurement and, for LLM judges, the prompt file and its sha256."""
        out: dict[str, dict[str, Any]] = {}
        for judge in self.judges:
            entry: dict[str, Any] = {"measures": measures(judge), "fingerprint": judge.fingerprint()}
            for attr in ("prompt_name", "prompt_sha256"):
                if hasattr(judge.inner, attr):
                    entry[attr] = getattr(judge.inner, attr)
            out[judge.name] = entry
        return out

    def judge(self, inputs: Sequence[JudgeInput]) -> list[list[Any]]:
        """Each input's verdicts (one per judge, in order); empty/degenerate completions are screened."""
        from tunesafe.judges.hygiene import apply_judges

        return apply_judges(self.judges, inputs)

    def close(self) -> None:
        for backend in self._owned:
            backend.close()
        self._owned.clear()

    def __enter__(self) -> JudgePanel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
