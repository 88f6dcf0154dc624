"""`tunesafe --version` and `tunesafe audit --model openai:<name> --base-url URL`."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunesafe import __version__
from tunesafe.cli import app
from tunesafe.config import AuditConfig, ConfigError, load_config, model_overrides


def test_version_prints_and_exits_0() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"tunesafe {__version__}"


def test_served_model_becomes_an_openai_endpoint() -> None:
    overrides = model_overrides("openai:harmful", base_url="http://127.0.0.1:8000/v1", api_key_env="VLLM_KEY")
    model = load_config(AuditConfig, None, overrides).model
    assert model.backend == "openai"
    assert model.endpoint is not None
    assert (model.endpoint.base_url, model.endpoint.model, model.endpoint.api_key_env) == (
        "http://127.0.0.1:8000/v1",
        "harmful",
        "VLLM_KEY",
    )


def test_served_name_stays_text_and_config_endpoint_settings_are_kept(tmp_path: Path) -> None:
    config = tmp_path / "audit.yaml"
    config.write_text("model:\n  endpoint: {base_url: http://old/v1, model: old, max_concurrency: 32}\n")
    overrides = model_overrides("openai:1.0", base_url="http://127.0.0.1:8080/v1")
    endpoint = load_config(AuditConfig, config, overrides).model.endpoint
    assert endpoint is not None
    assert (endpoint.model, endpoint.base_url, endpoint.max_concurrency) == ("1.0", "http://127.0.0.1:8080/v1", 32)


def test_base_url_defaults_to_openai_base_url() -> None:
    env = {"OPENAI_BASE_URL": "http://10.0.0.5:8000/v1"}
    overrides = model_overrides("openai:m", environ=env)
    assert load_config(AuditConfig, None, overrides).model.endpoint.base_url == "http://10.0.0.5:8000/v1"
    explicit = model_overrides("openai:m", base_url="http://127.0.0.1:1/v1", environ=env)
    assert load_config(AuditConfig, None, explicit).model.endpoint.base_url == "http://127.0.0.1:1/v1"


def test_other_models_are_sources() -> None:
    assert model_overrides(None) == []
    cfg = load_config(AuditConfig, None, model_overrides("hf:org/name"))
    assert (cfg.model.source, cfg.model.backend, cfg.model.endpoint) == ("hf:org/name", "hf", None)


@pytest.mark.parametrize(
    ("model", "kwargs", "match"),
    [
        ("openai:m", {}, "needs --base-url"),
        ("openai:", {"base_url": "http://127.0.0.1:8000/v1"}, "served model's name"),
        ("./local", {"base_url": "http://127.0.0.1:8000/v1"}, "go with --model openai:"),
        (None, {"api_key_env": "KEY"}, "go with --model openai:"),
    ],
)
def test_model_flag_errors(model: str | None, kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        model_overrides(model, environ={}, **kwargs)


def test_cli_served_model_without_base_url_is_a_one_line_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    result = CliRunner().invoke(app, ["audit", "--model", "openai:harmful", "-q"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --model openai:harmful needs --base-url")


def test_cli_passes_the_served_model_to_the_audit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import tunesafe.runner

    seen: list[AuditConfig] = []

    def fake_run_audit(cfg: AuditConfig, output: Path | None, **_: object) -> None:
        seen.append(cfg)
        raise RuntimeError("stop here")

    monkeypatch.setattr(tunesafe.runner, "run_audit", fake_run_audit)
    args = ["audit", "--model", "openai:harmful", "--base-url", "http://127.0.0.1:8000/v1", "-q"]
    result = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "run")])
    assert result.exit_code == 1 and "stop here" in result.stderr
    assert seen[0].model.backend == "openai"
    assert seen[0].model.endpoint.model == "harmful"


def test_llamacpp_prefix_runs_a_gguf_in_process() -> None:
    assert model_overrides("llamacpp:./m.gguf") == ["model.backend=llamacpp", 'model.source="./m.gguf"']
    with pytest.raises(ConfigError, match="needs a GGUF file"):
        model_overrides("llamacpp:")
