"""Training engine: the two-stage loop, checkpoints and resume, torchrun/DDP, evaluation of runs.

>>> from oltr.config import load_config
>>> from oltr.engine import train, evaluate_run
>>> run = train(load_config("configs/FashionMNIST_LT/stage_1.yaml"))  # doctest: +SKIP
>>> evaluate_run(run, split="test")["closed_set"]["overall"]  # doctest: +SKIP
"""

from oltr.engine.checkpoint import is_complete as is_complete, load_checkpoint as load_checkpoint
from oltr.engine.checkpoint import save_atomic as save_atomic, seed_everything as seed_everything
from oltr.engine.evaluate import evaluate_run as evaluate_run
from oltr.engine.handoff import StageHandoffError as StageHandoffError
from oltr.engine.loop import NonFiniteLossError as NonFiniteLossError
from oltr.engine.loop import compute_logits as compute_logits, train_one_epoch as train_one_epoch
from oltr.engine.run import RunDirError as RunDirError, default_run_dir as default_run_dir, train as train
from oltr.engine.run import run_dir_state as run_dir_state
from oltr.engine.tasks import Stage1Task as Stage1Task, Stage2Task as Stage2Task

__all__ = [
    "NonFiniteLossError", "RunDirError", "Stage1Task", "Stage2Task", "StageHandoffError", "compute_logits",
    "default_run_dir", "evaluate_run", "is_complete", "load_checkpoint", "run_dir_state",
    "save_atomic", "seed_everything", "train", "train_one_epoch",
]
