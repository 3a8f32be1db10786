"""Mixup / CutMix of training batches and the weight EMA (torchvision v2, torch.optim.swa_utils)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from oltr.config import ConfigError, config_hash, from_dict
from oltr.engine import is_complete, load_checkpoint, train
from oltr.engine.build import build_task
from oltr.engine.checkpoint import seed_everything
from oltr.engine.mixing import build_batch_mix
from oltr.losses import build_loss
from _engine_helpers import read_metrics, tiny_cfg, tiny_dict

K = 5


def _batch(b: int = 8):
    g = torch.Generator().manual_seed(3)
    return torch.randn(b, 3, 6, 6, generator=g), torch.tensor([0, 1, 2, 3, 4, 0, 2, 1])[:b]


def test_mixup_targets_are_convex_combinations_and_the_loss_is_the_mixed_loss():
    x, y = _batch()
    torch.manual_seed(0)
    xm, t = build_batch_mix(0.4, 0.0, K)(x.clone(), y)
    y2 = y.roll(1, 0)  # torchvision pairs each sample with its predecessor
    assert t.shape == (8, K) and torch.all(t >= 0) and torch.allclose(t.sum(1), torch.ones(8))
    lam = float(t[0, y[0]])  # y[0] != y2[0]: the weight of the sample's own class
    assert 0 < lam < 1
    torch.testing.assert_close(t, lam * F.one_hot(y, K).float() + (1 - lam) * F.one_hot(y2, K).float())
    torch.testing.assert_close(xm, lam * x + (1 - lam) * x.roll(1, 0))
    # The registry's CE on the soft targets is the lam-weighted CE of the two hard labels (linear in the target).
    z = torch.randn(8, K, generator=torch.Generator().manual_seed(1))
    by_hand = lam * F.cross_entropy(z, y) + (1 - lam) * F.cross_entropy(z, y2)
    torch.testing.assert_close(build_loss("ce")(z, t), by_hand)
    # ... and a focal loss gets the expectation over the mixed target: sum_j t_j * focal(z, j).
    focal = build_loss("focal", gamma=2.0)
    per_class = torch.stack([_focal_rows(z, j, 2.0) for j in range(K)], 1)  # (B, K): focal loss of label j
    torch.testing.assert_close(focal(z, t), (t * per_class).sum(1).mean())


def _focal_rows(z: torch.Tensor, j: int, gamma: float) -> torch.Tensor:
    logp = z.log_softmax(1)[:, j]
    return -((1 - logp.exp()) ** gamma) * logp


def test_cutmix_pastes_a_box_and_weights_targets_by_its_area():
    x, y = _batch()
    torch.manual_seed(1)
    xm, t = build_batch_mix(0.0, 1.0, K)(x.clone(), y)
    own = (xm == x).all(1)  # (B, H, W): pixels kept from the sample itself
    pasted = (xm == x.roll(1, 0)).all(1)
    assert torch.all(own | pasted)
    lam = own[0].float().mean().item()  # the same box for the whole batch
    assert 0 < lam < 1 and torch.all(own.float().mean((1, 2)) == lam)
    y2 = y.roll(1, 0)
    torch.testing.assert_close(t, lam * F.one_hot(y, K).float() + (1 - lam) * F.one_hot(y2, K).float())


def test_both_alphas_pick_one_of_the_two_per_batch():
    x, y = _batch()
    kinds = set()
    for seed in range(12):
        torch.manual_seed(seed)
        xm, _ = build_batch_mix(0.4, 1.0, K)(x.clone(), y)
        kinds.add("cutmix" if ((xm == x).all(1) | (xm == x.roll(1, 0)).all(1)).all() else "mixup")
    assert kinds == {"mixup", "cutmix"} and build_batch_mix(0.0, 0.0, K) is None


def test_ema_after_one_step_is_the_decayed_average(tiny_root, tmp_path):
    d = 0.9
    cfg = tiny_cfg(tiny_root, 1, epochs=1, **{"data.batch_size": 64, "optim.ema_decay": d})  # 90 images: 1 step
    run = train(cfg, tmp_path / "ema", progress=False)
    last = load_checkpoint(run / "last.pt")
    assert last["ema_updates"] == 2  # w_0, then one step
    seed_everything(cfg.seed)  # the trainer's initialisation: w_0
    init = build_task(cfg, 4, None)
    moved = 0
    for part in ("feature_model", "classifier"):
        w0 = getattr(init, part).state_dict()
        for key, ema in last["model"][part].items():
            w1 = last["train_model"][part][key]
            if ema.is_floating_point():  # parameters and BatchNorm statistics (use_buffers=True)
                moved += not torch.equal(w0[key], w1)
                torch.testing.assert_close(ema, d * w0[key] + (1 - d) * w1, rtol=1e-6, atol=1e-7)
    assert moved > 10  # the step changed the weights, so the average is not trivially w_0 or w_1
    assert torch.equal(load_checkpoint(run / "best.pt")["model"]["classifier"]["fc.weight"],
                       last["model"]["classifier"]["fc.weight"])


def test_resume_with_ema_and_mixing_equals_uninterrupted(tiny_root, tmp_path):
    cfg = tiny_cfg(tiny_root, 1, epochs=2, **{"optim.ema_decay": 0.8, "data.mixup_alpha": 0.4,
                                              "data.cutmix_alpha": 1.0})
    full = train(cfg, tmp_path / "full", progress=False)
    cut = train(cfg, tmp_path / "cut", progress=False, stop_after_epoch=0)
    assert not is_complete(cut)
    train(cfg, cut, resume=True, progress=False)
    assert read_metrics(cut) == read_metrics(full)
    a, b = load_checkpoint(full / "last.pt"), load_checkpoint(cut / "last.pt")
    assert a["ema_updates"] == b["ema_updates"]
    for which in ("model", "train_model"):
        for part in ("feature_model", "classifier"):
            for key in a[which][part]:
                torch.testing.assert_close(a[which][part][key], b[which][part][key], rtol=0, atol=0)
    # the mixing really ran: same seed without it trains to other weights
    plain = train(tiny_cfg(tiny_root, 1, epochs=1, **{"optim.ema_decay": 0.8}), tmp_path / "plain", progress=False)
    assert read_metrics(plain)[0]["loss"] != read_metrics(full)[0]["loss"]


@pytest.mark.parametrize("stage,key,value,match", [
    (1, "data.mixup_alpha", -0.2, r"data\.mixup_alpha: must be in \[0, inf\)"),
    (1, "data.cutmix_alpha", math.inf, r"data\.cutmix_alpha"),
    (1, "optim.ema_decay", 1.0, r"optim\.ema_decay: must be in \(0, 1\)"),
    (1, "optim.ema_decay", 0.0, r"optim\.ema_decay"),
    (2, "data.mixup_alpha", 0.2, r"data\.mixup_alpha: mixup / cutmix are for stage 1 only"),
    (2, "data.cutmix_alpha", 1.0, r"data\.cutmix_alpha: .*centroid loss needs hard labels"),
])
def test_bad_values_fail_at_load_naming_the_key(tmp_path, stage, key, value, match):
    with pytest.raises(ConfigError, match=match):
        from_dict(tiny_dict(tmp_path, stage, **{key: value}), "<tiny>")


def test_off_values_keep_the_hash_of_earlier_configs(tmp_path):
    base = from_dict(tiny_dict(tmp_path, 1), "<tiny>")
    off = from_dict(tiny_dict(tmp_path, 1, **{"data.mixup_alpha": 0, "data.cutmix_alpha": 0.0,
                                              "optim.ema_decay": None}), "<tiny>")
    on = from_dict(tiny_dict(tmp_path, 1, **{"optim.ema_decay": 0.99}), "<tiny>")
    assert config_hash(off) == config_hash(base) != config_hash(on)
