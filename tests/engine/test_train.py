"""End-to-end training: every registered loss in both stages, determinism, resume, failures."""

from __future__ import annotations

import json

import pytest
import torch

import oltr.losses
from oltr.engine import (NonFiniteLossError, RunDirError, StageHandoffError, is_complete, load_checkpoint, train)
from oltr.engine.checkpoint import save_atomic
from _engine_helpers import read_metrics, tiny_cfg


@pytest.fixture(scope="module")
def stage1_ce(tiny_root, tmp_path_factory):
    """A finished tiny stage-1 CE run in ``<runs>/stage_1_ce_seed0`` (the default stage-2 hand-off path)."""
    runs = tmp_path_factory.mktemp("runs")
    return train(tiny_cfg(tiny_root, 1), runs / "stage_1_ce_seed0", progress=False)


def test_stage1_run_directory(stage1_ce):
    names = {p.name for p in stage1_ce.iterdir()}
    assert {"config.yaml", "metrics.jsonl", "last.pt", "best.pt", "train.log", "complete.json"} <= names
    rows = read_metrics(stage1_ce, drop_time=False)
    assert [r["epoch"] for r in rows] == [1, 2]  # counted from 1, as in the log
    assert set(rows[0]["lr"]) == {"features", "classifier"}
    assert rows[1]["lr"]["features"] == pytest.approx(0.005)  # StepLR(step 1, gamma 0.1) stepped per epoch
    assert {"loss", "loss_cls", "val_overall", "xi", "time"} <= set(rows[0])
    assert "epoch 2/2" in (stage1_ce / "train.log").read_text()
    best = load_checkpoint(stage1_ce / "best.pt")
    assert best["epoch"] == max(rows, key=lambda r: r["val_overall"])["epoch"]
    assert is_complete(stage1_ce)


def _loss_section(name: str) -> dict:
    return {"name": name}


@pytest.mark.slow
@pytest.mark.parametrize("loss", oltr.losses.available())
def test_every_loss_trains_both_stages(tiny_root, stage1_ce, tmp_path, loss):
    # Stage 1 must learn: over 5 epochs at a constant learning rate the training loss falls and the best
    # validation top-1 beats chance (1/4 on the balanced val split). Stage 2 starts from the shared 2-epoch CE
    # stage 1 (explicit init_from): a short stage 1 can leave BatchNorm running statistics so far off that the
    # eval-mode centroid pass gives huge centroids (seen with LDAM), a property of the tiny setting, not the loss.
    s1 = train(tiny_cfg(tiny_root, 1, epochs=5, loss=_loss_section(loss), **{"optim.step_size": 10}),
               tmp_path / f"stage_1_{loss}_seed0", progress=False)
    s2 = train(tiny_cfg(tiny_root, 2, epochs=1, loss=_loss_section(loss), init_from=str(stage1_ce)),
               tmp_path / f"stage_2_meta_embedding_{loss}_seed0", progress=False)
    for run in (s1, s2):
        for row in read_metrics(run):
            assert all(isinstance(row[k], float) and row[k] == row[k] for k in row if k.startswith("loss"))
    rows = read_metrics(s1)
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert max(r["val_overall"] for r in rows) > 1 / 4
    (row,) = read_metrics(s2)
    assert {"loss_cls", "loss_centroids"} <= set(row) and set(row["lr"]) == {"features", "classifier", "centroids"}
    if oltr.losses.loss_info(loss).meta.get("has_schedule"):
        assert row["xi"] is not None


def test_cyclical_loss_gets_stage_epochs_and_set_epoch(tiny_root, tmp_path):
    run = train(tiny_cfg(tiny_root, 1, epochs=3, loss={"name": "cfl", "gamma_hc": 3, "factor": 2}), tmp_path / "r",
                progress=False)
    xis = [r["xi"] for r in read_metrics(run)]
    expected = [oltr.losses.cyclical_xi(e, 3, 2) for e in range(3)]  # epochs defaults to the stage's 3
    assert xis == pytest.approx(expected)


def test_fork_schedule_runs_past_its_loss_epochs_in_training(tiny_root, tmp_path):
    """schedule oltr_fork: the trainer's 0-based epoch e reaches the fork's formula at e + 1, loss.epochs (3)
    as given (the stage also trains 3), unclamped: E=3, f=2 -> 1-2/2, (4/2-1)/1, (6/2-1)/1."""
    loss = {"name": "cfl", "gamma_hc": 2, "factor": 2, "epochs": 3, "schedule": "oltr_fork"}
    run = train(tiny_cfg(tiny_root, 1, epochs=3, loss=loss), tmp_path / "r", progress=False)
    assert [r["xi"] for r in read_metrics(run)] == [0.0, 1.0, 2.0]


