from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from oltr.data import IMAGENET_MEAN, IMAGENET_STD, build_transform
from oltr.data.transforms import ImageNetTrain, SmallEval, SmallTrain, TrainParams


def _image(h=300, w=400, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 10, w // 10, 3), dtype=np.uint8)
    return Image.fromarray(base).resize((w, h), Image.BILINEAR)


def _tensor(img):
    return torch.from_numpy(np.array(img)).permute(2, 0, 1).contiguous()


@pytest.mark.parametrize("train", [True, False])
def test_imagenet_preset_shapes(train):
    x = build_transform("imagenet", train)(_tensor(_image()))
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    assert x.is_contiguous()


def test_imagenet_eval_matches_reference_pil():
    img = _image(333, 500)
    ours = build_transform("imagenet", train=False)(_tensor(img))
    from torchvision import transforms as T

    ref = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])(img)
    # same geometry; resampling filters differ slightly (PIL vs. torch antialiased bilinear)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    assert ((ours - ref) * std).abs().mean() < 0.01


def test_imagenet_train_without_jitter_on_a_flat_image_is_exact():
    img = torch.full((3, 256, 300), 128, dtype=torch.uint8)
    x = ImageNetTrain(jitter=0.0)(img)
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    assert torch.allclose(x[:, 0, 0], (128 / 255 - mean) / std, atol=1e-5)


@pytest.mark.parametrize(
    "params",
    [
        TrainParams((10, 20, 120, 150), False, (1.3, 0.7, 1.25), (0, 1, 2)),
        TrainParams((0, 0, 200, 100), True, (0.65, 1.35, 0.8), (2, 0, 1)),
        TrainParams((33, 7, 61, 90), True, (1.0, 1.2, 0.6), (1, 2, 0)),
        TrainParams((50, 60, 100, 100), False, (1.0, 1.0, 1.0), ()),
    ],
)
def test_imagenet_train_op_by_op_matches_torchvision(params):
    # Fixed crop box, flip, jitter factors and order; torchvision's functional ops are the expectation.
    from torchvision.transforms.v2 import functional as TF

    img = _tensor(_image(200, 240, seed=3))
    t = ImageNetTrain(size=64)
    # oltr greys with PIL's luma (0.299, as the reference's PIL ColorJitter does), torchvision with 0.2989.
    t.gray = torch.tensor([[0.2989, 0.587, 0.114]])
    ours = t.apply(img, params)
    top, left, h, w = params.box
    x = TF.resized_crop(img, top, left, h, w, [64, 64], antialias=True)
    x = TF.horizontal_flip(x) if params.flip else x
    x = TF.to_dtype(x, torch.float32, scale=True)
    adjust = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation)
    for op in params.order:
        x = adjust[op](x, params.factors[op])
    ref = TF.normalize(x, list(IMAGENET_MEAN), list(IMAGENET_STD))
    torch.testing.assert_close(ours, ref, rtol=0, atol=2e-5)


def test_imagenet_train_draws_then_applies():
    # __call__ is sample + apply with the same RNG draws, so a seed fixes the augmentation.
    img, t = _tensor(_image()), ImageNetTrain(size=32)
    torch.manual_seed(5)
    direct = t(img)
    torch.manual_seed(5)
    params = t.sample(*img.shape[-2:])
    assert len(params.order) == 3 and all(0.6 <= f <= 1.4 for f in params.factors)
    assert torch.equal(direct, t.apply(img, params))


