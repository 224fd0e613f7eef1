"""The trust lesson: calibration, the refusal rule on music the classifier never heard, and the shipped classifier's answers."""
import json
from pathlib import Path

import numpy as np
import pytest

from maestro_lessons.classifier import COMPOSERS, clip_data, clip_dataset, build_event_lstm, fit_classifier, save_classifier
from maestro_lessons.corpus import load_manifest
from maestro_lessons.files import shipped_dir
from maestro_lessons.trust import (NONE_OF_THESE, temper, fit_temperature, expected_calibration_error, load_unseen,
                                   load_trusted, calibrate_bundle, classify_files, proportion_interval, reliability,
                                   mean_nll, Neighbours)


@pytest.fixture(scope="module")
def shipped(): return load_trusted(shipped_dir("classifier"))


def test_reliability_and_ece_by_hand():
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6], [0.55, 0.45]])
    t = reliability(p, [0, 1, 0, 1, 1], bins=10)
    assert t.index.tolist() == ["0.5–0.6", "0.6–0.7", "0.9–1.0"] and t.clips.tolist() == [1, 2, 2]
    np.testing.assert_allclose(t.confidence, [0.55, 0.6, 0.9]); np.testing.assert_allclose(t.accuracy, [0.0, 1.0, 0.5])
    assert expected_calibration_error(p, [0, 1, 0, 1, 1]) == pytest.approx((0.55 + 2 * 0.4 + 2 * 0.4) / 5)
    assert expected_calibration_error(p, [0, 1, 0, 1, 1], bins=2) == pytest.approx(0.71 - 0.6)         # one bin holds all
    assert expected_calibration_error(np.eye(3), [0, 1, 2]) == 0.0
    assert reliability(np.array([[1.0, 0.0]]), [0], bins=10).index.tolist() == ["0.9–1.0"]              # 1.0 is in the last bin
    assert reliability(np.array([[0.4, 0.3, 0.3]]), [0], bins=2).index.tolist() == ["0.0–0.5"]          # and 0.4 in the first


def test_mean_nll_and_temper_by_hand():
    assert mean_nll([[0.5, 0.5], [0.9, 0.1]], [0, 0]) == pytest.approx(-(np.log(0.5) + np.log(0.9)) / 2)
    p = np.array([[0.7, 0.2, 0.1]])
    np.testing.assert_allclose(temper(p, 1.0), p)
    np.testing.assert_allclose(temper(p, 2.0), np.sqrt(p) / np.sqrt(p).sum())                 # softmax(log p / 2)
    np.testing.assert_allclose(temper(p, 1e3), np.full((1, 3), 1 / 3), atol=1e-3)             # very hot: uniform
    np.testing.assert_allclose(temper(p, 1e-4), [[1.0, 0.0, 0.0]], atol=1e-6)                 # very cold: one-hot
    np.testing.assert_allclose(temper([[0.98, 0.02], [0.5, 0.5]], 1e-4), [[1, 0], [0.5, 0.5]])  # each row on its own scale
    assert mean_nll([[1.0, 0.0]], [1]) == pytest.approx(-np.log(1e-12))                        # a zero stays finite


def test_neighbours_standardise_and_count_the_kth():
    train = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 200.0], [2.0, 200.0]])          # the second feature spans 100× more
    n1, n2 = Neighbours(train, k=1), Neighbours(train, k=2)
    assert n1.distance([[0.0, 0.0]])[0] == pytest.approx(0.0)
    assert n2.distance([[0.0, 0.0]])[0] == pytest.approx(2.0)                               # standardised: both steps are 2 sd
    assert n1.distance([[1.0, 0.0]])[0] == pytest.approx(n1.distance([[0.0, 100.0]])[0])    # half a step either way


def test_temperature_keeps_every_answer_and_fixes_an_overconfident_model():
    rng = np.random.default_rng(3)
    true = rng.dirichlet(np.ones(4), 3000)
    labels = np.array([rng.choice(4, p=q) for q in true])
    sure = temper(true, 0.4)                                               # a too-sure model: same ranking, sharper
    assert (sure.argmax(1) == true.argmax(1)).all()
    t = fit_temperature(sure, labels)
    assert 2.0 < t < 3.0                                                   # undoes the 0.4 (1 / 0.4 = 2.5)
    assert expected_calibration_error(temper(sure, t), labels) < expected_calibration_error(sure, labels) / 2


