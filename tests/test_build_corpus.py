"""The corpus builder: every bundled note is the score's note. Pieces re-read from music21 and compared with the
committed files, the stuck-note fixture refused by the same check, voices and grace notes, and the whole corpus
against the facts the build recorded from each score."""
import sys, warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maestro_lessons.corpus import load_manifest
from maestro_lessons.files import data_dir
from maestro_lessons.notes import note_checks, read_notes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "datasets"))
import build_corpus as bc                                                  # noqa: E402

FIXTURE = data_dir() / "fixtures" / "stuck-notes-haydn-opus74no1-movement3.mid"


@pytest.fixture(scope="module")
def manifest(): return load_manifest()


def score_of(row):
    "The music21 score a manifest row was exported from (the k-th of an opus for 'path#k')."
    from music21 import corpus
    warnings.simplefilter("ignore")
    src, _, k = row.m21_path.partition("#")
    parsed = corpus.parse(src)
    return list(parsed.scores)[int(k) - 1] if k else parsed


def expected(row):
    ready, _ = bc.prepared(score_of(row))
    return bc.score_notes(ready), bc.tempo_marks(ready)


def sample(manifest) -> pd.DataFrame:
    """The shortest piece of each collection, the Haydn movement of the fixture (voices and grace notes), and
    one whose triplets once counted as overlaps in the score's polyphony."""
    short = manifest.sort_values("n_notes").groupby("collection").head(1)
    return pd.concat([short, manifest[manifest.id.isin(["haydn-opus74no1-movement3", "haydn-opus1no1-movement3"])]])


def test_a_piece_per_collection_equals_its_score(manifest):
    rows = sample(manifest)
    assert set(rows.collection) == set(manifest.collection)
    for row in rows.itertuples():
        parts, tempos = expected(row)
        assert bc.check_against_score(Path(row.path).read_bytes(), parts, tempos) == [], row.id
        facts = bc.score_facts(parts, tempos)                 # the manifest's score columns, from the score again
        got = {k: getattr(row, k) for k in ("score_polyphony", "score_longest_q", "score_longest_where", "n_grace", "n_parts")}
        assert got == {k: facts[k] for k in got}, (row.id, got, facts)


def test_the_check_refuses_the_stuck_note_export(manifest):
    row = next(manifest[manifest.id == "haydn-opus74no1-movement3"].itertuples())
    parts, tempos = expected(row)
    problems = bc.check_against_score(FIXTURE.read_bytes(), parts, tempos)
    assert any("notes not in the score" in p for p in problems), problems
    fixed = note_checks(row.path)
    assert fixed["longest_beats"] == pytest.approx(max(max(p["duration"]) for p in parts))


def test_a_grace_note_sounds_briefly_and_its_note_keeps_its_length(tmp_path):
    from music21 import note, stream
    s, p = stream.Score(), stream.Part()
    g = note.Note("D5").getGrace()
    p.append([note.Note("C5", quarterLength=1), g, note.Note("C5", quarterLength=2), note.Note("E5", quarterLength=1)])
    s.insert(0, p)
    data, repeats, facts = bc.export(s)
    assert facts["mismatches"] == [] and facts["n_grace"] == 1
    f = tmp_path / "grace.mid"; f.write_bytes(data)
    b = read_notes(f, unit="beat")
    got = sorted(zip(b.pitch.tolist(), b.start.tolist(), (b.end - b.start).tolist()))
    assert got == [(72, 0.0, 1.0), (72, 1.0, 2.0), (74, 1.0, bc.GRACE_QL), (76, 3.0, 1.0)]


def test_a_run_of_grace_notes_is_played_in_turn_not_as_a_chord(tmp_path):
    from music21 import note, stream
    s, p = stream.Score(), stream.Part()
    run = [note.Note(n).getGrace() for n in ("G5", "E5", "C5")]
    p.append([*run, note.Note("B-4", quarterLength=1)])
    s.insert(0, p)
    data, _, facts = bc.export(s)
    assert facts["mismatches"] == [] and facts["n_grace"] == 3 and facts["score_polyphony"] == 2
    f = tmp_path / "run.mid"; f.write_bytes(data)
    b = read_notes(f, unit="beat")
    g = bc.GRACE_QL
    assert sorted(zip(b.start.tolist(), b.pitch.tolist())) == [(0.0, 70), (0.0, 79), (g, 76), (2 * g, 72)]


