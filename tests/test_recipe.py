"""The model recipe (`models/recipe.py`) keeps the learning rates a run was trained at, so a shipped model says how it was made."""
import importlib.util, json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def recipe():
    spec = importlib.util.spec_from_file_location("recipe", ROOT / "models" / "recipe.py")
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def test_learning_rates_record_each_change(tmp_path):
    lr = recipe().learning_rates
    assert lr(tmp_path / "new") == []                                        # a new run: nothing yet
    assert lr(tmp_path / "new", 3e-3) == [dict(from_epoch=1, lr=3e-3)]      # its first rate starts at epoch 1
    assert lr(tmp_path / "new", 3e-3) == [dict(from_epoch=1, lr=3e-3)]      # the same rate again: no new entry
    old = tmp_path / "old"; old.mkdir()
    (old / "training.csv").write_text("epoch,loss,val_loss\n0,2.0,2.1\n1,1.5,1.6\n")
    assert lr(old) == [dict(from_epoch=1, lr=1e-3)]                          # a run older than the record: 1e-3
    assert lr(old, 3e-4) == [dict(from_epoch=1, lr=1e-3), dict(from_epoch=3, lr=3e-4)]   # from the next epoch on
    assert json.loads((old / "learning_rates.json").read_text())[-1] == dict(from_epoch=3, lr=3e-4)
    assert lr(old) == [dict(from_epoch=1, lr=1e-3), dict(from_epoch=3, lr=3e-4)]