def test_shipped_classifier_refuses_far_music_and_accepts_real_pieces(shipped):
    "Music far from the corpus is refused; test pieces of every composer are accepted and named right (the shipped model)."
    far = load_unseen("far")
    picked = far[far.collection.isin(["chopin", "joplin", "schoenberg", "webern"])]
    table, errors = classify_files(list(picked.path), shipped)
    assert not errors and (table.composer == NONE_OF_THESE).all(), table[["composer", "nearest", "distance"]]
    assert table.nearest.isin(COMPOSERS).all() and table.probability.between(0, 1).all()
    m, split = load_manifest(), json.loads((shipped_dir("classifier") / "corpus.json").read_text())
    test_ids = [r["id"] for r in split["test"]]
    rows = m.set_index("id").loc[test_ids].groupby("composer").head(6)   # six test pieces of each composer
    table, _ = classify_files(list(rows.path), shipped)
    accepted = table.composer != NONE_OF_THESE
    assert accepted.mean() >= 0.8, table[["composer", "nearest", "distance"]]
    assert (table.nearest.values == rows.composer.values).mean() >= 0.9


def test_calibrate_bundle_gives_any_bundle_a_refusal_rule(tmp_path):
    "A small model on a small task: calibration is written into its bundle, and the rule refuses a ragtime."
    import keras
    keras.utils.set_random_seed(0)
    data = clip_data(max_pieces={c: 14 for c in COMPOSERS}, root=tmp_path / "cache")
    model = build_event_lstm(data.encoding.vocab_size, len(data.classes), dim=8, units=(8,))
    fit_classifier(model, clip_dataset(data, "train", batch_size=16), clip_dataset(data, "valid").take(2), epochs=1,
                   steps_per_epoch=4, verbose=0)
    bundle = save_classifier(model, tmp_path / "b", data.classes, data.encoding)
    with pytest.raises(ValueError, match="no refusal rule"): load_trusted(bundle)
    figures = calibrate_bundle(bundle, data)
    assert sorted(p.name for p in bundle.iterdir() if p.name.startswith("trust")) == ["trust.json", "trust.npz"]
    assert not [p for p in bundle.iterdir() if p.name.startswith(".")]                 # no temporary file left
    assert figures["temperature"] > 0 and 0 <= figures["test_accepted"] <= 1
    joplin = load_unseen("far").query("collection == 'joplin'").path.iloc[0]
    assert load_trusted(bundle).predict_midi(joplin)["composer"] == NONE_OF_THESE
    other = clip_data(composers=("Bach", "Palestrina"), max_pieces={"Bach": 14, "Palestrina": 14}, root=tmp_path / "cache2")
    with pytest.raises(ValueError, match="knows"): calibrate_bundle(bundle, other)


def test_load_unseen_names_a_missing_manifest(tmp_path, monkeypatch):
    monkeypatch.setenv("MAESTRO_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="build_unseen.py"): load_unseen()


def test_proportion_interval_holds_the_rate_and_narrows_with_n():
    for k, n in ((0, 5), (3, 5), (25, 25), (45, 50)):
        lo, hi = proportion_interval(k, n)
        assert 0 <= lo <= k / n <= hi <= 1
    assert np.diff(proportion_interval(90, 100)) < np.diff(proportion_interval(9, 10))
    np.testing.assert_allclose(proportion_interval(5, 10), (0.2366, 0.7634), atol=1e-4)      # Wilson, not Clopper-Pearson
    assert np.diff(proportion_interval(5, 10, level=0.5)) < np.diff(proportion_interval(5, 10))


def test_maestro_classify_uses_the_shipped_classifier_and_says_none_of_these(tmp_path):
    "From a terminal, with no --bundle and nothing trained: a ragtime is refused with its nearest composer, a chorale is Bach."
    import os, subprocess, sys
    joplin = load_unseen("far").query("collection == 'joplin'").path.iloc[0]
    split = json.loads((shipped_dir("classifier") / "corpus.json").read_text())
    m = load_manifest().set_index("id")
    chorale = next(m.path[r["id"]] for r in split["test"] if m.composer[r["id"]] == "Bach")
    env = {**os.environ, "MAESTRO_CACHE": str(tmp_path / "empty-cache")}              # no model of the user's
    r = subprocess.run([Path(sys.executable).parent / "maestro", "classify", joplin, chorale], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr
    line = {Path(p).stem: next(l for l in r.stdout.splitlines() if Path(p).stem in l) for p in (joplin, chorale)}
    assert "none of these (nearest: " in line[Path(joplin).stem]
    assert "Bach" in line[Path(chorale).stem] and "none of these" not in line[Path(chorale).stem]
