"""A local grid worker: ``python -m oltr.grid.worker CELL_JSON RESULT_JSON``.

Executes one cell with :func:`oltr.grid.execute_cell` (threads from ``OMP_NUM_THREADS``, devices from
``CUDA_VISIBLE_DEVICES``, both set by the scheduler) and writes its result as JSON. Its stdout and
stderr go to ``<run_dir>/grid.log``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    cell_json, result_path = argv if argv is not None else sys.argv[1:]
    import torch

    from oltr.grid.cell import CellJob, execute_cell

    threads = os.environ.get("OMP_NUM_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    job = CellJob.from_json(cell_json)
    print(f"oltr grid worker: {job.name} | pid {os.getpid()} | {torch.get_num_threads()} thread(s) | "
          f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')}", flush=True)
    result = execute_cell(job, log=lambda msg: print(f"{job.name}: {msg}", flush=True), progress=False)
    Path(result_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
