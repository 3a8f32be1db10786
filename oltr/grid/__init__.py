"""Running a benchmark grid where the compute is.

A grid is a list of :class:`CellJob` (one run directory each) with explicit dependencies (stage 2
after its stage 1). :func:`execute_cell` executes one cell (train if needed, then evaluate) and is the
only thing a worker does, whatever launched it:

- in the ``oltr benchmark`` process itself (``--jobs 1``, the default sequential loop),
- in local worker processes (:func:`oltr.grid.local.run_local`, ``--jobs N``, ``--gpus-per-run G``),
- in Slurm jobs through submitit (:func:`oltr.grid.slurm.run_submitit`, ``--launcher slurm``).

A new kind of cell plugs in by giving :class:`CellJob` a new ``kind`` and :func:`execute_cell` the
branch that executes it; the launchers do not change.
"""

from oltr.grid.cell import CellJob as CellJob, GridError as GridError, cell_is_current as cell_is_current
from oltr.grid.cell import execute_cell as execute_cell

__all__ = ["CellJob", "GridError", "cell_is_current", "execute_cell"]
