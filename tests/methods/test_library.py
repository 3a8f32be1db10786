"""The registered post-hoc methods on in-memory features, against the public formulas."""

from __future__ import annotations

import numpy as np
import torch

from oltr.methods import METHODS, logit_adjust, ncm_logits, tau_normalize
from oltr.methods.apply import MethodContext


def _ctx(seed=0, k=6, d=8):
    rng = np.random.default_rng(seed)
    counts = np.array([200, 90, 40, 15, 6, 2])[:k]
    w = torch.as_tensor(rng.normal(size=(k, d)) * np.linspace(3, 0.3, k)[:, None], dtype=torch.float32)
    b = torch.as_tensor(rng.normal(size=k) * 0.1, dtype=torch.float32)

    def split(n):
        y = rng.integers(0, k, n)
        return (rng.normal(size=(n, d)) + w.numpy()[y] * 0.5).astype(np.float32), y

    train = (np.concatenate([split(c)[0] for c in counts]), np.repeat(np.arange(k), counts))
    feats = {"train": train, "val": split(120), "test": split(300), "open": (split(50)[0], -np.ones(50, np.int64))}
    return MethodContext.from_arrays(w, b, counts, feats), w, b


def test_tau_norm_method_equals_the_normalised_classifier_at_the_chosen_tau():
    ctx, w, b = _ctx()
    out = METHODS.build("tau_norm", ctx=ctx)
    tau = out.info["selected"]["tau"]
    scores = out.info["val_top1_by_tau"]
    assert len(scores) == 21 and scores[str(tau)] == max(scores.values())
    for split in ("val", "test", "open"):
        x = torch.as_tensor(ctx.features(split))
        expected = (x @ tau_normalize(w, tau).T + b).numpy()
        np.testing.assert_allclose(out.logits[split], expected, rtol=1e-5, atol=1e-5)


def test_logit_adjust_and_ncm_methods_equal_their_functions():
    ctx, w, b = _ctx(1)
    out = METHODS.build("logit_adjust", ctx=ctx, taus=[0.0, 0.5, 1.0])
    tau = out.info["selected"]["tau"]
    x = torch.as_tensor(ctx.features("test"))
    np.testing.assert_allclose(out.logits["test"], logit_adjust((x @ w.T + b).numpy(), ctx.train_counts, tau),
                               rtol=1e-5, atol=1e-5)
    ncm = METHODS.build("ncm", ctx=ctx, norm="l2", distance="cosine")
    np.testing.assert_array_equal(ncm.logits["test"], ncm_logits(ctx.features("train"), ctx.labels("train"),
                                                                  ctx.features("test"), norm="l2", distance="cosine"))
