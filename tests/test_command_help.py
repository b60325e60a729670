"""`--help` of train and evaluate is a short text (what to run, the groups, the main keys with the values the
command line composes, where the full config is), not Hydra's dump of the whole config."""

from __future__ import annotations

import sys

import pytest

from facerevive.cli import evaluate, train

pytestmark = pytest.mark.unit


def help_of(main, args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    monkeypatch.setattr(sys, "argv", ["prog", *args])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code in (0, None)
    return capsys.readouterr().out


def test_train_help(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(train.main, ["--help"], monkeypatch, capsys)
    lines = text.splitlines()
    assert lines[0].startswith("usage: python train.py") and len(lines) < 60, text
    assert "== Config" not in text and "_target_" not in text
    assert "gfpgan_v1.4_finetune" in text and "wandb_offline" in text  # the groups' choices
    assert "model.total_iter=400" in text and "trainer.accelerator=cpu" in text  # the quickstart's values
    assert "configs/train.yaml" in text and "--hydra-help" in text


def test_train_help_shows_the_chosen_recipe(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    text = help_of(train.main, ["experiment=gfpgan_v1.4_finetune", "-h"], monkeypatch, capsys)
    assert "model.total_iter=100000" in text and "model.init.net_g=gfpgan_v1.4" in text


def test_evaluate_help(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(evaluate.main, ["--help"], monkeypatch, capsys)
    lines = text.splitlines()
    assert lines[0].startswith("usage: python evaluate.py") and len(lines) < 50, text
    assert "== Config" not in text and "_target_" not in text
    assert "celeba_test" in text and "methods=['input', 'gfpgan_v1.4', 'ours:latest']" in text
    assert "configs/evaluate.yaml" in text
