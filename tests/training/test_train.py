"""The training loop on real aligned CelebA crops: recipes, schedule, sample order, loss falls, exact resume, export."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pydantic import ValidationError
from typer.testing import CliRunner

from service.cli import app
from service.vision.embedder import Embedder
from tests.conftest import DATA_DIR
from training.checkpoint import checkpoint_path, latest_checkpoint, load_checkpoint
from training.config import TrainConfig, load_config
from training.data.dataset import PackedFaces
from training.data.prepare import prepare
from training.distributed import EpochSampler
from training.evaluation.torch_embed import network_embedder
from training.release import load_backbone
from training.schedule import LrSchedule
from training.train import TrainResult, train

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"
CELEBA_FACES = DATA_DIR / "celeba" / "faces"
IDENTITIES, PER_IDENTITY = ("00015", "00022", "00047", "00066"), 8  # 32 crops: 4 steps of 8 per epoch
STEPS = 20


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 identities x 8 real CelebA images, prepared (detected + aligned) by training.data.prepare."""
    src = tmp_path_factory.mktemp("tiny_src")
    for identity in IDENTITIES:
        (src / identity).mkdir()
        for path in sorted((CELEBA_FACES / identity).iterdir())[:PER_IDENTITY]:
            shutil.copy(path, src / identity / path.name)
    out = tmp_path_factory.mktemp("tiny_packed")
    prepare(src, out, workers=2)
    return out


def tiny(data: Path, out: Path, *overrides: str) -> TrainConfig:
    return load_config(CONFIGS / "tiny_cpu.yaml", [f"data.dir={data}", f"out_dir={out}", *overrides])


@pytest.fixture(scope="module")
def straight(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainConfig, TrainResult]:
    """STEPS steps in one go, the tiny recipe as shipped."""
    cfg = tiny(tiny_data, tmp_path_factory.mktemp("runs"))
    return cfg, train(cfg)


def test_every_recipe_builds() -> None:
    recipes = {path.stem: load_config(path) for path in sorted(CONFIGS.glob("*.yaml"))}
    assert {"base", "celeba_normface", "celeba_normface_rf", "celeba_normface_iam", "celeba_cosface",
            "celeba_cosface_rf_iam", "tiny_cpu"} <= set(recipes)
    both = recipes["celeba_cosface_rf_iam"]
    assert (both.loss.base, both.loss.m, both.loss.lambda_, both.loss.beta) == ("cosface", 0.35, 6.0, 0.8)
    assert both.optim.weight_decay == 5e-4 and both.schedule.milestones == [16, 24]  # inherited from base
    assert recipes["celeba_normface_iam"].loss.beta == 0.8
    assert recipes["tiny_cpu"].amp == "off" and recipes["tiny_cpu"].max_steps == STEPS


def test_layers_merge_and_typos_fail(tmp_path: Path) -> None:
    (tmp_path / "child.yaml").write_text(f"inherits: {CONFIGS / 'base.yaml'}\nname: c\noptim: {{lr: 0.05}}\n")
    cfg = load_config(tmp_path / "child.yaml", ["loss.beta=0.5"])
    assert (cfg.optim.lr, cfg.optim.momentum, cfg.loss.beta) == (0.05, 0.9, 0.5)
    with pytest.raises(ValidationError):
        load_config(tmp_path / "child.yaml", ["optim.lr_decay=0.1"])
    with pytest.raises(ValidationError):
        load_config(tmp_path / "child.yaml", ["loss.lamda=1"])


def test_lr_schedule_warmup_steps_and_cosine() -> None:
    step = LrSchedule("step", 100, warmup_steps=10, milestone_steps=(50, 80), gamma=0.1)
    assert [step(i) for i in (0, 9, 10, 49, 50, 80, 99)] == pytest.approx([0.1, 1, 1, 1, 0.1, 0.01, 0.01])
    cosine = LrSchedule("cosine", 100, min_ratio=0.01)
    assert (cosine(0), cosine(50), cosine(100)) == pytest.approx((1.0, 0.505, 0.01))


