"""Composer classifier: clips, baseline features, the custom layers, the saved bundle and `maestro classify`, on real corpus pieces."""
import json, os, re, shutil, subprocess, sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maestro_lessons import __version__
from maestro_lessons.corpus import load_manifest
from maestro_lessons.notes import MidiError, read_notes
from maestro_lessons import classifier as C
from maestro_lessons.classifier import (COMPOSERS, composer_manifest, clip_data, clip_encoding, clip_windows,
                                        clip_features, fit_baseline, transpose_clips, clip_dataset, note_layers,
                                        build_event_lstm, build_roll_lstm, fit_classifier, predict_clips,
                                        piece_probabilities, evaluate, save_classifier, load_classifier,
                                        tunable_model, tune_classifier)

BIN = Path(sys.executable).parent / "maestro"
SMALL = {c: 14 for c in COMPOSERS}           # a few pieces of every composer: every split has some of each


@pytest.fixture(scope="module")
def manifest(): return load_manifest()

@pytest.fixture(scope="module")
def data(manifest, tmp_path_factory):
    return clip_data(manifest, max_pieces=SMALL, root=tmp_path_factory.mktemp("cache"))

@pytest.fixture(scope="module")
def tiny(data):
    "A tiny event LSTM trained for a few batches (enough to be a real model, not a good one)."
    import keras
    keras.utils.set_random_seed(0)
    m = build_event_lstm(data.encoding.vocab_size, len(data.classes), dim=8, units=(8,))
    fit_classifier(m, clip_dataset(data, "train", batch_size=16), clip_dataset(data, "valid").take(2), epochs=1,
                   steps_per_epoch=4, verbose=0)
    return m

@pytest.fixture(scope="module")
def bundle(tiny, data, tmp_path_factory):
    "The tiny model's bundle, calibrated with its refusal rule (the trust lesson) as `maestro train classifier` leaves it."
    from maestro_lessons.trust import calibrate_bundle
    path = save_classifier(tiny, tmp_path_factory.mktemp("models") / "clf", data.classes, data.encoding)
    calibrate_bundle(path, data)
    return path

@pytest.fixture(scope="module")
def outside_midi(tmp_path_factory):
    "A MIDI file that is not in the corpus: a C-major scale in two voices, written with pretty_midi."
    import pretty_midi
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    for program, base in ((0, 60), (0, 48)):
        inst = pretty_midi.Instrument(program)
        for k, step in enumerate([0, 2, 4, 5, 7, 9, 11, 12] * 10):
            inst.notes.append(pretty_midi.Note(80, base + step, k * 0.3, k * 0.3 + 0.28))
        pm.instruments.append(inst)
    path = tmp_path_factory.mktemp("outside") / "scale.mid"
    pm.write(str(path))
    return path


# --- data -----------------------------------------------------------------------------------------------

def test_composer_manifest_caps_composers_and_refuses_unknown_ones(manifest):
    m = composer_manifest(manifest)
    assert set(m.composer) == set(COMPOSERS) and (m.composer == "Traditional").sum() == 1500
    assert (m.composer == "Bach").sum() == (manifest.composer == "Bach").sum()        # only Traditional is capped
    again = composer_manifest(manifest)
    assert m.id.tolist() == again.id.tolist()                                          # same seed, same sample
    with pytest.raises(ValueError, match="Vivaldi"): composer_manifest(manifest, ["Bach", "Vivaldi"])

def test_clips_are_64_consecutive_notes_of_a_piece(data):
    X, y, pieces = clip_windows(data.cache, data.parts["test"])
    enc = data.encoding
    assert X.shape[1] == 192 and len(X) == len(y) == len(pieces)
    rows = data.manifest.set_index("id")
    for k in np.flatnonzero(np.r_[True, pieces[1:] != pieces[:-1]])[:5]:       # the first clip of a few pieces
        notes = read_notes(rows.path[data.cache.ids[pieces[k]]], unit="beat")
        want = enc.encode(notes)[:192]
        assert np.array_equal(X[k][:len(want)], want) and (X[k][len(want):] == 0).all()
        assert data.classes[y[k]] == rows.composer[data.cache.ids[pieces[k]]]

def test_overlapping_clips_start_on_notes(data):
    X, _, _ = clip_windows(data.cache, data.parts["train"], stride=16)
    full = X[(X != 0).all(1)]
    assert len(full) and (full[:, 0::3] < data.encoding.offset0).all() and (full[:, 1::3] >= data.encoding.offset0).all()


# --- baseline ------------------------------------------------------------------------------------------

