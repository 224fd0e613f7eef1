"""The judge of generated music: overlap ratios against the real-vs-real ceiling, the critic with its interval, copies,
identical pieces, and `maestro judge` on a folder, with its bad inputs."""
import json, os, re, shutil, subprocess, sys
from pathlib import Path

import numpy as np
import pytest

from maestro_lessons.corpus import load_manifest, split_pieces
from maestro_lessons.notes import Notes, read_notes
from maestro_lessons import judging as J
from maestro_lessons import cli

BIN = Path(sys.executable).parent / "maestro"
BROKEN = b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x10\x00"


@pytest.fixture(scope="module")
def three():
    "Bach, Palestrina and folk tunes of the bundled corpus, with a piece-level split."
    m = load_manifest()
    m = m[m.composer.isin(["Bach", "Palestrina", "Traditional"])]
    return m, split_pieces(m)


def test_a_distribution_overlaps_itself_up_to_the_ceiling_and_a_shifted_one_much_less():
    rng = np.random.default_rng(1)
    real = rng.normal(0, 1, 300)
    ceil = J.ceiling(real, 20, 0.01)
    same = np.mean([J.overlap_area(rng.normal(0, 1, 20), real, 0.01) for _ in range(30)]) / ceil
    shifted = np.mean([J.overlap_area(rng.normal(2.5, 1, 20), real, 0.01) for _ in range(30)]) / ceil
    assert 0.9 < same < 1.1 and shifted < 0.5, (same, shifted)
    assert J.overlap_area(real, real) == pytest.approx(1, abs=1e-3) and J.overlap_area(real, real + 100) < 1e-6


def test_overlap_table_is_one_for_real_music_and_low_for_a_transposed_copy(three):
    m, split = three
    bach = m[m.composer == "Bach"]
    gen = [read_notes(p) for p in bach.path[split[bach.index] == "test"][:20]]
    real = {"Bach": [read_notes(p) for p in bach.path[split[bach.index] == "train"]]}
    t = J.overlap_table({"Bach": gen}, real)
    assert list(t.columns) == list(J.FEATURES) and J.realism(t)["realism"] > 0.85, t.round(2)
    longer = [Notes(p.pitch, p.start * 3, p.end * 3, p.velocity) for p in gen]          # three times slower
    slow = J.overlap_table({"Bach": longer}, real)
    assert slow.loc["Bach", "note_density"] < 0.5 and slow.loc["Bach", "median_note_s"] < 0.5, slow.round(2)


def test_real_held_out_pieces_judged_as_generated_score_like_real_music(three):
    m, split = three
    held = {c: list(m.path[(m.composer == c) & (split == "test")].sample(6, random_state=1)) for c in ("Bach", "Palestrina")}
    r = J.judge(held, real=m[split == "train"])
    t, s = r["composers"], r["summary"]
    assert (t.critic_agree >= 0.8).all() and (t.realism > 0.8).all() and s["realism"] > 0.8, t
    assert s["identical"] == 0 and s["notes_over_real"] == 0 and s["pieces"] == 12 and r["errors"] == []
    assert re.fullmatch(r"critic_agree=\S+ \[.*\] realism=\S+ worst=\S+ \(\S+\) max_note_s=\S+ \(.*\) identical=0 "
                        r"longest_copy_notes=\d+", J.summary_line(s))


def test_identical_pieces_across_composers_are_found():
    m = load_manifest()
    a, b = (read_notes(p) for p in m.path[m.composer == "Bach"][:2])
    moved = Notes(a.pitch, a.start + 1e-6, a.end, a.velocity)            # the same up to float noise
    assert J.identical_groups({"bach-1": a, "palestrina-1": moved, "bach-2": b}) == [["bach-1", "palestrina-1"]]
    r = J.judge({"Bach": [a, b], "Palestrina": [a]}, critic=False)
    assert r["summary"]["identical"] == 2 and r["pieces"].identical.tolist() == [True, False, True]
    assert np.isnan(r["summary"]["critic_agree"]) and "not judged" in J.summary_line(r["summary"])


def test_a_copied_phrase_is_found_with_its_length():
    m = load_manifest()
    src = read_notes(m.path[m.composer == "Palestrina"].iloc[3])
    src = src[np.lexsort((src.pitch, src.start))]
    phrase = src[40:80]
    rng = np.random.default_rng(0)
    noise = Notes(rng.choice([20, 21, 22], 8), np.arange(8) * 3.0, np.arange(8) * 3.0 + 0.7, np.full(8, 80))
    t0 = 30 - phrase.start[0]
    piece = Notes(np.r_[noise.pitch, phrase.pitch, noise.pitch], np.r_[noise.start, phrase.start + t0, noise.start + 60],
                  np.r_[noise.end, phrase.end + t0, noise.end + 60], np.full(56, 80))
    index = J.copy_index([read_notes(p) for p in m.path[m.composer == "Palestrina"][:10]])
    assert J.longest_copy(piece, index) == len(phrase) - 1          # its first note's gap belongs to the notes before it
    assert J.longest_copy(noise, index) == 0


def _folder(tmp_path, n=3):
    m = load_manifest().set_index("id")
    for i, pid in enumerate(["bach-bwv7.7", "bach-bwv10.7", "bach-bwv101.7"][:n]):
        shutil.copy(m.path[pid], tmp_path / f"bach-{i + 1}.mid")
    (tmp_path / "notes.txt").write_text("not music")
    (tmp_path / "broken.mid").write_bytes(BROKEN)
    return tmp_path


def test_maestro_judge_on_a_folder_of_real_pieces(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")}
    r = subprocess.run([BIN, "judge", _folder(tmp_path), "--json"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "broken.mid" in r.stderr and "truncated" in r.stderr and "Traceback" not in r.stderr
    out = json.loads(r.stdout)
    s, rows = out["summary"], {c["composer"]: c for c in out["composers"]}
    assert list(rows) == ["Bach"] and rows["Bach"]["pieces"] == 3 and s["critic_agree"] >= 2 / 3
    longest = max(len(read_notes(tmp_path / f"bach-{i}.mid")) for i in (1, 2, 3))
    assert s["longest_copy_notes"] == longest                     # corpus pieces: each one is a copy of itself
    assert s["identical"] == 0 and out["errors"] and set(out["overlap"]["Bach"]) == set(J.FEATURES)


def test_judge_bad_inputs_say_what_is_wrong(tmp_path, capsys):
    assert cli.main(["judge", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.strip() == f"maestro judge: error: {tmp_path / 'none'}: not a folder"
    (tmp_path / "empty").mkdir()
    assert cli.main(["judge", str(tmp_path / "empty")]) == 2
    assert "no MIDI file here" in capsys.readouterr().err
    (tmp_path / "bad").mkdir(); (tmp_path / "bad" / "bach-1.mid").write_bytes(BROKEN)
    assert cli.main(["judge", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "nothing to judge" in err and "bach-1.mid" in err and "Traceback" not in err


def test_generated_files_reads_both_layouts(tmp_path):
    (tmp_path / "Bach").mkdir()
    for f in ("Bach/x.mid", "palestrina-1.mid", "palestrina-12.mid", "traditional.mid", "bach.wav", ".hidden.mid"):
        (tmp_path / f).write_bytes(b"")
    files = J.generated_files(tmp_path)
    assert {c: [p.name for p in fs] for c, fs in files.items()} == {
        "Bach": ["x.mid"], "palestrina": ["palestrina-1.mid", "palestrina-12.mid"], "traditional": ["traditional.mid"]}