def test_one_pitch_twice_at_once_gets_a_voice_track_and_keeps_both_lengths(tmp_path):
    from music21 import chord, note, stream
    s, p = stream.Score(), stream.Part()
    p.partName = "Violin"
    v1, v2 = stream.Voice(), stream.Voice()
    v1.append(note.Note("A4", quarterLength=4))                  # a held A ...
    v2.append([note.Note("A4", quarterLength=1), chord.Chord(["A4", "C5"], quarterLength=1)])   # ... struck again under it
    m = stream.Measure(); m.insert(0, v1); m.insert(0, v2); p.append(m); s.insert(0, p)
    data, _, facts = bc.export(s)
    assert facts["mismatches"] == [] and facts["voice_tracks"] == 1
    f = tmp_path / "voices.mid"; f.write_bytes(data)
    b = read_notes(f, unit="beat")
    assert sorted(zip(b.pitch.tolist(), b.start.tolist(), b.end.tolist())) == [
        (69, 0.0, 1.0), (69, 0.0, 4.0), (69, 1.0, 2.0), (72, 1.0, 2.0)]
    c = note_checks(f)
    assert c["overlaps"] == 0 and c["parts"] == 1 and b.meta["track_names"] == ["Violin", "Violin (voice 2)"]


def test_voice_lanes_by_hand():
    # a held C (0-10) and C at 2 and 4 under it; a C at 10 starts as the held one ends: back on lane 0
    assert bc.voice_lanes([0, 2, 4, 10], [10, 3, 5, 11], [60, 60, 60, 60]) == [0, 1, 1, 0]
    assert bc.voice_lanes([0, 0], [4, 4], [60, 64]) == [0, 0]


def test_the_check_catches_a_shortened_note_and_a_wrong_tempo():
    parts = [dict(label="P", program=0, onset=[0.0, 1.0], duration=[1.0, 3.0], pitch=[60, 62],
                  velocity=[80, 80], grace=[False, False], bar=[1, 1])]
    tempos = [(0.0, 100.0)]
    good = bc.write_midi(parts, tempos, [])
    assert bc.check_against_score(good, parts, tempos) == []
    short = [dict(parts[0], duration=[1.0, 2.0])]
    assert bc.check_against_score(bc.write_midi(short, tempos, []), parts, tempos)[0].startswith("P: 1 score notes missing")
    assert "tempo map" in bc.check_against_score(good, parts, [(0.0, 120.0)])[0]


def test_every_bundled_piece_sounds_what_its_score_writes(manifest):
    """Every non-folk file (and every 10th tune), read back: its longest note is the longest its score writes, no
    pitch is struck again in a track while it sounds, no note has zero length."""
    rows = pd.concat([manifest[manifest.composer != "Traditional"], manifest[manifest.composer == "Traditional"].iloc[::10]])
    bad = []
    for r in rows.itertuples():
        c = note_checks(r.path)
        if abs(c["longest_beats"] - r.score_longest_q) > 1 / bc.TPQ or c["overlaps"] or c["zero_length"]:
            bad.append((r.id, c["longest_beats"], r.score_longest_q, c["overlaps"], c["zero_length"]))
    assert not bad, bad[:5]


def test_quartets_madrigals_and_long_notes_within_what_music_writes(manifest):
    quartets = manifest[manifest.collection.isin(["beethoven", "mozart", "haydn"]) & (manifest.n_parts == 4)]
    assert len(quartets) >= 40 and quartets.score_polyphony.max() <= 12
    madrigals = manifest[manifest.collection == "monteverdi"]
    assert madrigals.score_polyphony.max() <= 10
    long = manifest[manifest.score_longest_s > 30]
    assert long.score_longest_where.str.contains(", bar ").all()     # any such note is the score's, with its bar


def test_most_pieces_of_every_collection_are_kept(manifest):
    "At least 90 % of each collection's pieces of the first export (its counts, recorded here) survive the check."
    first_export = {"bach": 410, "palestrina": 1318, "monteverdi": 48, "beethoven": 22, "mozart": 16, "haydn": 9}
    kept = manifest.collection.value_counts()
    for coll, n in first_export.items(): assert kept[coll] >= 0.9 * n, (coll, kept[coll], n)
    assert (manifest.composer == "Traditional").sum() >= 0.9 * 10_962


def test_a_chord_symbol_is_not_played(tmp_path):
    "music21's own writer played chord symbols as chords of no length: stuck notes in folk tunes and madrigals."
    from music21 import harmony, note, stream
    s, p = stream.Score(), stream.Part()
    p.append([note.Note("C5", quarterLength=1)])
    p.insert(0, harmony.ChordSymbol("Am"))
    s.insert(0, p)
    data, _, facts = bc.export(s)
    assert facts["mismatches"] == [] and facts["chord_symbols"] == 1 and facts["n_grace"] == 0
    f = tmp_path / "symbol.mid"; f.write_bytes(data)
    b = read_notes(f, unit="beat")
    assert b.pitch.tolist() == [72] and (b.end - b.start).tolist() == [1.0]
