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


def test_opening_weights_recorded_apart_from_learning_rates(tmp_path):
    lr = recipe().learning_rates
    run = tmp_path / "run"; run.mkdir()
    (run / "training.csv").write_text("epoch,loss,val_loss\n0,2.0,2.1\n1,1.5,1.6\n3,1.4,1.5\n4,1.3,1.4\n")
    assert lr(run, 3, key="opening_weight", old=1) == [dict(from_epoch=1, opening_weight=1), dict(from_epoch=5, opening_weight=3)]
    assert json.loads((run / "opening_weights.json").read_text())[-1]["opening_weight"] == 3
    assert not (run / "learning_rates.json").exists()                       # the learning rates keep their own record


def test_widening_for_opening_changes_nothing_the_model_knew():
    """The shipped generator widened by `<opening>`: the same next-note logits for every token it knew, `<opening>` read as
    `<bos>` was, and its own logit far below every other (nothing in the data predicts it)."""
    import numpy as np
    from maestro_lessons.generator import build_generator
    from maestro_lessons.encodings import NoteTripleEncoding
    enc = NoteTripleEncoding(opening=True)
    model = build_generator(enc.vocab_size - 1, 16, 8, 1, 0.2, name="g", n_composers=3, composer_dim=4, fused=False)
    for layer in model.layers:                                               # weights away from their initial values
        if layer.weights: layer.set_weights([w + np.random.default_rng(0).normal(0, 0.3, w.shape) for w in layer.get_weights()])
    wide = recipe().widen_for_opening(model, enc.bos_id)
    rng = np.random.default_rng(1)
    x = np.c_[np.full(4, enc.bos_id), rng.integers(3, enc.vocab_size - 1, (4, 11))].astype("int32")
    who = np.repeat(rng.integers(0, 3, (4, 1)), 12, 1).astype("int32")
    a, b = model.predict([x, who], verbose=0), wide.predict([x, who], verbose=0)
    x[:, 0] = enc.opening_id
    c = wide.predict([x, who], verbose=0)
    assert wide.get_layer("logits").units == enc.vocab_size and a.shape[-1] == enc.vocab_size - 1
    assert np.abs(a - b[..., :-1]).max() < 1e-5 and np.abs(a - c[..., :-1]).max() < 1e-5
    assert (b[..., -1] < b[..., :-1].min(-1)).all()


def test_opening_stage_refuses_a_generator_that_already_reads_opening(tmp_path):
    "A generator that reads <opening> is the stage's result (the shipped one is): starting the stage from it says so, and copies nothing."
    import pytest
    bundle = tmp_path / "generator" / "bundle"; bundle.mkdir(parents=True)
    info = json.loads((ROOT / "models" / "generator" / "generator.json").read_text())
    (bundle / "generator.json").write_text(json.dumps({**info, "encoding": {**info["encoding"], "opening": True}}))
    with pytest.raises(SystemExit, match="already reads <opening>"):
        recipe().main(["opening", "--work", str(tmp_path)])
    assert not (tmp_path / "opening" / "base").exists()


def test_every_stage_keeps_its_runs_in_its_own_subfolder_of_the_work_folder(tmp_path):
    "`--work W`: each stage in W/<stage> (the opening stage finds the generator stage's bundle there); without it, the cache's models-work/."
    import argparse
    from maestro_lessons.files import cache_dir
    folder = recipe().work_folder
    assert [folder(argparse.Namespace(work=str(tmp_path)), s) for s in ("generator", "opening")] == [tmp_path / "generator", tmp_path / "opening"]
    assert folder(argparse.Namespace(work=None), "classifier") == cache_dir() / "models-work" / "classifier"
