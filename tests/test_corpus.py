"""The bundled corpus and the corpus functions on real files, user folders with bad files, and leaks."""
import json, shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maestro_lessons.corpus import (load_manifest, verify_corpus, scan_folder, read_maestro_csv, split_pieces,
                                    check_split, piece_groups, manifest_stats, summarize, load_jsb_chorales,
                                    enough_pieces, MIN_WORKS)
from maestro_lessons.notes import read_corpus_stats, read_notes
from maestro_lessons.files import data_dir, cache_dir

@pytest.fixture(scope="module")
def manifest(): return load_manifest()

@pytest.fixture(scope="module")
def split(manifest): return split_pieces(manifest)          # seed 0; computed once (about 10 s on the whole corpus)

def test_manifest_columns_and_composers(manifest):
    assert {"id", "composer", "title", "work", "m21_path", "n_notes", "duration_s", "sha256", "path"} <= set(manifest.columns)
    assert {"Bach", "Palestrina", "Monteverdi", "Beethoven", "Mozart", "Haydn", "Traditional"} <= set(manifest.composer)
    counts = manifest.composer.value_counts()
    assert counts["Bach"] >= 300 and counts["Palestrina"] >= 300 and counts["Traditional"] >= 1000
    assert manifest.id.is_unique
    assert (manifest.n_notes > 0).all() and (manifest.duration_s > 0).all()

def test_corpus_files_are_there_and_unchanged(manifest):
    assert verify_corpus(manifest, progress=False).empty

def test_every_midi_file_is_in_the_manifest(manifest):
    on_disk = {p.relative_to(data_dir() / "music21").as_posix() for p in (data_dir() / "music21" / "midi").rglob("*.mid")}
    assert on_disk == set(manifest.midi)

def test_build_failures_are_listed_with_a_reason():
    failures = pd.read_csv(data_dir() / "music21" / "failures.csv")
    assert list(failures.columns) == ["source", "reason"]
    assert failures.reason.notna().all() and not failures.reason.str.contains("not built yet").any()

def test_corpus_size_is_modest():
    size = sum(p.stat().st_size for p in (data_dir() / "music21" / "midi").rglob("*.mid"))
    assert size < 30e6, f"{size / 1e6:.1f} MB"

def test_every_corpus_piece_reads_and_matches_manifest(manifest):
    """A snapshot: the build recorded these counts with read_notes, so this catches a changed file or a changed reader;
    the test below checks read_notes itself against another parser."""
    stats, failed = read_corpus_stats(manifest, progress=False)
    assert failed.empty, failed.head()
    got = stats.set_index("id")
    assert got.notes.to_dict() == manifest.set_index("id").n_notes.to_dict()
    assert np.allclose(got.seconds.reindex(manifest.id).to_numpy(), manifest.duration_s.to_numpy(), atol=1e-6)

def test_read_notes_agrees_with_mido_on_corpus_pieces(manifest):
    "Independent of the manifest: mido's own note-on count and length (its tempo map) equal read_notes', 8 pieces per composer."
    import mido
    rows = manifest.groupby("composer", group_keys=False).apply(lambda d: d.sample(min(len(d), 8), random_state=0))
    for r in rows.itertuples():
        mf = mido.MidiFile(r.path)
        n_on = sum(1 for tr in mf.tracks for m in tr if m.type == "note_on" and m.velocity > 0 and m.channel != 9)
        notes = read_notes(r.path, pedal=False)
        assert n_on == len(notes) and abs(mf.length - float(notes.end.max())) < 0.01, (r.id, n_on, len(notes), mf.length)

def test_report_from_the_manifest_equals_the_report_from_the_files(manifest):
    stats, _ = read_corpus_stats(manifest.head(300), progress=False)
    pd.testing.assert_frame_equal(summarize(manifest_stats(manifest.head(300))), summarize(stats[["id", "composer", "notes", "seconds"]]),
                                  check_exact=False, atol=1e-6)
    total = summarize(manifest_stats(manifest)).loc["total"]
    assert total.pieces == len(manifest) and total.notes == manifest.n_notes.sum()

