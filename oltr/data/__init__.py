"""Data layer: split lists, image-list datasets, class statistics, transforms, samplers, Fashion-MNIST-LT.

One module per concern:

- ``lists``: ``read_list`` / ``write_list`` (OLTR ``path label`` format, errors name file and line);
- ``datasets``: ``ImageListDataset`` (root + list; decode, optional in-memory uint8 cache);
- ``stats``: ``class_counts``, ``imbalance_ratio``, ``shot_groups`` (``strict`` / ``oltr`` rules);
- ``transforms``: ``build_transform`` (``imagenet`` reference recipe, ``small`` 28x28 preset);
- ``samplers``: ``InstanceSampler``, ``ClassAwareSampler`` (seeded, resumable, DDP-sharded);
- ``fashion_mnist_lt``: ``prepare_fashion_mnist_lt`` (the bundled offline benchmark);
- ``manifest``: facts about the official lists and ``verify_lists``;
- ``registry``: ``DATASETS`` / ``prepare_dataset`` (every preparable benchmark by name); ``cifar``,
  ``fashion_mnist_4k``, ``subsets`` (long-tail profiles, the CFL 4k protocols), ``export``.
"""

from .datasets import ImageListDataset as ImageListDataset
from .datasets import ImageLoadError as ImageLoadError
from .datasets import find_missing as find_missing
from .datasets import load_image as load_image
from .fashion_mnist_lt import FashionMNISTLTSpec as FashionMNISTLTSpec
from .fashion_mnist_lt import fashion_mnist_lt_paths as fashion_mnist_lt_paths
from .fashion_mnist_lt import prepare_fashion_mnist_lt as prepare_fashion_mnist_lt
from .lists import OPEN_LABEL as OPEN_LABEL
from .lists import ListFormatError as ListFormatError
from .lists import read_list as read_list
from .lists import sha256_file as sha256_file
from .lists import write_list as write_list
from .manifest import load_manifest as load_manifest
from .manifest import verify_lists as verify_lists
from .registry import DATASETS as DATASETS
from .registry import prepare_dataset as prepare_dataset
from .samplers import ClassAwareSampler as ClassAwareSampler
from .samplers import InstanceSampler as InstanceSampler
from .samplers import epoch_num_samples as epoch_num_samples
from .samplers import steps_per_epoch as steps_per_epoch
from .stats import SHOT_GROUPS as SHOT_GROUPS
from .stats import SHOT_RULES as SHOT_RULES
from .stats import class_counts as class_counts
from .stats import imbalance_ratio as imbalance_ratio
from .stats import shot_group_of_class as shot_group_of_class
from .stats import shot_groups as shot_groups
from .stats import stats_table as stats_table
from .transforms import IMAGENET_MEAN as IMAGENET_MEAN
from .transforms import IMAGENET_STD as IMAGENET_STD
from .transforms import build_transform as build_transform
