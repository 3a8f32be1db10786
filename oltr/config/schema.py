"""The run configuration: typed dataclasses, one default per field, each under a one-line comment.

A YAML file maps onto :class:`RunConfig` section by section (``data:``, ``model:``, ``loss:``, ...).
The loss section is the exception to "every key is a field": it holds ``name`` plus the loss's own
parameters (``loss: {name: cfl, gamma_hc: 3, factor: 4}``), validated by building the loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional

AmpMode = Literal["bf16", "fp16"]

#: keys every config must set (no dataset is assumed: a config for another dataset must say which)
REQUIRED_KEYS = ("data.name", "data.root")


@dataclass
class DataConfig:
    """Where the images and split lists live and how they are batched."""

    # dataset name; list files are ``<lists>/<name>_<split>.txt`` (split = train|val|test|open)
    name: str = "FashionMNIST_LT"
    # image root joined to the relative paths of the lists (relative -> current working directory)
    root: str = "data/FashionMNIST_LT"
    # folder holding the list files (default: ``root``)
    lists: Optional[str] = None
    # image root of the open-set list (default: ``root``)
    open_root: Optional[str] = None
    # number of known classes (default: max train label + 1)
    num_classes: Optional[int] = None
    # transform recipe of oltr.data.build_transform (cifar: 32x32, crop with padding 4 + flip)
    preset: Literal["imagenet", "small", "cifar"] = "imagenet"
    # crop size handed to the transform preset (default: the preset's own)
    image_size: Optional[int] = None
    # False trains on the eval transform (no random augmentation)
    augment: bool = True
    # global batch size (split evenly over ranks)
    batch_size: int = 128
    # global batch size for val/test/centroid passes (default: batch_size)
    eval_batch_size: Optional[int] = None
    # DataLoader worker processes per rank
    num_workers: int = 8
    # training sampler: shuffled instances or the class-aware sampler of stage 2
    sampler: Literal["instance", "class_aware"] = "instance"
    # images drawn per class visit by the class-aware sampler
    num_samples_cls: int = 4
    # keep decoded images in memory (small datasets)
    cache: bool = False
    # skip unreadable images instead of failing
    skip_bad: bool = False
    # registered dataset prepared under ``root`` before a run (a no-op once prepared), e.g. fashion_mnist_lt
    prepare: Optional[str] = None
    # keyword arguments of that preparation (oltr.data.DATASETS), e.g. {imb_factor: 100, source: ...}
    prepare_args: dict[str, Any] = field(default_factory=dict)
    # mixup of training batches (torchvision v2.MixUp), lam ~ Beta(alpha, alpha); 0 = off; stage 1 only
    mixup_alpha: float = 0.0
    # cutmix of training batches (torchvision v2.CutMix); 0 = off; with mixup_alpha > 0 one of the two per batch
    cutmix_alpha: float = 0.0


@dataclass
class ModelConfig:
    """Feature model and classifier."""

    # registered feature model (resnet10, resnet152, ...)
    name: str = "resnet10"
    # imagenet: 7x7/2 conv + max-pool; small: 3x3/1 conv for 28-32 px images
    stem: Literal["imagenet", "small"] = "imagenet"
    # channels of the first stage (64 = the paper's ResNets)
    width: int = 64
    # Linear(D -> 512) + ReLU after pooling
    use_fc_add: bool = False
    # width of fc_add (the reference: 512 = the ResNet-10 feature width, so stage-1 classifiers fit)
    fc_add_dim: int = 512
    # modulated attention on the last feature map
    use_attention: bool = False
    # attention start: identity (output conv zero) or reference (every attention conv re-drawn like the trunk's)
    attention_init: Literal["identity", "reference"] = "identity"
    # registered classifier (oltr.models.CLASSIFIERS): dot (stage 1) or meta_embedding (stage 2)
    classifier: str = "dot"
    # initial feature-model weights (a file), e.g. the Caffe ResNet-152 of Places-LT stage 1
    weights: Optional[str] = None
    # parameter-name prefixes that are new in this stage (allowed missing from loaded weights)
    new_keys: list[str] = field(default_factory=list)
    # feature-model parts whose parameters are frozen (backbone / attention / fc_add)
    freeze: list[str] = field(default_factory=list)
    # frozen BatchNorm layers stay in eval mode (the reference keeps them in train mode)
    frozen_bn_eval: bool = False


@dataclass
class LossConfig:
    """A registered loss and its parameters (``oltr.losses.build_loss(name, **params)``)."""

    # registered loss name (oltr.losses.available())
    name: str = "ce"
    # the loss's own keyword arguments; ``epochs`` defaults to the stage's epoch count
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class CentroidConfig:
    """Stage 2: discriminative centroid loss and its memory (ignored in stage 1)."""

    # weight of the centroid loss in the total loss
    weight: float = 0.01
    # learning rate of the centroids (own parameter group, same StepLR)
    lr: float = 0.01
    # reference: the authors' hand-written centroid gradient; autograd: the true gradient
    grad_mode: Literal["reference", "autograd"] = "reference"
    # class-mean feature initialisation before training (one pass over the train list)
    init: bool = True


@dataclass
class OptimConfig:
    """SGD with per-group learning rates, stepped by one StepLR per epoch."""

    # learning rate of the feature model
    lr_features: float = 0.1
    # learning rate of the classifier
    lr_classifier: float = 0.1
    # SGD momentum (all groups)
    momentum: float = 0.9
    # weight decay (all groups, BN and biases included, as the reference)
    weight_decay: float = 5e-4
    # StepLR period in epochs
    step_size: int = 10
    # StepLR decay factor
    gamma: float = 0.1
    # per-epoch schedule after the warm-up: step (StepLR: step_size, gamma) or cosine (to 0 at the last epoch)
    schedule: Literal["step", "cosine"] = "step"
    # linear warm-up epochs, from warmup_factor * lr to lr (0: none)
    warmup_epochs: int = 0
    # learning-rate factor of the first warm-up epoch
    warmup_factor: float = 0.1
    # linear scaling rule: the lrs are for this global batch and become lr * data.batch_size / base_batch_size
    # when the config loads (config.yaml stores the effective lrs and null here); null: no scaling
    base_batch_size: Optional[int] = None
    # EMA of the weights after every step (torch.optim.swa_utils, ema = d ema + (1 - d) w); null = off.
    # Validation, best.pt and last.pt's model then hold the averaged weights
    ema_decay: Optional[float] = None


@dataclass
class RunConfig:
    """One training stage of one loss on one dataset with one seed."""

    # run name; the default run directory is runs/<data.name>/<name>_<loss.name>_seed<seed>
    name: str = ""
    # 1: feature model + dot classifier; 2: + attention, meta-embedding, centroid loss
    stage: Literal[1, 2] = 1
    # seeds Python, NumPy, torch, the samplers and the DataLoader workers
    seed: int = 0
    # training epochs of this stage
    epochs: int = 30
    # stage 2: the stage-1 run directory (default: the sibling stage_1_<loss>_seed<seed> run)
    init_from: Optional[str] = None
    # open-set rejection threshold on the max softmax probability, in [0, 1]
    open_threshold: float = 0.1
    # shot-group boundary rule of oltr.evaluation (strict: >100 / <20; oltr: >=100 / <=20)
    eval_rule: Literal["strict", "oltr"] = "strict"
    # open-set false-positive rule of oltr.evaluation (oltr: rejected knowns are FP; oltr2019: the paper era's)
    fp_rule: Literal["oltr", "oltr2019"] = "oltr"
    # mixed precision: null (fp32), bf16, or fp16 (CUDA only, with a GradScaler)
    amp: Optional[AmpMode] = None
    # channels_last memory format for the model and its inputs
    channels_last: bool = False
    # torch.compile the training task
    compile: bool = False
    # steps between host syncs for the progress bar and the non-finite loss check
    log_every: int = 20
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    centroids: CentroidConfig = field(default_factory=CentroidConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    @property
    def run_name(self) -> str:
        """``<name or stage_N>_<loss>_seed<seed>``: the default run directory's name."""
        return f"{self.name or f'stage_{self.stage}'}_{self.loss.name}_seed{self.seed}"