def test_manifest_stats_needs_recorded_counts(tmp_path):
    with pytest.raises(ValueError, match="read_corpus_stats"):
        manifest_stats(pd.DataFrame({"id": ["a"], "composer": ["X"], "path": ["a.mid"]}))

def test_split_has_no_leak_and_covers_composers(manifest, split):
    assert check_split(manifest, split).empty
    for comp, s in split.groupby(manifest.composer):
        assert (s == "train").any(), comp
    many = manifest.composer.value_counts().index[manifest.composer.value_counts() > 100]
    for comp in many:                                   # composers with many works appear on all three sides
        assert set(split[manifest.composer == comp]) == {"train", "valid", "test"}, comp

def test_palestrina_masses_stay_whole(manifest, split):
    pal = manifest[manifest.composer == "Palestrina"]
    per_mass = split[pal.index].groupby(pal.work).nunique()
    assert (per_mass == 1).all() and (pal.work.value_counts() > 1).any()

def test_identical_files_stay_on_one_side(manifest, split):
    # the corpus holds real duplicates (one tune printed in two collections, or twice in one)
    dup = manifest[manifest.sha256.duplicated(keep=False)]
    assert len(dup) > 0
    assert (split[dup.index].groupby(dup.sha256).nunique() == 1).all()

def test_same_seed_same_split_other_seed_other_split(manifest, split):
    assert split_pieces(manifest, seed=0).equals(split)
    assert (split_pieces(manifest, seed=1) != split).any()

def test_copies_of_a_file_are_grouped_even_with_different_titles():
    df = pd.DataFrame({"id": list("abcd"), "composer": ["X"] * 4, "work": ["w1", "w2", "w3", "w4"],
                       "sha256": ["s1", "s2", "s1", "s3"]})
    g = piece_groups(df)
    assert g[0] == g[2] and len(set(g)) == 3

def test_check_split_names_the_leak():
    df = pd.DataFrame({"id": ["m1", "m2", "m3"], "composer": ["X"] * 3, "work": ["q", "q", "r"]})
    leaks = check_split(df, pd.Series(["train", "test", "train"]))
    assert "q" in leaks.value.tolist() and "test/train" in leaks.splits.tolist()

def test_check_split_names_every_kind_of_leak():
    "A work on two sides, the same file on two sides, and the groups they make: each named with its ids (mutation-tested)."
    df = pd.DataFrame({"id": ["m1", "m2", "m3", "m4"], "composer": ["X"] * 4, "work": ["q", "q", "r", "s"],
                       "sha256": ["a", "b", "c", "c"]})
    leaks = check_split(df, pd.Series(["train", "test", "train", "valid"]))
    got = {(r.key, r.value): (r.splits, r.ids) for r in leaks.itertuples() if r.key != "group"}
    assert got == {("work", "q"): ("test/train", "m1, m2"), ("sha256", "c"): ("train/valid", "m3, m4")}
    assert sorted(leaks.ids[leaks.key == "group"]) == ["m1, m2", "m3, m4"]
    assert list(leaks.columns) == ["key", "value", "splits", "ids"]
    no_work = check_split(df.drop(columns="work"), pd.Series(["train", "test", "train", "valid"]))
    assert ("sha256", "c") in set(zip(no_work.key, no_work.value))                      # a missing column is skipped, not the rest
    assert check_split(df, pd.Series(["train"] * 4)).empty

def test_split_pieces_keeps_a_given_split_column(manifest):
    given = manifest.head(6).assign(split=["train", "train", "valid", "test", "train", "test"])
    s = split_pieces(given)
    assert s.name == "split" and s.tolist() == given.split.tolist()

