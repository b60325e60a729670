"""The training configs compose as promised: the quickstart as Hydra's default experiment, no quickstart value in
any other recipe, one home for the image size (a mismatch stops the run at once naming both keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.configs import compose_config
from omegaconf import DictConfig, OmegaConf
from test_train import QUIET, run_script

from facerevive.paths import CONFIG_DIR
from facerevive.training.preflight import size_problems

pytestmark = pytest.mark.unit

EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))
# The GFPGAN generators (the StyleGAN2 ones of the same group are the prior recipe's).
GENERATORS = sorted(p.stem for p in (CONFIG_DIR / "model" / "net_g").glob("gfpgan_*.yaml"))
QUICKSTART_FILE = CONFIG_DIR / "experiment" / "quickstart.yaml"


def compose_train(tmp_path: Path, args: list[str]) -> DictConfig:
    """The config `python train.py <args>` composes (main() hands Hydra the command line as it is)."""
    return compose_config("train.yaml", [*QUIET, *args], tmp_path)


def leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> value of every leaf of a plain config tree (lists are leaves)."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(leaves(value, f"{prefix}{key}."))
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): node}


def own_keys(experiment: str | None) -> set[str]:
    """The keys an experiment file sets itself (its values are its own, not inherited)."""
    if experiment is None:
        return set()
    raw = yaml.safe_load((CONFIG_DIR / "experiment" / f"{experiment}.yaml").read_text())
    raw.pop("defaults", None)
    return set(leaves(raw))


def quickstart_deltas() -> tuple[dict[str, Any], dict[str, str]]:
    """The quickstart's own values (resolved later by key) and its group choices."""
    raw = yaml.safe_load(QUICKSTART_FILE.read_text())
    groups = {}
    for entry in raw.pop("defaults"):
        ((key, value),) = entry.items()
        groups[key.removeprefix("override /")] = value
    return leaves(raw), groups


def resolved(cfg: DictConfig) -> dict[str, Any]:
    return leaves(OmegaConf.to_container(cfg, resolve=True))


def quickstart_values_in(cfg: DictConfig, base: DictConfig, quick: DictConfig, own: set[str]) -> list[str]:
    """Quickstart values (`quick` at the keys and groups the quickstart file sets) that `cfg` holds although the
    base recipe `base` does not and the command line or experiment did not choose them itself (`own`)."""
    values, groups = quickstart_deltas()
    mine, theirs, quickstart = resolved(cfg), resolved(base), resolved(quick)
    missing = object()
    carried = []
    for key in values:
        if any(key == k or key.startswith(k + ".") for k in own):
            continue
        for leaf, value in quickstart.items():
            inside = leaf == key or leaf.startswith(key + ".")
            if inside and mine.get(leaf, missing) == value and theirs.get(leaf, missing) != value:
                carried.append(f"{leaf}={value!r}")
    choices, base_choices = cfg.hydra.runtime.choices, base.hydra.runtime.choices
    for group, choice in groups.items():
        if group not in own and choices.get(group) == choice and base_choices.get(group) != choice:
            carried.append(f"{group}={choice}")
    return carried


def references(tmp_path: Path) -> tuple[DictConfig, DictConfig]:
    """The base recipe (train.yaml without experiment) and the quickstart."""
    return compose_train(tmp_path, ["~experiment"]), compose_train(tmp_path, [])


def test_group_choices_compose_on_the_quickstart(tmp_path: Path) -> None:
    """Hydra's default list: a group choice changes that group of the quickstart, `experiment=` replaces it,
    `~experiment` leaves it out."""
    quick = compose_train(tmp_path, [])
    assert quick.task_name == "quickstart" and quick.hydra.runtime.choices["model/net_g"] == "gfpgan_clean_tiny"
    for args in (["model/net_g=gfpgan_v1", "trainer=ddp"], ["data/degradation=none"], ["logger=csv"]):
        cfg = compose_train(tmp_path, args)
        assert cfg.hydra.runtime.choices["experiment"] == "quickstart" and cfg.task_name == "quickstart", args
        assert cfg.model.total_iter == quick.model.total_iter, args
    generator = compose_train(tmp_path, ["model/net_g=gfpgan_v1"])
    assert generator.data.out_size == generator.model.net_g.out_size == generator.model.net_d.out_size == 512
    assert size_problems(generator) == []
    base = compose_train(tmp_path, ["~experiment", "model/net_g=gfpgan_v1"])
    assert base.hydra.runtime.choices.get("experiment") is None and base.task_name == "train"
    assert compose_train(tmp_path, ["experiment=gfpgan_v1"]).task_name == "gfpgan_v1"


