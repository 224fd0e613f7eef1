"""Every lesson notebook, run as one pytest test (the same engine as `nbdev-test`), so the summary line counts them."""
from pathlib import Path
import pytest
from nbdev.test import test_nb as run_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith(("_", ".")))

@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook(nb, monkeypatch):
    monkeypatch.chdir(nb.parent)                      # nbdev-test runs each notebook from its own folder
    ok, _ = run_notebook(nb, skip_flags=["notest", "slow", "gpu"], basepath=ROOT)
    assert ok, f"{nb.name} failed (run `nbdev-test nbs/{nb.name}` to see the cell)"