def test_same_seed_same_metrics(tiny_root, tmp_path):
    cfg = tiny_cfg(tiny_root, 1)
    a = train(cfg, tmp_path / "a", progress=False)
    b = train(cfg, tmp_path / "b", progress=False)
    assert read_metrics(a) == read_metrics(b)
    c = train(tiny_cfg(tiny_root, 1, seed=1), tmp_path / "c", progress=False)
    assert read_metrics(c) != read_metrics(a)


@pytest.mark.parametrize("stage", [1, 2])
def test_resume_equals_uninterrupted(tiny_root, stage1_ce, stage, tmp_path):
    extra = {} if stage == 1 else {"init_from": str(stage1_ce)}
    cfg = tiny_cfg(tiny_root, stage, epochs=3, **extra)
    full = train(cfg, tmp_path / "full", progress=False)
    cut = train(cfg, tmp_path / "cut", progress=False, stop_after_epoch=0)  # "killed" after epoch 0
    ckpt = load_checkpoint(cut / "last.pt")
    assert not is_complete(cut) and ckpt["epoch"] == 1  # epochs completed
    # One resume mechanism: the per-epoch reseed. Checkpoints hold no RNG/sampler state, and the keys an
    # older checkpoint carries are ignored (garbage in them changes nothing).
    assert not {"rng", "sampler"} & set(ckpt)
    save_atomic({**ckpt, "rng": {"python": "garbage"}, "sampler": {"kind": "nonsense", "epoch": 99}}, cut / "last.pt")
    with pytest.raises(RunDirError, match="--resume"):
        train(cfg, cut, progress=False)
    train(cfg, cut, resume=True, progress=False)
    assert is_complete(cut)
    assert read_metrics(cut) == read_metrics(full)
    a, b = load_checkpoint(full / "last.pt")["model"], load_checkpoint(cut / "last.pt")["model"]
    for part in ("feature_model", "classifier"):
        for key in a[part]:
            torch.testing.assert_close(a[part][key], b[part][key], rtol=0, atol=0)


def test_run_dir_policy(tiny_root, stage1_ce):
    cfg = tiny_cfg(tiny_root, 1)
    with pytest.raises(RunDirError, match="finished run"):
        train(cfg, stage1_ce, progress=False)
    before = (stage1_ce / "metrics.jsonl").read_text()
    assert train(cfg, stage1_ce, resume=True, progress=False) == stage1_ce  # complete: returns at once
    assert (stage1_ce / "metrics.jsonl").read_text() == before
    with pytest.raises(RunDirError, match="different config"):
        train(tiny_cfg(tiny_root, 1, epochs=5), stage1_ce, resume=True, progress=False)


def test_a_start_that_failed_before_its_first_checkpoint_can_simply_be_retried(tiny_root, tmp_path):
    run = tmp_path / "retry"
    missing = tiny_cfg(tiny_root, 1, **{"data.root": str(tmp_path / "nowhere")})
    with pytest.raises(FileNotFoundError):
        train(missing, run, progress=False)
    assert (run / "config.yaml").is_file() and not (run / "last.pt").exists()
    # Corrected config, no --resume: nothing of the failed start is worth keeping, so it starts afresh.
    assert is_complete(train(tiny_cfg(tiny_root, 1, epochs=1), run, progress=False))


class _NanAfter(torch.nn.Module):
    """CE that returns NaN from the ``n``-th call on."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.calls = n, 0

    def forward(self, logits, target):
        self.calls += 1
        loss = torch.nn.functional.cross_entropy(logits, target)
        return loss * float("nan") if self.calls > self.n else loss

    def set_epoch(self, epoch):
        pass


def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(tiny_root, tmp_path, monkeypatch):
    steps = 90 // 16  # 5 steps per epoch
    monkeypatch.setattr(oltr.losses, "build_loss", lambda name, **kw: _NanAfter(steps + 2))
    run = tmp_path / "nan"
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step 3") as err:
        train(tiny_cfg(tiny_root, 1, epochs=3), run, progress=False)
    assert (err.value.epoch, err.value.step) == (1, 2)
    assert load_checkpoint(run / "last.pt")["epoch"] == 1 and not is_complete(run)
    assert "non-finite loss in epoch 2, step 3" in (run / "train.log").read_text()
    assert [r["epoch"] for r in read_metrics(run)] == [1]


def test_nan_validation_logits_after_a_finite_loss_stop_the_run_with_a_named_error(tiny_root, tmp_path, monkeypatch):
    """A model can diverge with a finite last loss (overflowed weights or BatchNorm statistics): the
    epoch's validation logits are checked, and the run stops naming the epoch, not deep in a metric."""
    import oltr.engine.run as run_module
    from oltr.engine.loop import NonFiniteLogitsError

    real = run_module.compute_logits
    calls = []

    def nan_on_second_epoch(*args, **kwargs):
        logits, labels = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            logits[0, 0] = float("nan")
        return logits, labels

    monkeypatch.setattr(run_module, "compute_logits", nan_on_second_epoch)
    run = tmp_path / "diverged"
    with pytest.raises(NonFiniteLogitsError, match=r"1 validation logits are NaN/inf after epoch 2") as err:
        train(tiny_cfg(tiny_root, 1, epochs=3), run, progress=False)
    assert isinstance(err.value, NonFiniteLossError) and "the last good checkpoint is" in str(err.value)
    assert load_checkpoint(run / "last.pt")["epoch"] == 1 and not is_complete(run)