def test_clip_features_are_finite_shares(data):
    X, _, _ = clip_windows(data.cache, data.parts["test"])
    F = clip_features(np.r_[X, np.zeros((1, 192), np.int32)], data.encoding)
    assert F.shape == (len(X) + 1, 47) and np.isfinite(F).all()
    np.testing.assert_allclose(F[:-1, :12].sum(1), 1)                                   # pitch-class shares
    np.testing.assert_allclose(F[:-1, 12:39].sum(1)[F[:-1, -1] > 1 / 64], 1)            # interval shares (2+ notes)
    assert (F[-1] == 0).all()                                                           # an empty clip: all zeros

def test_baseline_beats_chance_on_held_out_pieces(data):
    X, y, _ = clip_windows(data.cache, data.parts["train"], stride=32)
    Xt, yt, pt = clip_windows(data.cache, data.parts["test"])
    s = evaluate(predict_clips(fit_baseline(X, y, data.encoding), Xt), yt, pt, data.cache.labels)
    assert s["clip_macro_f1"] > 0.5 and s["piece_accuracy"] > 0.6, s                   # chance is 0.2


# --- tf.data and layers --------------------------------------------------------------------------------

def test_transposition_moves_pitches_only_within_range(data):
    X, _, _ = clip_windows(data.cache, data.parts["train"])
    moved = transpose_clips(X, 6).numpy()
    assert np.array_equal(moved[:, 1::3], X[:, 1::3]) and np.array_equal(moved[:, 2::3], X[:, 2::3])
    real = X[:, 0::3] >= 3
    assert (moved[:, 0::3][~real] == X[:, 0::3][~real]).all()                          # padding stays padding
    d = moved[:, 0::3].astype(int) - X[:, 0::3]
    assert (np.abs(d[real]) <= 6).all() and (moved[:, 0::3][real] >= 3).all() and (moved[:, 0::3][real] < 131).all()

def test_dataset_yields_the_clips_of_clip_windows(data):
    X, y, _ = clip_windows(data.cache, data.parts["valid"])
    xs, ys = zip(*[(a.numpy(), b.numpy()) for a, b in clip_dataset(data, "valid", batch_size=7)])
    assert np.array_equal(np.concatenate(xs), X) and np.array_equal(np.concatenate(ys), y)

