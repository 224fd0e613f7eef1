"""`make demo` in miniature, as a learner runs it: the quick generator beside a shipped one (here a tiny stand-in), the
same judge and critic for both, files that are what metrics.json says; and the quick generator alone when none ships."""
import json, os, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

MAKE_NOTE_GENERATOR = """
import sys, tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1); tf.config.threading.set_inter_op_parallelism_threads(1)
from maestro_lessons.classifier import clip_data
from maestro_lessons.generator import train_note_generator
train_note_generator(clip_data(), notes=16, units=16, n_layers=1, embed_dim=8, epochs=1, steps_per_epoch=3,
                     validation_steps=2, folder=sys.argv[1], verbose=0, min_held_out=5)   # as the shipped one: offers what can be judged
"""

RUN_DEMO = """
import sys, tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1); tf.config.threading.set_inter_op_parallelism_threads(1)
from maestro_lessons.demo import run_demo, print_summary
m = run_demo(sys.argv[1], generator_minutes=0.05, classifier_epochs=1, classifier_steps=2, pieces_per_composer=2,
             seconds=8, report=False)
print_summary(m, sys.argv[1])
"""


def python(code, *args, models):
    "Run `code` in a fresh interpreter with `$MAESTRO_MODELS` set to `models`; the completed process."
    env = dict(os.environ, MAESTRO_MODELS=str(models), TF_CPP_MIN_LOG_LEVEL="3", TQDM_DISABLE="1")
    r = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    "A models folder like the shipped one: a tiny (3 batches) note-triple generator, and the shipped classifier."
    models = tmp_path_factory.mktemp("models")
    python(MAKE_NOTE_GENERATOR, models / "generator", models=models)
    (models / "classifier").symlink_to(ROOT / "models" / "classifier")
    return models


def check_run(out: Path, names: list) -> dict:
    "What a demo run left in `out` agrees with its metrics.json: the files, the pieces per composer, the critic's verdicts."
    from maestro_lessons.notes import read_notes
    from maestro_lessons.trust import load_trusted
    from maestro_lessons.judging import critic_verdict
    m = json.loads((out / "metrics.json").read_text())
    assert list(m["generators"]) == names
    assert m["critic"]["bundle"] == str(ROOT / "models" / "classifier") or Path(m["critic"]["bundle"]).resolve() == ROOT / "models" / "classifier"
    critic = load_trusted(m["critic"]["bundle"])
    for name, g in m["generators"].items():
        assert {c: len(ps) for c, ps in g["pieces"].items()} == {c: 2 for c in g["composers"]}    # the same for each
        written = [p for ps in g["pieces"].values() for p in ps if p["notes"]]
        assert g["summary"]["pieces"] == len(written) == len(g["judged"])
        for p in written:
            assert Path(p["midi"]).parent == out / name and len(read_notes(p["midi"])) > 0
            if p["piece"].endswith("-1"): assert Path(p["wav"]).stat().st_size > 1000 and Path(p["png"]).stat().st_size > 1000
        for row in g["judged"]:                                   # the critic, reading the files again, hears what was saved
            if row["critic"] is not None: assert critic_verdict(critic, out / name / row["piece"]) == row["critic"]
    return m


def test_demo_judges_the_quick_and_the_shipped_generator_side_by_side(shipped, tmp_path):
    r = python(RUN_DEMO, tmp_path / "demo", models=shipped)
    m = check_run(tmp_path / "demo", ["quick", "shipped"])
    assert m["generators"]["shipped"]["folder"] == str(shipped / "generator")
    for g in m["generators"].values():                            # both learnt Beethoven's pieces; neither offers him (2 test pieces)
        assert "Beethoven" not in g["composers"] and "Beethoven" in g["meta"]["not_offered"], g["composers"]
    assert m["generators"]["quick"]["network"].startswith("2 LSTM × 128")
    assert m["generators"]["shipped"]["network"].startswith("1 LSTM × 16")
    lines = r.stdout.splitlines()
    which = next(l for l in lines if l.startswith("quick = trained in this run"))
    assert "; shipped = " in which and "trained by `make models`" in which
    header = next(i for i, l in enumerate(lines) if l.split() == ["quick", "shipped"])
    from maestro_lessons.demo import side_by_side
    table = lines[header + 1:header + 1 + len(side_by_side(m))]
    rows = {label: l[len(label):].split() for l in table for label in ("pieces", "identical pieces", "longest copy (notes)")
            if l.startswith(label + " ")}
    s = {n: g["summary"] for n, g in m["generators"].items()}
    assert rows["pieces"] == [str(s["quick"]["pieces"]), str(s["shipped"]["pieces"])]
    assert rows["identical pieces"] == [str(s["quick"]["identical"]), str(s["shipped"]["identical"])]
    assert rows["longest copy (notes)"] == [str(s["quick"]["longest_copy_notes"]), str(s["shipped"]["longest_copy_notes"])]
    assert "No shipped generator" not in r.stdout


def test_demo_without_a_shipped_generator_says_so_and_judges_the_quick_one(tmp_path):
    models = tmp_path / "models"; models.mkdir()
    (models / "classifier").symlink_to(ROOT / "models" / "classifier")
    r = python(RUN_DEMO, tmp_path / "demo", models=models)
    m = check_run(tmp_path / "demo", ["quick"])
    assert m["missing"] == str(models / "generator") and not (tmp_path / "demo" / "shipped").exists()
    assert "No shipped generator in" in r.stdout and "the quick generator alone" in r.stdout
