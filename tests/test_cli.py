"""The `maestro` console script as a user runs it: every command's options, its errors, and a quiet terminal."""
import os, re, shutil, subprocess, sys
from pathlib import Path

import pytest

from maestro_lessons.corpus import load_manifest
from maestro_lessons import cli

BIN = Path(sys.executable).parent / "maestro"
# TensorFlow's log lines (absl's I/W/E lines, its start-up notes, Python-side warnings): the CLI prints none
TF_LOG = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog|oneDNN|cuInit|cuda drivers|cpu_feature_guard|WARNING:tensorflow|Warning:",
                    re.M)


def run(*args, cwd=None, env=None):
    "`maestro ARGS` in a fresh process, with a user's environment (no TensorFlow log settings of ours) and `env` added."
    user = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")}
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, env={**user, **(env or {})}, cwd=cwd)


def test_report_on_a_folder_lists_skipped_files(tmp_path):
    m = load_manifest()
    (tmp_path / "Bach").mkdir(); (tmp_path / "Haydn").mkdir()
    shutil.copy(m.path[m.composer == "Bach"].iloc[0], tmp_path / "Bach" / "a.mid")
    shutil.copy(m.path[m.composer == "Haydn"].iloc[0], tmp_path / "Haydn" / "b.mid")
    (tmp_path / "Haydn" / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x10\x00")
    r = run("report", "--folder", tmp_path, "--plot", tmp_path / "r.png")
    assert r.returncode == 0, r.stderr
    assert "Files skipped: 1" in r.stdout and "broken.mid" in r.stdout and "truncated" in r.stdout
    assert "Bach" in r.stdout and "Haydn" in r.stdout and (tmp_path / "r.png").stat().st_size > 10_000

def test_report_on_missing_folder_is_a_clear_error(tmp_path):
    r = run("report", "--folder", tmp_path / "none")
    assert r.returncode == 2 and "not a folder" in r.stderr and "Traceback" not in r.stderr


# --- every command's parser, with the options it has always had ---------------------------------------

@pytest.mark.parametrize("argv,want", [
    (["report", "--maestro-csv", "m.csv", "--no-verify", "--plot", "p.png", "--show", "5"],
     dict(func=cli.cmd_report, maestro_csv="m.csv", no_verify=True, plot="p.png", show=5)),
    (["train", "classifier", "--maestro-csv", "m.csv", "--root", "r", "--no-report", "--model", "roll", "--composers", "Bach", "Palestrina",
      "--max-traditional", "10", "--notes", "32", "--stride", "16", "--units", "8", "16", "--bidirectional",
      "--heads", "2", "--transpose", "3", "--weight-power", "1", "--epochs", "1", "--steps-per-epoch", "4",
      "--seed", "1", "--out", "o"],
     dict(func=cli.cmd_train_classifier, folder=None, maestro_csv="m.csv", root="r", no_report=True, model="roll", composers=["Bach", "Palestrina"],
          max_traditional=10, notes=32, stride=16, units=[8, 16], bidirectional=True, heads=2, transpose=3,
          weight_power=1.0, epochs=1, steps_per_epoch=4, seed=1, out="o")),
    (["train", "generator", "--folder", "f", "--pieces", "3", "--length", "64", "--batch-size", "8", "--units", "16",
      "--layers", "1", "--epochs", "2", "--steps", "0", "--minutes", "0.5", "--seed", "2", "--out", "g", "--verbose",
      "--representation", "events"],
     dict(func=cli.cmd_train_generator, folder="f", pieces=3, length=64, batch_size=8, units=16, layers=1, epochs=2,
          steps=0, minutes=0.5, seed=2, out="g", verbose=True, representation="events")),
    (["train", "generator"], dict(func=cli.cmd_train_generator, representation="auto", length=None)),
    (["classify", "a.mid", "b.mid", "--json", "--bundle", "b"],
     dict(func=cli.cmd_classify, files=["a.mid", "b.mid"], json=True, bundle="b", folder=None, maestro_csv=None)),
    (["classify", "--folder", "f", "--no-report"],
     dict(func=cli.cmd_classify, files=[], folder="f", no_report=True)),
    (["generate", "--composer", "bach", "--seconds", "5", "--tokens", "100", "--temperature", "0.8", "--top-k", "5",
      "--top-p", "0.9", "--primer", "p.mid", "--primer-seconds", "4", "--include-primer", "--max-note", "0", "-n", "2",
      "--seed", "3", "--model", "m", "--out", "x.mid", "--wav", "x.wav", "--folder", "f"],
     dict(func=cli.cmd_generate, composer="bach", seconds=5.0, tokens=100, temperature=0.8, top_k=5, top_p=0.9,
          primer="p.mid", primer_seconds=4.0, include_primer=True, max_note=0.0, n=2, seed=3, model="m", out="x.mid",
          wav="x.wav", folder="f", maestro_csv=None, root=None)),
    (["generate", "--max-note", "none"], dict(func=cli.cmd_generate, max_note=None, model=None)),
    (["demo", "--out", "d", "--generator-minutes", "1", "--classifier-epochs", "1", "--classifier-steps", "5",
      "--pieces-per-composer", "2", "--generator-units", "32", "--seconds", "3", "--temperature", "1", "--top-p", "1",
      "--no-report", "--seed", "4"],
     dict(func=cli.cmd_demo, out="d", generator_minutes=1.0, classifier_epochs=1, classifier_steps=5, pieces_per_composer=2,
          generator_units=32, seconds=3.0, temperature=1.0, top_p=1.0, no_report=True, seed=4)),
    (["judge", "runs/demo", "--maestro-csv", "m.csv", "--root", "r", "--no-report", "--bundle", "b", "--seconds", "15",
      "--seed", "5", "--json"],
     dict(func=cli.cmd_judge, pieces="runs/demo", folder=None, maestro_csv="m.csv", root="r", no_report=True, bundle="b",
          seconds=15.0, seed=5, json=True)),
    (["judge", "g", "--folder", "mine"], dict(func=cli.cmd_judge, pieces="g", folder="mine", bundle=None, seconds=None, json=False)),
])
def test_every_command_parses_its_options(argv, want):
    args = vars(cli.parser().parse_args(argv))
    assert {k: args[k] for k in want} == want

def test_defaults_are_the_lessons_defaults():
    from maestro_lessons.classifier import MAX_PIECES, WEIGHT_POWER
    t = cli.parser().parse_args(["train", "classifier"])
    assert (t.composers, t.max_traditional, t.weight_power, t.epochs, t.out) == (None, MAX_PIECES["Traditional"], WEIGHT_POWER, 20, None)
    g = cli.parser().parse_args(["generate"])
    assert (g.seconds, g.out, g.max_note, g.n, g.model) == (30.0, "piece.mid", 5.0, 1, None)
    d = cli.parser().parse_args(["demo"])
    assert (d.out, d.generator_minutes, d.classifier_epochs, d.classifier_steps, d.pieces_per_composer, d.no_report) == (
        "runs/demo", 4.0, 3, 80, 4, False)
    import inspect
    from maestro_lessons.demo import run_demo                   # the command's defaults are the function's
    defaults = {k: v.default for k, v in inspect.signature(run_demo).parameters.items()}
    assert all(defaults[k] == getattr(d, k) for k in ("generator_minutes", "classifier_epochs", "classifier_steps",
                                                      "pieces_per_composer", "generator_units", "seconds", "temperature", "top_p", "seed"))

@pytest.mark.parametrize("argv", [[], ["train"], ["train", "nothing"], ["report", "--folder", "a", "--maestro-csv", "b"],
                                  ["classify", "--folder", "a", "--maestro-csv", "b"],
                                  ["generate", "--folder", "a", "--maestro-csv", "b"], ["judge"]])
def test_incomplete_commands_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as e: cli.parser().parse_args(argv)
    assert e.value.code == 2 and "usage: maestro" in capsys.readouterr().err

def test_classify_needs_files_or_a_collection(capsys):
    with pytest.raises(SystemExit) as e: cli.main(["classify"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "usage: maestro classify" in err and "--folder or --maestro-csv" in err
    assert cli.main(["classify", "a.mid", "--folder", "f"]) == 2
    assert "not both" in capsys.readouterr().err


# --- one way to name a collection: the same options, from one helper, in every command that reads music -----------

def _subparsers(p):
    "{name: parser} of every command and train kind."
    import argparse
    out = {}
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                out[name] = sub; out.update({f"{name} {k}": v for k, v in _subparsers(sub).items()})
    return out

def test_every_command_that_reads_music_names_a_collection_the_same_way():
    subs = _subparsers(cli.parser())
    readers = ["report", "train classifier", "train generator", "classify", "generate", "judge"]
    helps = {}
    for name in readers:
        opts = {o: a for a in subs[name]._actions for o in a.option_strings}
        assert {"--folder", "--maestro-csv", "--root"} <= set(opts), name
        helps[name] = tuple(opts[o].help for o in ("--folder", "--maestro-csv", "--root"))
        assert ("--no-report" in opts) == (name != "report"), name
    assert len(set(helps.values())) == 1, helps
    assert "--folder" not in {o for a in subs["demo"]._actions for o in a.option_strings}
    top = cli.parser().format_help()
    assert "(or your own)" not in top and "--maestro-csv" in top

def test_root_goes_with_a_csv(capsys):
    assert cli.main(["report", "--folder", "f", "--root", "r"]) == 2
    assert "--root goes with --maestro-csv" in capsys.readouterr().err

def test_train_on_a_folder_whose_composers_cannot_be_split_says_so_before_tensorflow(tmp_path):
    m = load_manifest()
    for comp, n in (("Bach", 3), ("Haydn", 2)):
        (tmp_path / comp).mkdir()
        for i in range(n): shutil.copy(m.path[m.composer == "Bach"].iloc[i], tmp_path / comp / f"p{i}.mid")
    code = subprocess.run([sys.executable, "-c", "import sys; from maestro_lessons.cli import main; c = main(sys.argv[1:]); "
                           "print('tensorflow' in sys.modules); sys.exit(c)", "train", "classifier", "--folder", str(tmp_path)],
                          capture_output=True, text=True)
    assert code.returncode == 2 and code.stdout.strip().endswith("False"), code.stdout
    assert "Left out, fewer than 3 works (one each for train, validation and test): Haydn (2)" in code.stdout
    assert code.stderr.strip() == f"maestro train classifier: error: {tmp_path}: 1 composer(s) with at least 3 works; this needs 2"


# --- classify: the verdicts of today's table and of a classifier that may refuse ------------------------------

def test_verdicts_show_a_refusal_with_the_nearest_composer():
    import pandas as pd
    today = pd.DataFrame({"composer": ["Bach"], "Bach": [0.9], "Palestrina": [0.1]}, index=["a.mid"])
    assert cli.verdicts(today).tolist() == ["Bach"] and cli._classes(today) == ["Bach", "Palestrina"]
    refusing = pd.DataFrame({"composer": ["Bach", "none of these"], "Bach": [0.9, 0.41], "Beethoven": [0.1, 0.59],
                             "nearest": ["Bach", "Beethoven"], "probability": [0.9, 0.41], "distance": [0.2, 3.5]},
                            index=["a.mid", "b.mid"])
    assert cli.verdicts(refusing).tolist() == ["Bach", "none of these (nearest: Beethoven, 0.41)"]
    assert cli._classes(refusing) == ["Bach", "Beethoven"]
    assert cli._classified(refusing).columns.tolist() == ["composer", "Bach", "Beethoven"]
    j = cli._as_json(refusing)["b.mid"]
    assert j == {"composer": "none of these", "probabilities": {"Beethoven": 0.59, "Bach": 0.41}, "nearest": "Beethoven",
                 "probability": 0.41, "distance": 3.5}
    truth = pd.Series(["Bach", "Beethoven"], index=refusing.index)
    acc = cli.composer_accuracy(truth, refusing.composer, cli._classes(refusing))
    assert acc.loc["Bach"].tolist() == [1, 1, 1.0, 0] and acc.loc["Beethoven"].tolist() == [1, 0, 0.0, 1]
    unknown = cli.composer_accuracy(pd.Series(["Chopin"], index=["b.mid"]), refusing.composer[1:], ["Bach", "Beethoven"])
    assert unknown.loc["Chopin", "refused"] == 1 and pd.isna(unknown.loc["Chopin", "accuracy"])


# --- errors: one clear line on stderr, exit code 2, no traceback -----------------------------------------

def test_classify_a_missing_file_names_it(tmp_path):
    r = run("classify", "missing.mid", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == "maestro classify: error: missing.mid: no such file", r.stderr
    assert r.stdout == ""

@pytest.mark.parametrize("kind", ["classifier", "generator"])
def test_train_on_a_missing_folder_is_a_clear_error(kind):
    r = run("train", kind, "--folder", "/nonexistent")
    assert r.returncode == 2 and r.stderr.strip() == f"maestro train {kind}: error: /nonexistent: not a folder", r.stderr

def test_generate_without_a_generator_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["generate", "--model", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "no generator here" in err and "maestro train generator" in err and "Traceback" not in err

def test_generate_with_neither_a_shipped_nor_a_trained_generator_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MAESTRO_MODELS", str(tmp_path / "shipped")); monkeypatch.setenv("MAESTRO_CACHE", str(tmp_path / "cache"))
    assert cli.main(["generate", "--composer", "bach", "--out", str(tmp_path / "p.mid")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("maestro generate: error: no generator here") and "Traceback" not in err
    assert str(tmp_path / "shipped" / "generator") in err and str(tmp_path / "cache" / "models" / "generator") in err
    assert "maestro train generator" in err and "--model" in err and not (tmp_path / "p.mid").exists()

def test_nothing_in_the_library_imports_the_cli():
    root = Path(cli.__file__).parent
    users = [p.name for p in root.glob("*.py") if p.stem not in ("cli", "_modidx")
             and re.search(r"\bcli\b", re.sub(r"#.*", "", p.read_text())) and "import" in p.read_text()
             and re.search(r"(from maestro_lessons(\.| import )cli|from \. import cli|from \.cli)", p.read_text())]
    assert users == []
    assert "importlib" not in (root / "cli.py").read_text()


# --- a quiet terminal: `maestro generate` on a (tiny, untrained) generator -----------------------------------

def test_generate_writes_midi_and_wav_and_prints_no_tensorflow_log(tmp_path):
    from maestro_lessons.generator import build_generator, generator_encoding, Generator, save_generator
    enc = generator_encoding(["Bach", "Palestrina"])
    save_generator(Generator(build_generator(enc.vocab_size, 8, 16, 1), enc, {}), tmp_path / "gen")
    r = run("generate", "--model", tmp_path / "gen", "--composer", "bach", "--seconds", "3", "-n", "2",
            "--out", tmp_path / "out" / "p.mid", "--wav", tmp_path / "out" / "p.wav")
    assert r.returncode == 0, r.stderr
    assert not TF_LOG.search(r.stderr + r.stdout), r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p-1.mid", "p-1.wav", "p-2.mid", "p-2.wav"]
    assert "p-1.mid:" in r.stdout and "notes" in r.stdout


# --- generate --primer: a file, or a piece of a collection (the bundled corpus by default) ---------------------

@pytest.fixture
def tiny_generator(tmp_path):
    from maestro_lessons.generator import build_generator, generator_encoding, Generator, save_generator
    enc = generator_encoding(["Bach", "Palestrina"])
    return save_generator(Generator(build_generator(enc.vocab_size, 8, 16, 1), enc, {}), tmp_path / "gen")

def test_generate_takes_its_primer_from_a_collection(tiny_generator, tmp_path, capsys):
    m = load_manifest()
    common = ["generate", "--model", str(tiny_generator), "--composer", "bach", "--seconds", "1", "--no-report",
              "--include-primer", "--primer-seconds", "2"]
    assert cli.main([*common, "--primer", "random", "--out", str(tmp_path / "r.mid")]) == 0
    piece = capsys.readouterr().out.split("Primer: ")[1].split(" ")[0]
    assert m.set_index("id").composer[piece] == "Bach"                       # a random piece of the asked composer
    assert cli.main([*common, "--primer", "bach-bwv7.7", "--out", str(tmp_path / "i.mid")]) == 0
    assert "Primer: bach-bwv7.7 (Bach) from the bundled corpus" in capsys.readouterr().out
    mine = tmp_path / "mine"
    (mine / "Bach").mkdir(parents=True); shutil.copy(m.set_index("id").path["bach-bwv10.7"], mine / "Bach" / "mine.mid")
    assert cli.main([*common, "--folder", str(mine), "--out", str(tmp_path / "f.mid")]) == 0   # no --primer: random
    assert f"Primer: Bach/mine (Bach) from {mine}" in capsys.readouterr().out
    assert cli.main([*common, "--primer", "nowhere", "--out", str(tmp_path / "x.mid")]) == 2
    assert "nowhere: no such file, nor a piece of the bundled corpus" in capsys.readouterr().err
    assert cli.main([*common[:4], "mozart", *common[5:], "--folder", str(mine)]) == 2
    assert "no piece by mozart; its composers: Bach" in capsys.readouterr().err


# --- generate without --model: the shipped generator, else yours; --model wins; the pieces are real MIDI ---------

MAKE_NOTE_GENERATOR = """
import sys, tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1); tf.config.threading.set_inter_op_parallelism_threads(1)
from maestro_lessons.classifier import clip_data
from maestro_lessons.generator import train_note_generator
train_note_generator(clip_data(), notes=16, units=16, n_layers=1, embed_dim=8, epochs=1, steps_per_epoch=3,
                     validation_steps=2, folder=sys.argv[1], verbose=0, min_held_out=5)   # as the shipped one: offers what can be judged
"""

@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    "A models folder like the shipped one: a tiny (3 batches) note-triple generator in generator/, and the shipped classifier."
    models = tmp_path_factory.mktemp("shipped")
    r = subprocess.run([sys.executable, "-c", MAKE_NOTE_GENERATOR, str(models / "generator")], capture_output=True, text=True,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (models / "classifier").symlink_to(Path(cli.__file__).resolve().parents[1] / "models" / "classifier")
    return models

def written(out: Path, n: int) -> list:
    "The notes of the pieces `maestro generate -n N --out out` wrote, read back from their MIDI files."
    from maestro_lessons.notes import read_notes
    files = [out.with_name(f"{out.stem}-{i + 1}.mid") for i in range(n)] if n > 1 else [out]
    return [read_notes(f) for f in files]

def test_generate_uses_the_shipped_generator_by_default(shipped, tmp_path):
    out = tmp_path / "out" / "p.mid"
    r = run("generate", "--composer", "bach", "--seconds", "30", "-n", "2", "--max-note", "0.5", "--out", out,
            env=dict(MAESTRO_MODELS=str(shipped), MAESTRO_CACHE=str(tmp_path / "cache")), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not TF_LOG.search(r.stderr + r.stdout), r.stderr
    assert r.stdout.splitlines()[0] == f"Generator: {shipped / 'generator'} (the shipped generator)", r.stdout
    for notes in written(out, 2):                                       # real MIDI, notes in it, none held past --max-note
        assert len(notes) > 0 and (notes.end - notes.start).max() <= 0.5 + 1e-3

def test_generate_refuses_a_composer_the_generator_does_not_offer_and_says_why(shipped, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MAESTRO_MODELS", str(shipped)); monkeypatch.setenv("MAESTRO_CACHE", str(tmp_path / "cache"))
    assert cli.main(["generate", "--composer", "beethoven", "--seconds", "5", "--out", str(tmp_path / "b.mid")]) == 2
    err = capsys.readouterr().err
    assert "does not offer Beethoven: 22 pieces, 4 for validation and 2 for test: too few to judge" in err, err
    assert "it offers Bach, Monteverdi, Palestrina, Traditional" in err and not (tmp_path / "b.mid").exists(), err

def test_generate_takes_your_generator_when_none_ships(shipped, tmp_path, monkeypatch, capsys):
    mine = tmp_path / "cache" / "models" / "generator"
    shutil.copytree(shipped / "generator", mine)
    monkeypatch.setenv("MAESTRO_MODELS", str(tmp_path / "nothing")); monkeypatch.setenv("MAESTRO_CACHE", str(tmp_path / "cache"))
    assert cli.main(["generate", "--composer", "palestrina", "--seconds", "30", "--out", str(tmp_path / "p.mid")]) == 0
    assert f"Generator: {mine} (yours, saved by `maestro train generator`)" in capsys.readouterr().out
    assert len(written(tmp_path / "p.mid", 1)[0]) > 0

def test_a_generator_named_with_model_wins_over_the_shipped_one(shipped, tiny_generator, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MAESTRO_MODELS", str(shipped))
    assert cli.main(["generate", "--model", str(tiny_generator), "--composer", "bach", "--seconds", "30",
                     "--max-note", "0", "--out", str(tmp_path / "p.mid")]) == 0
    out = capsys.readouterr().out
    assert f"Generator: {tiny_generator} (named by --model)" in out and str(shipped) not in out
    assert len(written(tmp_path / "p.mid", 1)[0]) > 0

def test_train_generator_on_scores_learns_notes_that_cannot_hang(tmp_path, monkeypatch, capsys):
    "For a folder or the bundled corpus (scores) the default is note triples; what it saves writes notes with their own ends."
    import json
    from maestro_lessons.notes import read_notes
    monkeypatch.setenv("MAESTRO_CACHE", str(tmp_path / "cache"))
    g = tmp_path / "g"
    assert cli.main(["train", "generator", "--pieces", "3", "--length", "48", "--units", "8", "--layers", "1", "--epochs", "1",
                     "--steps", "2", "--no-report", "--out", str(g)]) == 0
    assert "representation: notes as (pitch, offset, duration) triples" in capsys.readouterr().out
    info = json.loads((g / "generator.json").read_text())
    assert info["encoding"]["name"] == "note_triples" and info["meta"]["notes"] == 16
    assert "Bach" in info["meta"]["composers"] and "Haydn" not in info["meta"]["composers"]      # too few works to split
    assert cli.main(["generate", "--model", str(g), "--composer", "bach", "--seconds", "6", "--max-note", "none",
                     "--out", str(tmp_path / "p.mid")]) == 0
    notes = read_notes(tmp_path / "p.mid")
    assert len(notes) > 0 and (notes.end > notes.start).all()