def test_notes_to_roll_marks_every_frame_a_note_touches(data):
    enc = data.encoding
    X, _, _ = clip_windows(data.cache, data.parts["test"])
    _, NotesToRoll = note_layers()
    layer = NotesToRoll(frames=64, frame=6, pitch0=enc.pitch0, offset0=enc.offset0, duration0=enc.duration0)
    rolls = np.asarray(layer(X[:20]))
    for w, roll in zip(X[:20], rolls):
        t = w.reshape(-1, 3).astype(int)
        t = t[t[:, 0] >= 3]
        off = t[:, 1] - enc.offset0; off[0] = 0
        on = np.cumsum(off); end = on + t[:, 2] - enc.duration0 + 1
        want = np.zeros((64, 88))
        for p, s, e in zip(t[:, 0] - 3, on, end):
            if 21 <= p <= 108: want[s // 6:max(-(-e // 6), s // 6 + 1), p - 21] = 1
        assert np.array_equal(roll, want)

@pytest.mark.parametrize("build", ["event", "roll"])
def test_models_keep_cudnn_eligible_lstms(data, build):
    import keras
    m = (build_event_lstm(data.encoding.vocab_size, 5, units=(8, 8), bidirectional=True) if build == "event"
         else build_roll_lstm(5, data.encoding, units=(8, 8), heads=2))
    lstms = [l.forward_layer if isinstance(l, keras.layers.Bidirectional) else l for l in m.layers
             if isinstance(l, (keras.layers.LSTM, keras.layers.Bidirectional))]
    assert len(lstms) == 2
    for l in lstms:
        assert (l.activation.__name__, l.recurrent_activation.__name__, l.recurrent_dropout, l.unroll, l.use_bias) == \
               ("tanh", "sigmoid", 0, False, True)
    X, _, _ = clip_windows(data.cache, data.parts["test"])
    np.testing.assert_allclose(np.asarray(m(X[:3])).sum(1), 1, rtol=1e-5)


def test_tuner_trials_complete_and_search_the_settings(data, tmp_path):
    tuner = tune_classifier(tunable_model("event", data), clip_dataset(data, "train", batch_size=16),
                            clip_dataset(data, "valid").take(2), tmp_path / "tuner", max_trials=2, epochs=1, steps_per_epoch=2)
    trials = list(tuner.oracle.trials.values())
    assert [t.status for t in trials] == ["COMPLETED"] * 2 and all(np.isfinite(t.score) for t in trials)
    assert {"units", "depth", "bidirectional", "dropout", "learning_rate"} <= set(trials[0].hyperparameters.values)
    with pytest.raises(ValueError, match="'event' or 'roll'"): tunable_model("gru", data)


# --- bundle --------------------------------------------------------------------------------------------

def test_bundle_round_trip_gives_identical_predictions(tiny, bundle, data):
    clf = load_classifier(bundle)
    X, _, pieces = clip_windows(data.cache, data.parts["test"])
    assert np.array_equal(predict_clips(clf.model, X), predict_clips(tiny, X))
    assert clf.classes == data.classes and clf.settings["version"] == __version__
    assert sorted(p.name for p in bundle.iterdir()) == ["labels.json", "model.keras", "settings.json", "trust.json", "trust.npz",
                                                        "vocab.json"]                  # calibrated by the fixture
    i = data.parts["test"][0]                                                           # a corpus file, by its path
    probs = clf.predict_midi(data.manifest.set_index("id").path[data.cache.ids[i]])
    ids, pp = piece_probabilities(predict_clips(tiny, X), pieces)
    np.testing.assert_allclose([probs[c] for c in data.classes], pp[list(ids).index(i)], rtol=1e-5)
    assert list(probs.values()) == sorted(probs.values(), reverse=True)

def test_predict_midi_on_a_file_outside_the_corpus(bundle, outside_midi):
    probs = load_classifier(bundle).predict_midi(outside_midi)
    assert set(probs) == set(COMPOSERS) and abs(sum(probs.values()) - 1) < 1e-5

def test_saving_over_a_bundle_is_atomic(tiny, data, tmp_path):
    path = save_classifier(tiny, tmp_path / "b", data.classes, data.encoding)
    before = (path / "settings.json").read_text()
    class Broken:                                     # a model whose save fails halfway
        name = "broken"
        def save(self, p): Path(p).write_bytes(b"partial"); raise OSError("disk full")
    with pytest.raises(OSError, match="disk full"): save_classifier(Broken(), path, data.classes, data.encoding)
    assert (path / "settings.json").read_text() == before and load_classifier(path)      # the old bundle is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]                           # no temporary folder left
    save_classifier(tiny, path, data.classes, data.encoding, metrics={"clip_macro_f1": 0.5})
    assert json.loads((path / "settings.json").read_text())["metrics"] == {"clip_macro_f1": 0.5}

def _edited(bundle, tmp_path, edit):
    b = Path(shutil.copytree(bundle, tmp_path / "edited"))
    s = json.loads((b / "settings.json").read_text())
    edit(b, s)
    (b / "settings.json").write_text(json.dumps(s))
    return b

@pytest.mark.parametrize("edit, message", [
    (lambda b, s: s.update(format=0, version="0.0.1"), "has format 0 (saved by maestro_lessons 0.0.1)"),
    (lambda b, s: s.update(format=99), "has format 99"),
    (lambda b, s: s["encoding"].update(max_offset=96), "vocabulary"),
    (lambda b, s: s["clip"].update(notes=32), "reads 192 tokens but the clip settings say 32 notes"),
    (lambda b, s: (s.update(classes=s["classes"][:4]),
                   (b / "labels.json").write_text(json.dumps(dict(enumerate(s["classes"]))))), "4 composers"),
    (lambda b, s: (b / "labels.json").write_text(json.dumps({"0": "Vivaldi"})), "different composers"),
    (lambda b, s: s["encoding"].update(name="performance"), "not 'performance'"),
])
def test_load_refuses_a_bundle_that_does_not_match(bundle, tmp_path, edit, message):
    with pytest.raises(ValueError, match=re.escape(message)): load_classifier(_edited(bundle, tmp_path, edit))

@pytest.mark.parametrize("damage, message", [
    (lambda b: (b / "settings.json").write_text("{\"format\": 1,"), "settings.json is not valid JSON"),
    (lambda b: (b / "labels.json").unlink(), "labels.json is missing"),
    (lambda b: (b / "vocab.json").write_bytes(b"\xff\xfe"), "vocab.json is not valid JSON"),
    (lambda b: (b / "model.keras").write_bytes(b"PK\x03\x04 not a zip"), "model.keras cannot be read"),
    (lambda b: (b / "model.keras").unlink(), "model.keras is missing"),
])
def test_load_names_the_damaged_file_of_a_bundle(bundle, tmp_path, damage, message):
    b = Path(shutil.copytree(bundle, tmp_path / "damaged"))
    damage(b)
    with pytest.raises(ValueError, match=f"classifier bundle .*damaged: {message}"): load_classifier(b)

def test_load_names_a_missing_bundle(tmp_path):
    with pytest.raises(FileNotFoundError, match="no classifier bundle at .*maestro train classifier"):
        load_classifier(tmp_path / "nothing")

def test_predict_midi_errors_name_the_file(bundle, tmp_path):
    clf = load_classifier(bundle)
    bad = tmp_path / "corrupt.mid"; bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x10\x00")
    with pytest.raises(MidiError, match="corrupt.mid"): clf.predict_midi(bad)
    with pytest.raises(MidiError, match="no such file"): clf.predict_midi(tmp_path / "missing.mid")


# --- the command line ----------------------------------------------------------------------------------

# TensorFlow's log lines (absl's I/W/E lines, its start-up notes, Python-side warnings): the CLI prints none
TF_LOG = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog|oneDNN|cuInit|cuda drivers|cpu_feature_guard|WARNING:tensorflow|Warning:",
                    re.M)