def test_imagenet_train_jitter_matches_reference_statistics():
    from torchvision import transforms as T

    torch.manual_seed(0)
    img = _image(64, 64)
    ours = torch.stack([ImageNetTrain(size=32)(_tensor(img)) for _ in range(100)])
    ref_t = T.Compose(
        [T.RandomResizedCrop(32), T.RandomHorizontalFlip(), T.ColorJitter(0.4, 0.4, 0.4, 0), T.ToTensor(),
         T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    )  # fmt: skip
    ref = torch.stack([ref_t(img) for _ in range(100)])
    # PIL truncates to uint8 after every adjustment, which shifts its mean down by ~1/255 per op.
    assert abs(ours.mean() - ref.mean()) < 0.08
    assert abs(ours.std() - ref.std()) < 0.08
    assert ours.std(0).mean() > 0.2  # the augmentation is active


def test_train_transform_uses_torch_rng():
    img = _tensor(_image())
    t = build_transform("imagenet", True)
    torch.manual_seed(1)
    a = t(img)
    torch.manual_seed(1)
    assert torch.equal(a, t(img))


def test_grey_and_pil_inputs_become_rgb():
    grey = torch.randint(0, 256, (1, 28, 28), dtype=torch.uint8)
    assert build_transform("small", False)(grey).shape == (3, 28, 28)
    pil = Image.fromarray(grey[0].numpy())
    assert torch.equal(build_transform("small", False)(pil), build_transform("small", False)(grey))


def test_small_train_crops_with_padding_and_flips_per_sample():
    x = torch.arange(28 * 28, dtype=torch.int64).remainder(251).to(torch.uint8).view(1, 1, 28, 28).expand(64, 3, 28, 28)
    torch.manual_seed(0)
    out = SmallTrain()(x)
    assert out.shape == (64, 3, 28, 28)
    restored = (out * 0.5 + 0.5) * 255
    shifts = set()
    for y in restored.round().to(torch.uint8):
        found = False
        for flip in (False, True):
            src = x[0].flip(-1) if flip else x[0]
            padded = torch.nn.functional.pad(src, (2, 2, 2, 2))
            for dy in range(5):
                for dx in range(5):
                    if torch.equal(padded[:, dy : dy + 28, dx : dx + 28], y):
                        shifts.add((flip, dy, dx))
                        found = True
        assert found
    assert len(shifts) > 10  # offsets and flips differ across the batch


def test_small_single_and_batched_agree_at_eval():
    x = torch.randint(0, 256, (5, 3, 28, 28), dtype=torch.uint8)
    t = SmallEval()
    assert torch.allclose(t(x), torch.stack([t(xi) for xi in x]))
    assert torch.allclose(t(x[0]), x[0].float() / 127.5 - 1, atol=1e-6)


def test_small_eval_resizes_when_asked():
    assert SmallEval(32)(torch.zeros(3, 28, 28, dtype=torch.uint8)).shape == (3, 32, 32)


def test_bad_arguments():
    with pytest.raises(ValueError, match="preset"):
        build_transform("svhn", True)
    with pytest.raises(TypeError):
        build_transform("small", True)(np.zeros((28, 28), np.uint8))


def test_transforms_run_single_threaded_and_restore_the_setting(monkeypatch):
    import oltr.data.transforms as transforms

    seen = []
    pad = transforms.F.pad
    monkeypatch.setattr(transforms.F, "pad", lambda *a, **k: seen.append(torch.get_num_threads()) or pad(*a, **k))
    torch.set_num_threads(2)  # the autouse fixture restores the original afterwards
    SmallTrain()(torch.zeros(2, 3, 28, 28, dtype=torch.uint8))
    assert seen == [1] and torch.get_num_threads() == 2


def test_cifar_preset_normalises_with_cifar_statistics():
    from oltr.data.transforms import CIFAR_MEAN, CIFAR_STD

    x = torch.full((3, 32, 32), 128, dtype=torch.uint8)
    out = build_transform("cifar", False)(x)
    expected = (128 / 255 - torch.tensor(CIFAR_MEAN)) / torch.tensor(CIFAR_STD)
    torch.testing.assert_close(out[:, 5, 5], expected)
    train = build_transform("cifar", True)(torch.full((4, 3, 32, 32), 255, dtype=torch.uint8))
    assert train.shape == (4, 3, 32, 32)
    # padding 4: a crop may show up to 4 zero rows/columns, never more
    zero = (0 - torch.tensor(CIFAR_MEAN)) / torch.tensor(CIFAR_STD)
    padded_rows = (train[:, 0] == zero[0]).all(dim=2).sum(dim=1)
    assert int(padded_rows.max()) <= 4

