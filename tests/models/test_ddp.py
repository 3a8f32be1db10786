"""Two CPU processes on gloo (one spawn for all checks, to keep the suite fast).

* ``init_centroids`` all-reduces sums and counts: every rank gets the global class means from disjoint shards.
* A stage-2 DDP step: the centroids live on the classifier (the reference passed them through ``forward``, which
  ``DataParallel`` scattered), and DDP synchronises their gradient like any other parameter's.
"""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from oltr.models import MetaEmbeddingClassifier, build_feature_model, disc_centroids_loss, init_centroids

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Stage2(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.feature_model = build_feature_model(
            "resnet10", stem="small", width=4, use_attention=True, use_fc_add=True, fc_add_dim=8
        )
        self.classifier = MetaEmbeddingClassifier(8, 5)

    def forward(self, x: torch.Tensor):
        feature, _ = self.feature_model(x)
        logits, _ = self.classifier(feature)
        return logits, feature


def _worker(rank: int, port: int, features, labels, out) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        shard = slice(rank, None, WORLD)  # disjoint shards covering every sample once
        mine_f, mine_y = features[shard], labels[shard]
        batches = [(mine_f[i : i + 8], mine_y[i : i + 8]) for i in range(0, len(mine_y), 8)]
        centroids = init_centroids(batches, num_classes=5, feat_dim=features.shape[1])

        torch.manual_seed(0)  # same initial model on both ranks
        model = _Stage2().train()
        torch.nn.init.normal_(model.feature_model.attention.out.weight, std=0.1)
        model.classifier.set_centroids(torch.randn(5, 8))
        ddp = DistributedDataParallel(model)
        torch.manual_seed(100 + rank)  # different data per rank
        x, y = torch.randn(3, 3, 28, 28), torch.randint(0, 5, (3,))
        logits, feature = ddp(x)
        memory = ddp.module.classifier.centroids
        loss = nn.functional.cross_entropy(logits, y) + 0.01 * disc_centroids_loss(feature, y, memory)
        loss.backward()
        out[rank] = (centroids, memory.grad.clone(), model.classifier.hallucinator.weight.grad.clone())
    finally:
        dist.destroy_process_group()


@pytest.mark.ddp
@pytest.mark.slow
def test_two_process_centroid_init_and_stage2_step():
    torch.manual_seed(2)
    features, labels = torch.randn(61, 3), torch.randint(0, 5, (61,))
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_worker, args=(_free_port(), features, labels, out), nprocs=WORLD, join=True)
        results = [out[r] for r in range(WORLD)]

    expected = torch.zeros(5, 3, dtype=torch.float64)
    for k in range(5):
        expected[k] = features[labels == k].double().mean(0)
    for centroids, _, _ in results:
        torch.testing.assert_close(centroids, expected.float(), rtol=1e-6, atol=1e-6)

    (_, c0, h0), (_, c1, h1) = results
    torch.testing.assert_close(c0, c1)
    torch.testing.assert_close(h0, h1)
    assert c0.abs().sum() > 0