def run(*args, env=None):
    "`maestro ARGS` in a fresh process, with the environment of a user (no TensorFlow log settings of ours)."
    clean = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")}
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, env={**clean, **(env or {})})

def test_maestro_classify_prints_composers_and_names_bad_files(bundle, data, outside_midi, tmp_path):
    corpus_file = data.manifest.path[data.manifest.composer == "Bach"].iloc[0]
    bad = tmp_path / "corrupt.mid"; bad.write_bytes(b"MThd garbage")
    r = run("classify", corpus_file, outside_midi, bad, tmp_path / "missing.mid", "--bundle", bundle)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = r.stdout.splitlines()
    assert any(Path(corpus_file).name in l for l in lines) and any("scale.mid" in l for l in lines)
    assert all(c in lines[0] for c in COMPOSERS)                                          # the header names them
    assert "corrupt.mid" in r.stderr and "missing.mid: no such file" in r.stderr
    assert not TF_LOG.search(r.stderr + r.stdout), r.stderr                              # no TensorFlow log line

def classify_in_process(capsys, *args):
    "`maestro classify ...` run in this process (TensorFlow is already loaded): exit code, stdout, stderr."
    from maestro_lessons import cli
    rc = cli.main(["classify", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out, out.err

def test_maestro_classify_json(bundle, outside_midi, capsys):
    rc, out, err = classify_in_process(capsys, outside_midi, "--json", "--bundle", bundle)
    assert rc == 0, err
    got = json.loads(out)[str(outside_midi)]
    assert got["composer"] in (*COMPOSERS, "none of these") and abs(sum(got["probabilities"].values()) - 1) < 1e-4

def test_maestro_classify_reads_an_older_release_and_refuses_another_format(bundle, tmp_path, outside_midi, capsys, monkeypatch):
    old = _edited(bundle, tmp_path, lambda b, s: s.update(version="0.0.1"))            # same format: bundles outlive releases
    rc, out, err = classify_in_process(capsys, outside_midi, "--bundle", old)
    assert rc == 0, err
    other = _edited(bundle, tmp_path / "f", lambda b, s: s.update(format=0, version="0.0.1"))
    rc, out, err = classify_in_process(capsys, outside_midi, "--bundle", other)
    assert rc == 2 and "has format 0 (saved by maestro_lessons 0.0.1)" in err and out == ""
    monkeypatch.setenv("MAESTRO_MODELS", str(tmp_path / "empty"))                    # no shipped models there
    rc, out, err = classify_in_process(capsys, outside_midi)
    assert rc == 2 and "no classifier bundle at" in err and str(tmp_path / "empty") in err

def test_maestro_train_classifier_saves_a_bundle_that_classifies(tmp_path, monkeypatch, outside_midi, capsys):
    "`maestro train classifier` is `train_classifier` then `calibrate_bundle`; `maestro classify --bundle` reads it back."
    from maestro_lessons import cli
    from maestro_lessons.files import models_dir
    monkeypatch.setenv("MAESTRO_CACHE", str(tmp_path / "cache"))
    rc = cli.main(["train", "classifier", "--epochs", "1", "--steps-per-epoch", "3", "--units", "8",
                   "--max-traditional", "100"])
    out = capsys.readouterr().out
    assert rc == 0 and "clip_macro_f1=" in out and "piece_accuracy=" in out and "saved to" in out and "calibrated:" in out
    bundle = models_dir("composer-classifier")
    assert str(tmp_path / "cache") in str(bundle) and set(load_classifier(bundle).predict_midi(outside_midi)) == set(COMPOSERS)
    assert load_classifier(bundle).settings["clip"]["train_stride"] == 32                # the recipe's settings
    assert (bundle / "trust.json").is_file()                                             # it can say "none of these"
    rc, out, err = classify_in_process(capsys, outside_midi, "--bundle", bundle)
    assert rc == 0 and "scale.mid" in out, err

def test_train_classifier_refuses_unknown_settings(tmp_path):
    with pytest.raises(TypeError, match="unknown setting"): C.train_classifier(folder=tmp_path, unit=(8,))
    with pytest.raises(ValueError, match="'event' or 'roll'"): C.train_classifier(folder=tmp_path, model="cnn")
