"""Loading a model and predicting with the PyTorch backend never imports Lightning (issue 14:
Lightning's import is about 2-3 s of the inference CLI's start-up)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
from ptycho.loader import container_from_raw
from ptycho.pretrained import archive_path
from ptycho.simulation import simulate_dataset
from ptycho.workflows.registry import get_backend

api = get_backend("pytorch")
bundle = api.load_bundle(archive_path())
raw = simulate_dataset(N=64, n_positions=16, nphotons=1e6, seed=3).raw
container = container_from_raw(raw, 64, gridsize=bundle.model_config.gridsize, n_groups=4, seed=0)
patches = api.predict_patches(bundle, container, precision="bfloat16")
print(json.dumps({"shape": list(patches.shape),
                  "lightning": sorted(m for m in sys.modules if m.split(".")[0] == "lightning")}))
"""


def test_loading_and_predicting_never_imports_lightning() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["shape"] == [4, 64, 64, 1]
    assert result["lightning"] == []
