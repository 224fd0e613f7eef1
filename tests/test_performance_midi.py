"""Performance MIDI as a first-class input: a MAESTRO-style collection (velocities, sustain pedal, expressive timing,
a tempo change, one piano track) runs end to end through the `maestro` commands: report, the performance-event cache,
train classifier, classify, train generator, generate. The collection is made here from bundled pieces (no download)."""
import json

import numpy as np
import pandas as pd
import pytest

from maestro_lessons import cli
from maestro_lessons.corpus import read_maestro_csv
from maestro_lessons.notes import read_notes

from performance_fixture import COMPOSERS, make_collection, mido_notes

KEPT = [name for name, _, n in COMPOSERS if n >= 3]          # enough works for a split
FEW = [name for name, _, n in COMPOSERS if n < 3]


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    "The CSV of the collection, with the course's cache moved to a temporary folder for the module."
    root = tmp_path_factory.mktemp("maestro-style")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MAESTRO_CACHE", str(root / "cache"))
        yield make_collection(root / "data")


@pytest.fixture(scope="module")
def manifest(collection): return read_maestro_csv(collection)


def main(capsys, *argv) -> tuple[int, str, str]:
    "`maestro ARGV` in this process (TensorFlow is imported once for the module): exit code, stdout, stderr."
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_read_notes_sees_the_pedal_as_mido_does(manifest):
    extended = 0
    for path in manifest.path:
        ours, raw = (read_notes(path, pedal=p).to_df().sort_values(["pitch", "start"]).reset_index(drop=True)
                     for p in (True, False))
        theirs, theirs_raw = mido_notes(path), mido_notes(path, pedal=False)
        assert len(ours) == len(theirs) and (ours.pitch.values == theirs.pitch.values).all(), path
        np.testing.assert_allclose(ours.start, theirs.start, atol=2e-3)          # through the tempo change
        np.testing.assert_allclose(ours.end, theirs.end, atol=2e-3)              # pedal-extended ends
        np.testing.assert_allclose(raw.end, theirs_raw.end, atol=2e-3)           # the keys' own releases
        assert (ours.velocity.values == theirs.velocity.values).all()
        extended += int((ours.end - raw.end > 0.1).sum())
    assert extended > 0.5 * sum(len(read_notes(p)) for p in manifest.path)      # the pedal matters in this fixture


def test_report_lists_composers_pieces_and_those_too_few_to_split(collection, capsys):
    code, out, err = main(capsys, "report", "--maestro-csv", collection)
    assert code == 0, err
    table = out.split("Split by piece")[0]
    for name, _, n in COMPOSERS:
        assert any(line.startswith(name) and line.split()[len(name.split())] == str(n) for line in table.splitlines()), (name, out)
    assert "Files skipped: 0" in out
    assert f"Too few works for a split (under 3; training leaves them out): {FEW[0]} (2)" in out


def test_performance_event_cache_keeps_velocity_and_timing(manifest):
    from maestro_lessons.encodings import PerformanceEncoding
    from maestro_lessons.sequences import token_cache
    enc = PerformanceEncoding()
    cache = token_cache(manifest, enc, progress=False)
    assert len(cache) == len(manifest) and cache.classes == sorted(manifest.composer.unique())
    toks = np.asarray(cache.piece(0))
    names = [enc.vocab.tokens[t] for t in toks]
    assert len({n for n in names if n.startswith("VELOCITY_")}) >= 8                # dynamics, not one velocity
    assert len({n for n in names if n.startswith("TIME_SHIFT_")}) >= 10            # off-grid timing
    back, notes = enc.decode(toks), read_notes(manifest.path[0])
    assert len(back) == len(notes) and abs(back.duration - notes.duration) < 0.05


