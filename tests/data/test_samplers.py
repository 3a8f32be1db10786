from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import BatchSampler, DataLoader, TensorDataset

from oltr.data import ClassAwareSampler, InstanceSampler, epoch_num_samples, read_list, steps_per_epoch

LT_LABELS = np.repeat(np.arange(6), [50, 20, 9, 4, 2, 1])  # a small long tail


def test_epoch_length_rule():
    assert steps_per_epoch(115_846, 128) == 905
    assert steps_per_epoch(62_500, 128) == 488
    assert epoch_num_samples(115_846, 128) == 905 * 128


@pytest.mark.parametrize("shuffle", [True, False])
def test_instance_sampler_is_a_permutation(shuffle):
    s = InstanceSampler(101, seed=3, shuffle=shuffle)
    idx = list(s)
    assert len(s) == len(idx) == 101 and sorted(idx) == list(range(101))
    assert (idx != list(range(101))) == shuffle


def test_instance_sampler_depends_only_on_seed_and_epoch():
    a, b = InstanceSampler(50, seed=1), InstanceSampler(50, seed=1)
    a.set_epoch(4), b.set_epoch(4)
    assert list(a) == list(b)
    b.set_epoch(5)
    assert list(a) != list(b)
    other_seed = InstanceSampler(50, seed=2)
    other_seed.set_epoch(4)
    assert list(a) != list(other_seed)
    c = InstanceSampler(50, seed=0)
    c.load_state_dict(a.state_dict())
    assert list(c) == list(a) and c.state_dict() == {"kind": "instance", "seed": 1, "epoch": 4}


def test_instance_sampler_num_samples_chains_permutations():
    s = InstanceSampler(10, num_samples=25)
    idx = np.array(list(s))
    assert len(idx) == 25
    assert sorted(idx[:10]) == list(range(10)) and sorted(idx[10:20]) == list(range(10))


def _shards(make, world):
    return [np.array(list(make(rank))) for rank in range(world)]


@pytest.mark.parametrize("world", [2, 3, 4])
def test_instance_shards_disjoint_and_covering(world):
    n = 103
    shards = _shards(lambda r: InstanceSampler(n, seed=7, num_replicas=world, rank=r), world)
    assert len({len(s) for s in shards}) == 1  # equal length on every rank
    flat = np.concatenate(shards)
    assert set(flat.tolist()) == set(range(n))  # covering
    assert len(flat) == -(-n // world) * world  # padded to a multiple of world
    # without padding, shards are disjoint
    shards = _shards(lambda r: InstanceSampler(n, seed=7, num_replicas=world, rank=r, drop_last=True), world)
    flat = np.concatenate(shards)
    assert len(flat) == len(set(flat.tolist())) == (n // world) * world


def test_class_aware_visits_classes_equally_within_one():
    s = ClassAwareSampler(LT_LABELS, num_samples_cls=4, num_samples=epoch_num_samples(len(LT_LABELS), 8), seed=0)
    for epoch in range(3):
        s.set_epoch(epoch)
        idx = np.array(list(s))
        assert len(idx) == len(s) == 80
        visits = LT_LABELS[idx].reshape(-1, 4)
        assert (visits == visits[:, :1]).all()  # 4 consecutive draws from one class
        per_class = np.bincount(visits[:, 0], minlength=6)
        assert per_class.max() - per_class.min() <= 1
        samples = np.bincount(LT_LABELS[idx], minlength=6)
        assert samples.max() - samples.min() <= 4
        assert np.array_equal(s.visit_classes(), visits[:, 0])


def test_class_aware_cycles_reshuffle_per_pass():
    s = ClassAwareSampler(LT_LABELS, num_samples_cls=2, num_samples=6 * 2 * 5, seed=1)
    classes = s.visit_classes()
    for p in range(5):  # every pass over the class cycle is a permutation of all classes
        assert sorted(classes[6 * p : 6 * (p + 1)]) == list(range(6))
    idx = np.array(list(s))
    for c in range(6):  # within a class, a full cycle over its members before any repeat
        drawn = idx[LT_LABELS[idx] == c]
        members = np.flatnonzero(LT_LABELS == c)
        k = len(members)
        for start in range(0, len(drawn) - k + 1, k):
            assert sorted(drawn[start : start + k]) == members.tolist()


def test_class_aware_imagenet_scale_and_determinism(data_lists_dir):
    _, labels = read_list(data_lists_dir / "Places_LT/Places_LT_train.txt", 365)
    n = epoch_num_samples(len(labels), 128)
    a = ClassAwareSampler(labels, num_samples=n, seed=5)
    b = ClassAwareSampler(labels, num_samples=n, seed=5)
    a.set_epoch(2), b.set_epoch(2)
    ia = np.array(list(a))
    assert np.array_equal(ia, np.array(list(b)))
    assert len(ia) == 488 * 128
    per_class = np.bincount(labels[ia], minlength=365)
    assert per_class.max() - per_class.min() <= 4  # every class ~ the same, whatever its size
    b.set_epoch(3)
    assert not np.array_equal(ia, np.array(list(b)))


def test_class_aware_default_length_and_ignores_open():
    labels = np.array([0, 0, 0, 1, -1, 3])
    s = ClassAwareSampler(labels)
    assert s.num_classes == 3 and s.num_samples == 9
    assert set(np.array(list(s)).tolist()) <= {0, 1, 2, 3, 5}
    with pytest.raises(ValueError):
        ClassAwareSampler(np.array([-1, -1]))


def test_class_aware_resume_replays_epoch():
    s = ClassAwareSampler(LT_LABELS, num_samples=64, seed=9)
    s.set_epoch(6)
    state = s.state_dict()
    t = ClassAwareSampler(LT_LABELS, num_samples=64, seed=0)
    t.load_state_dict(state)
    assert list(t) == list(s)
    with pytest.raises(ValueError, match="instance"):
        t.load_state_dict(InstanceSampler(3).state_dict())


@pytest.mark.parametrize("world", [2, 4])
def test_class_aware_ddp_batches_equal_single_process_global_batches(world):
    global_batch, n = 16, 64
    single = ClassAwareSampler(LT_LABELS, num_samples=n, seed=4)
    single.set_epoch(1)
    global_batches = list(BatchSampler(single, global_batch, drop_last=True))
    local = []
    for rank in range(world):
        s = ClassAwareSampler(LT_LABELS, num_samples=n, seed=4, num_replicas=world, rank=rank)
        s.set_epoch(1)
        assert len(s) == n // world
        local.append(list(BatchSampler(s, global_batch // world, drop_last=True)))
    for k, batch in enumerate(global_batches):
        together = sorted(i for rank in range(world) for i in local[rank][k])
        assert together == sorted(batch)
    positions = [np.arange(n)[r::world] for r in range(world)]  # the shards partition the stream
    assert sorted(np.concatenate(positions).tolist()) == list(range(n))


def test_samplers_drive_a_dataloader():
    data = TensorDataset(torch.arange(len(LT_LABELS)))
    loader = DataLoader(data, batch_size=8, sampler=ClassAwareSampler(LT_LABELS, num_samples=32, seed=0))
    assert sum(len(b[0]) for b in loader) == 32


def test_rank_validation():
    with pytest.raises(ValueError, match="rank"):
        InstanceSampler(5, num_replicas=2, rank=2)