def test_split_pieces_shares_and_switches(manifest):
    "The held-out shares follow the fractions asked (by whole groups of k folds), a zero fraction holds nothing out."
    m = manifest[manifest.composer.isin(["Bach", "Palestrina", "Monteverdi"])].set_index("id", drop=False)
    s = split_pieces(m)
    assert (s.index == m.index).all()                                                   # one answer per row, same index
    share = s.value_counts(normalize=True)
    assert 0.12 < share["test"] < 0.17 and 0.12 < share["valid"] < 0.17, share
    assert set(split_pieces(m, test=0)) == {"train", "valid"} and set(split_pieces(m, valid=0)) == {"train", "test"}
    half = split_pieces(m, valid=0, test=0.5).value_counts(normalize=True)["test"]
    assert 0.4 < half < 0.6, half

def test_split_pieces_of_a_tiny_collection_is_grouped_and_repeatable():
    "Too few pieces per composer to stratify: groups only, still whole works, the same for the same seed."
    df = pd.DataFrame({"id": [f"p{i}" for i in range(18)], "composer": ["A"] * 6 + ["B"] * 6 + ["C"] * 6,
                       "work": [f"w{i // 2}" for i in range(18)], "sha256": [f"s{i}" for i in range(18)]})
    from sklearn.model_selection import StratifiedGroupKFold                            # 6 pieces a composer < 7 folds:
    with pytest.raises(ValueError): next(StratifiedGroupKFold(7).split(df.id, df.composer, df.work))   # the fallback path
    splits = [split_pieces(df, seed=seed) for seed in (0, 0, 1, 2, 3)]
    assert splits[0].tolist() == splits[1].tolist()                                    # repeatable
    assert len({tuple(x) for x in splits}) > 1                                          # but the seed matters
    for x in splits:
        assert check_split(df, x).empty and {"train", "valid", "test"} <= set(x)        # works whole, all three sides
        assert (x == "test").sum() == 4                                                   # 15 % of 9 works, rounded up: 2 works

def test_scan_folder_with_bad_files(tmp_path, manifest):
    good = manifest.path[manifest.composer == "Bach"].iloc[:2].tolist()
    (tmp_path / "Bach").mkdir(); (tmp_path / "Chopin" / "Op. 28").mkdir(parents=True)
    for i, g in enumerate(good): shutil.copy(g, tmp_path / "Bach" / f"piece{i}.MIDI")
    (tmp_path / "Bach" / "empty.mid").write_bytes(b"")
    (tmp_path / "Bach" / "notes.txt").write_text("not a midi name: skipped")
    (tmp_path / "Chopin" / "Op. 28" / "page.mid").write_text("<html>")
    (tmp_path / "Chopin" / "dir.mid").mkdir()               # a directory named .mid
    m = scan_folder(tmp_path)
    assert sorted(m.composer.unique()) == ["Bach", "Chopin"]
    stats, failed = read_corpus_stats(m, progress=False)
    assert len(stats) == 2 and len(stats) + len(failed) == len(m) == 5
    reasons = dict(zip(failed.path.map(lambda p: Path(p).name), failed.reason))
    assert reasons == {"empty.mid": "empty file (0 bytes)", "dir.mid": "is a directory, not a MIDI file",
                       "page.mid": "not a MIDI file (it starts with b'<html>', a MIDI file starts with b'MThd')"}

def test_scan_folder_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"): scan_folder(tmp_path / "nope")

def test_enough_pieces_counts_works_not_files(tmp_path, manifest):
    bach = manifest.path[manifest.composer == "Bach"].tolist()
    for composer, names in {"Bach": ["a", "b", "c"], "Haydn": ["Quartet 1", "Quartet 1 (copy)", "Quartet 2"]}.items():
        (tmp_path / composer).mkdir()
        for i, n in enumerate(names): shutil.copy(bach[len(names) * (composer == "Haydn") + i], tmp_path / composer / f"{n}.mid")
    m = scan_folder(tmp_path)
    kept, few = enough_pieces(m)
    assert MIN_WORKS == 3 and few.to_dict() == {"Haydn": 2} and few.name == "works"   # three files, but a copy: two works
    assert kept.composer.unique().tolist() == ["Bach"] and kept.index.tolist() == m.index[m.composer == "Bach"].tolist()
    assert enough_pieces(m, minimum=2)[1].empty and len(enough_pieces(m, minimum=4)[0]) == 0