def test_sampler_splits_ranks_and_skips_consumed_batches() -> None:
    ranks = [EpochSampler(50, 4, seed=1, rank=r, world_size=2) for r in (0, 1)]
    orders = [s.epoch_order(3) for s in ranks]
    assert ranks[0].steps_per_epoch == 6 and all(len(o) == 24 for o in orders)
    indices = [i for order in orders for _, i in order]
    assert len(set(indices)) == 48  # disjoint ranks, no padding duplicates
    assert orders[0] != ranks[0].epoch_order(4)  # a new permutation every epoch
    ranks[0].set_epoch(3, skip_batches=2)
    assert list(ranks[0]) == orders[0][8:] and len(ranks[0]) == 16
    single = EpochSampler(50, 4, seed=1).epoch_order(3)  # the flip seeds follow the global position
    assert sorted(orders[0] + orders[1]) == sorted(single[:48])


def test_twenty_steps_lower_the_loss(straight: tuple[TrainConfig, TrainResult]) -> None:
    cfg, result = straight
    assert result.steps == STEPS and len(result.losses) == STEPS  # log_every: 1
    first, last = np.mean(result.losses[:4]), np.mean(result.losses[-4:])
    assert last < 0.5 * first and last < np.log(len(IDENTITIES)), result.losses  # learnt: better than chance
    assert latest_checkpoint(cfg.checkpoint_dir) == result.checkpoint
    assert len(list(cfg.checkpoint_dir.glob("*.pt"))) == cfg.keep_checkpoints
    assert list(cfg.log_dir.glob("events.out.tfevents.*"))


def test_a_finished_run_trains_nothing_and_names_its_checkpoint(straight: tuple[TrainConfig, TrainResult]) -> None:
    cfg, result = straight
    again = train(cfg)
    assert (again.steps, again.checkpoint) == (STEPS, result.checkpoint)
    assert latest_checkpoint(cfg.checkpoint_dir) == result.checkpoint  # nothing new written


def test_resume_is_exact(tiny_data: Path, tmp_path: Path, straight: tuple[TrainConfig, TrainResult]) -> None:
    """Resume the straight run's step-12 checkpoint (an epoch boundary), stop mid-epoch at 14, resume to 20:
    bit for bit the straight run's weights, momenta and losses."""
    cfg = tiny(tiny_data, tmp_path)
    cfg.checkpoint_dir.mkdir(parents=True)
    shutil.copy(checkpoint_path(straight[0].checkpoint_dir, 12), cfg.checkpoint_dir)
    first = train(tiny(tiny_data, tmp_path, "max_steps=14"))  # auto-resumes from the run's newest checkpoint
    assert first.steps == 14 and load_checkpoint(first.checkpoint)["progress"].batch_in_epoch == 2
    resumed = train(cfg)
    assert resumed.steps == STEPS
    a, b = load_checkpoint(straight[1].checkpoint), load_checkpoint(resumed.checkpoint)
    for part in ("backbone", "loss"):
        for key, tensor in a[part].items():
            assert torch.equal(tensor, b[part][key]), f"{part}.{key}"
    momenta = zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True)
    assert all(torch.equal(x["momentum_buffer"], y["momentum_buffer"]) for x, y in momenta)
    assert first.losses + resumed.losses == straight[1].losses[12:]


def test_export_cli_serves_the_checkpoint(tiny_data: Path, tmp_path: Path,
                                          straight: tuple[TrainConfig, TrainResult]) -> None:
    checkpoint, out = straight[1].checkpoint, tmp_path / "models" / "tiny"
    run = CliRunner().invoke(app, ["export", "--checkpoint", str(checkpoint), "--name", "tiny", "--out", str(out)])
    assert run.exit_code == 0, run.output
    embedder = Embedder(out)
    card = embedder.card
    assert (card.name, card.training.base_loss, card.training.seed, card.training.epochs) == ("tiny", "normface", 0, 5)
    assert card.metrics.sep_mean is not None and -1 < card.metrics.sep_mean < 1
    crops = np.stack([PackedFaces(tiny_data, train=False).crop(i) for i in range(4)])
    expected = network_embedder(load_backbone(checkpoint)[0])(crops)
    np.testing.assert_allclose(embedder.embed(crops), expected, atol=1e-4)