@pytest.fixture(scope="module")
def classifier(collection, tmp_path_factory):
    "Train a tiny classifier on the collection with `maestro train classifier`: its bundle folder and what it printed."
    out = tmp_path_factory.mktemp("bundle") / "classifier"
    import contextlib, io
    buf = io.StringIO()                                                         # capsys is per test, not per module
    with contextlib.redirect_stdout(buf):
        code = cli.main(["train", "classifier", "--maestro-csv", str(collection), "--notes", "16", "--stride", "8",
                         "--units", "8", "--epochs", "1", "--steps-per-epoch", "2", "--out", str(out)])
    return code, out, buf.getvalue()


def test_train_classifier_on_performances(classifier):
    code, out, printed = classifier
    assert code == 0 and (out / "settings.json").is_file() and (out / "model.keras").is_file()
    assert json.loads((out / "settings.json").read_text())["classes"] == sorted(KEPT)
    report = printed.split("Left out")[0]
    assert all(name in report for name, _, _ in COMPOSERS) and "Files skipped: 0" in report   # the report comes first
    assert f"Left out, fewer than 3 works (one each for train, validation and test): {FEW[0]} (2)" in printed


def test_classify_the_collection_prints_accuracy_per_composer(classifier, collection, manifest, capsys):
    code, out, err = main(capsys, "classify", "--maestro-csv", collection, "--bundle", classifier[1], "--no-report")
    assert code == 0, err
    pieces, accuracy = out.split("Accuracy per composer:")
    assert all(i in pieces for i in manifest.id)
    rows = {line.rsplit(None, 4)[0].strip(): line.split()[-4:] for line in accuracy.strip().splitlines()[2:]}
    for name, _, n in COMPOSERS: assert rows[name][0] == str(n), rows
    assert rows[FEW[0]][2] == "NaN" and rows["all known"][0] == str(len(manifest) - 2)
    code, out, err = main(capsys, "classify", "--maestro-csv", collection, "--bundle", classifier[1], "--json")
    def strict(constant): raise ValueError(f"not JSON: {constant}")
    result = json.loads(out, parse_constant=strict)                              # the report went to stderr, no NaN
    assert code == 0 and list(result["pieces"]) == manifest.id.tolist() and "Corpus:" in err
    per = {r["composer"]: r for r in result["per_composer"]}
    assert per[FEW[0]]["accuracy"] is None and per["all known"]["pieces"] == len(manifest) - 2
    code, out, err = main(capsys, "classify", manifest.path[0], manifest.path[5], "--bundle", classifier[1], "--json")
    result = json.loads(out)
    assert code == 0 and list(result) == [manifest.path[0], manifest.path[5]]
    assert all(r["composer"] in KEPT and abs(sum(r["probabilities"].values()) - 1) < 1e-4 for r in result.values())


def test_train_generator_and_generate_on_performances(collection, manifest, tmp_path, capsys):
    gen = tmp_path / "generator"
    code, out, err = main(capsys, "train", "generator", "--maestro-csv", collection, "--pieces", "0", "--length", "32",
                          "--batch-size", "4", "--units", "16", "--layers", "1", "--epochs", "1", "--steps", "2",
                          "--out", gen, "--no-report")
    assert code == 0, err
    assert "Left out, fewer than 3 works" in out and FEW[0] in out
    assert json.loads((gen / "generator.json").read_text())["encoding"]["composers"] == sorted(KEPT)
    bach = KEPT[0]
    code, out, err = main(capsys, "generate", "--model", gen, "--composer", bach, "--seconds", "3",
                          "--out", tmp_path / "free.mid")
    assert code == 0, err
    code, out, err = main(capsys, "generate", "--model", gen, "--composer", bach.lower(), "--seconds", "3",
                          "--maestro-csv", collection, "--no-report", "--include-primer", "--out", tmp_path / "primed.mid")
    assert code == 0, err
    primer = out.split("Primer: ")[1].split(" (")[0]
    assert manifest.set_index("id").composer[primer] == bach                     # a piece of the asked composer
    for f in ("free.mid", "primed.mid"): assert len(read_notes(tmp_path / f)) > 0
    heard = read_notes(manifest.set_index("id").path[primer])
    assert len(read_notes(tmp_path / "primed.mid")) >= 0.9 * (heard.start < 10).sum()   # the primer's notes come first