def test_bundled_composers_too_few_to_split(manifest):
    kept, few = enough_pieces(manifest)
    assert few.to_dict() == {"Haydn": 2} and set(kept.composer) == set(manifest.composer) - {"Haydn"}

def test_read_maestro_csv_keeps_split_and_groups_titles(tmp_path):
    pd.DataFrame({"canonical_composer": ["A", "A", "B"], "canonical_title": ["Sonata", "Sonata", "Etude"],
                  "split": ["train", "test", "validation"], "midi_filename": ["2004/a.midi", "2006/b.midi", "2004/c.midi"],
                  "duration": [1, 2, 3]}).to_csv(tmp_path / "m.csv", index=False)
    m = read_maestro_csv(tmp_path / "m.csv")
    assert m.split.tolist() == ["train", "test", "valid"] and m.path[0] == str(tmp_path / "2004" / "a.midi")
    assert split_pieces(m).tolist() == ["train", "test", "valid"]          # MAESTRO's own split is kept
    assert not check_split(m, m.split).empty                                # ...and its known leak is visible

def test_jsb_chorales_vendored():
    jsb = load_jsb_chorales("quarter")
    assert {k: len(v) for k, v in jsb.items()} == {"train": 229, "valid": 76, "test": 77}
    pitches = [p for c in jsb["train"] for step in c for p in step]
    assert min(pitches) >= 21 and max(pitches) <= 108
    assert len(load_jsb_chorales("8th")["test"]) == 77
    with pytest.raises(ValueError): load_jsb_chorales("16th")

def test_cache_dir_moves_with_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MAESTRO_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()

def test_scan_folder_reports_files_without_composer_folder(tmp_path, manifest):
    (tmp_path / "Bach").mkdir()
    shutil.copy(manifest.path.iloc[0], tmp_path / "Bach" / "a.mid")
    shutil.copy(manifest.path.iloc[0], tmp_path / "loose.mid")
    with pytest.warns(UserWarning, match="loose.mid"):
        m = scan_folder(tmp_path)
    assert m.id.tolist() == ["Bach/a"]
    assert [Path(s["path"]).name for s in m.attrs["skipped"]] == ["loose.mid"]


# --- bad input: every loader names the file and the problem ---------------------------------------------

def test_load_manifest_of_a_missing_corpus_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MAESTRO_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}/music21/manifest.csv: no manifest here"): load_manifest()

def test_load_manifest_without_a_midi_column_says_so(tmp_path, monkeypatch):
    (tmp_path / "music21").mkdir()
    (tmp_path / "music21" / "manifest.csv").write_text("id,composer\na,Bach\n")
    monkeypatch.setenv("MAESTRO_DATA", str(tmp_path))
    with pytest.raises(ValueError, match=r"manifest.csv: missing column\(s\) \['midi'\]"): load_manifest()

@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("canonical_composer,midi_filename\nBach,a.mid\n", r"missing column\(s\) \['canonical_title'\]"),
    (b"\xff\xfe\x00garbage", "not readable as CSV"),
    ("", "not readable as CSV"),
])
def test_read_maestro_csv_bad_input_names_the_file(tmp_path, content, message):
    f = tmp_path / "maestro.csv"
    if isinstance(content, bytes): f.write_bytes(content)
    elif content is not None: f.write_text(content)
    with pytest.raises((ValueError, FileNotFoundError), match=f"maestro.csv.*{message}|{message}.*maestro.csv"):
        read_maestro_csv(f)