def test_stage2_needs_a_matching_stage1(tiny_root, stage1_ce, tmp_path):
    runs = stage1_ce.parent
    # default hand-off: sibling stage_1_<loss>_seed<seed>; a focal stage 2 finds no focal stage 1
    with pytest.raises(StageHandoffError, match="stage-1 run not found"):
        train(tiny_cfg(tiny_root, 2, loss={"name": "focal"}), runs / "s2_focal", progress=False)
    # a mismatched loss at the default path is an error (the CFL-code pitfall)
    (runs / "stage_1_focal_seed0").symlink_to(stage1_ce, target_is_directory=True)
    with pytest.raises(StageHandoffError, match=r"trained differently: loss"):
        train(tiny_cfg(tiny_root, 2, loss={"name": "focal"}), runs / "s2_focal_b", progress=False)
    # an explicit init_from with another loss only warns
    train(tiny_cfg(tiny_root, 2, epochs=1, loss={"name": "focal"}, init_from=str(stage1_ce)), tmp_path / "ok",
          progress=False)
    # dataset / model mismatch is always an error
    with pytest.raises(StageHandoffError, match="model.width"):
        train(tiny_cfg(tiny_root, 2, init_from=str(stage1_ce), **{"model.width": 8, "model.fc_add_dim": 64}),
              tmp_path / "bad", progress=False)
    # an unfinished stage 1 is an error
    cut = train(tiny_cfg(tiny_root, 1, epochs=2), tmp_path / "cut1", progress=False, stop_after_epoch=0)
    with pytest.raises(StageHandoffError, match="not finished"):
        train(tiny_cfg(tiny_root, 2, init_from=str(cut)), tmp_path / "bad2", progress=False)


def test_stage2_handoff_loads_stage1_and_initialises_centroids(tiny_root, stage1_ce, tmp_path):
    from oltr.engine.build import build_dataset, build_task, eval_loader
    from oltr.engine.distributed import DistEnv

    run = train(tiny_cfg(tiny_root, 2, epochs=1, init_from=str(stage1_ce)), tmp_path / "s2", progress=False)
    log = (run / "train.log").read_text()
    assert "stage 2 starts from" in log and "centroids initialised from 90 training images" in log
    # centroid init = exact class means of the direct features under the stage-2 model before training
    cfg = tiny_cfg(tiny_root, 2, init_from=str(stage1_ce))
    task = build_task(cfg, 4, None)
    from oltr.engine.handoff import init_centroids_pass, init_from_stage1

    init_from_stage1(task, cfg, stage1_ce)
    s1 = load_checkpoint(stage1_ce / "best.pt")["model"]
    for k, v in s1["feature_model"].items():
        torch.testing.assert_close(task.feature_model.state_dict()[k], v)
    torch.testing.assert_close(task.classifier.hallucinator.weight, s1["classifier"]["fc.weight"])
    ds = build_dataset(cfg, "train", num_classes=4)
    env = DistEnv()
    import contextlib

    c = init_centroids_pass(task, eval_loader(cfg, ds, env), torch.device("cpu"), 4,
                            autocast=contextlib.nullcontext, channels_last=False, progress=False)
    task.eval()
    with torch.no_grad():
        feats = torch.cat([task.feature_model(x)[0] for x, _, _ in eval_loader(cfg, ds, env)])
    labels = torch.as_tensor(ds.labels)
    means = torch.stack([feats[labels == k].mean(0) for k in range(4)])
    torch.testing.assert_close(c.float(), means, rtol=1e-5, atol=1e-5)


def test_amp_bf16_on_cpu_and_fp16_refused(tiny_root, tmp_path):
    run = train(tiny_cfg(tiny_root, 1, epochs=1, amp="bf16", channels_last=True), tmp_path / "bf16", progress=False)
    assert is_complete(run)
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        train(tiny_cfg(tiny_root, 1, epochs=1, amp="fp16"), tmp_path / "fp16", progress=False, device="cpu")


def test_metrics_lines_are_json(stage1_ce):
    for line in (stage1_ce / "metrics.jsonl").read_text().splitlines():
        json.loads(line)


@pytest.mark.slow
def test_compile_runs_on_cpu(tiny_root, tmp_path):
    import shutil

    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("torch.compile on CPU needs a C compiler")
    eager = read_metrics(train(tiny_cfg(tiny_root, 1, epochs=1), tmp_path / "eager", progress=False))
    compiled = read_metrics(train(tiny_cfg(tiny_root, 1, epochs=1, compile=True), tmp_path / "compiled",
                                  progress=False))
    assert compiled[0]["loss"] == pytest.approx(eager[0]["loss"], rel=1e-3)