def group_choices(experiment: str) -> list[str]:
    """The config-group choices an experiment makes itself (`override /data: prior` -> `data=prior`), through
    the experiments it builds on."""
    raw = yaml.safe_load((CONFIG_DIR / "experiment" / f"{experiment}.yaml").read_text())
    choices: list[str] = []
    for entry in raw.get("defaults", []):
        if isinstance(entry, str):
            choices += group_choices(entry) if entry != "_self_" else []
            continue
        ((key, value),) = entry.items()
        choices.append(f"{key.removeprefix('override /')}={value}")
    return choices


@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if e != "quickstart"])
def test_no_experiment_carries_a_quickstart_value(tmp_path: Path, experiment: str) -> None:
    """Against the base recipe with the experiment's own group choices (a prior experiment chooses data=prior,
    trainer=cpu, ... itself): no value may come from the quickstart."""
    base = compose_train(tmp_path, ["~experiment", *group_choices(experiment)])
    quick = compose_train(tmp_path, [])
    cfg = compose_train(tmp_path, [f"experiment={experiment}"])
    assert cfg.task_name == experiment
    assert quickstart_values_in(cfg, base, quick, own_keys(experiment)) == []
    assert size_problems(cfg) == []


@pytest.mark.parametrize("generator", GENERATORS)
def test_no_generator_choice_carries_a_quickstart_value(tmp_path: Path, generator: str) -> None:
    """`python train.py '~experiment' model/net_g=<name> trainer=ddp` is the base recipe with that generator,
    sizes agreeing."""
    base, quick = references(tmp_path)
    cfg = compose_train(tmp_path, ["~experiment", f"model/net_g={generator}", "trainer=ddp"])
    assert cfg.hydra.runtime.choices.get("experiment") is None and cfg.task_name == "train"
    assert quickstart_values_in(cfg, base, quick, {"model/net_g"}) == []
    assert cfg.data.out_size == cfg.model.net_g.out_size == cfg.model.net_d.out_size
    assert size_problems(cfg) == []


def test_the_quickstart_check_sees_quickstart_values(tmp_path: Path) -> None:
    """The check above is not vacuous: the quickstart itself is full of them."""
    base, quick = references(tmp_path)
    carried = quickstart_values_in(quick, base, quick, set())
    assert "model.total_iter=400" in carried and "trainer=cpu" in carried


def test_size_mismatch_names_both_keys(tmp_path: Path) -> None:
    cfg = compose_train(tmp_path, ["data.out_size=128"])
    assert size_problems(cfg) == [
        "data.out_size=128 does not match model.net_g.out_size=64 (set model.net_g.out_size only)"
    ]
    cfg = compose_train(tmp_path, ["model.net_d.out_size=512"])
    (problem,) = size_problems(cfg)
    assert problem.startswith("model.net_d.out_size=512 does not match model.net_g.out_size=64")


def test_size_mismatch_stops_train_py_at_start(tmp_path: Path) -> None:
    result = run_script(["data.out_size=128", f"paths.log_dir={tmp_path}"], check=False, timeout=300)
    assert result.returncode != 0
    assert "data.out_size=128 does not match model.net_g.out_size=64" in result.stderr + result.stdout
    assert not list(tmp_path.rglob("*.ckpt"))


def test_paper_recipe_job_config_shows_no_quickstart_value(tmp_path: Path) -> None:
    """`python train.py experiment=gfpgan_v1 --cfg job` (the printed job config)."""
    result = run_script(["experiment=gfpgan_v1", "--cfg", "job"], quiet=False, timeout=300)
    job = yaml.safe_load(result.stdout)
    assert job["task_name"] == "gfpgan_v1" and "quickstart" not in result.stdout
    assert job["data"]["root"].endswith("ffhq/ffhq_512") and job["model"]["total_iter"] == 800000
    assert job["data"]["out_size"] == "${model.net_g.out_size}" and job["model"]["net_g"]["out_size"] == 512


@pytest.mark.parametrize(
    "name", ["GFPGANv1", "GFPGANv1Clean", "GFPGANBilinear", "StyleGAN2Generator", "StyleGAN2GeneratorClean"]
)
def test_generators_state_their_out_size(name: str) -> None:
    """Every generator holds `out_size` as given; the restore and evaluation readers take it from there."""
    import torch

    from facerevive import archs
    from facerevive.evaluation.methods import network_input_size
    from facerevive.restore.network import face_size_of

    with torch.device("meta"):
        net = getattr(archs, name)(out_size=32, num_style_feat=16, num_mlp=1, channel_multiplier=1, narrow=0.125)
    assert net.out_size == face_size_of(net) == network_input_size(net) == 32
