"""The export lesson (export): notes written as MIDI by each of the four backends and read back with `read_notes` on real
corpus pieces (tolerance: one tick, 1/960 s at 120 bpm, or 1/480 beat); what `midi_ready` changes, checked against
the original notes independently; damaged performance tokens to MIDI; bad notes and bad paths; the NumPy
synthesiser (pitch, length, loudness, speed), engines, WAV files, pictures and `save_piece`."""
import wave
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, HealthCheck, strategies as st

from maestro_lessons import export as ex
from maestro_lessons.corpus import load_manifest
from maestro_lessons.notes import Notes, read_notes
from maestro_lessons.encodings import PerformanceEncoding, NoteChordEncoding, PianoRollEncoding

TICK_S = ex.tempo_us(120) / 1e6 / ex.TICKS_PER_QUARTER      # one tick at 120 bpm, in seconds
TICK_B = 1 / ex.TICKS_PER_QUARTER                             # one tick in beats


@pytest.fixture(scope="module")
def manifest():
    return load_manifest()

def piece(manifest, id_, unit="second"):
    return read_notes(manifest.loc[manifest.id == id_, "path"].iloc[0], unit=unit)

@pytest.fixture(scope="module")
def chorale(manifest): return piece(manifest, "bach-bwv7.7")

@pytest.fixture(scope="module")
def quartet(manifest): return piece(manifest, "mozart-k155-movement1")

def sample_ids(manifest, per_composer=40, seed=0):
    "A fixed sample of piece ids, up to `per_composer` from each composer."
    return (manifest.groupby("composer", group_keys=False)
            .apply(lambda d: d.sample(min(len(d), per_composer), random_state=seed)).id.tolist())

def assert_close(got: Notes, want: Notes, tol: float):
    "Same notes in the same order: equal pitches and velocities, times within `tol`."
    assert len(got) == len(want), (len(got), len(want))
    np.testing.assert_array_equal(got.pitch, want.pitch)
    np.testing.assert_array_equal(got.velocity, want.velocity)
    assert np.abs(got.start - want.start).max() <= tol + 1e-9
    assert np.abs(got.end - want.end).max() <= tol + 1e-9

def sort_like_reader(n: Notes, grid: float | None = None) -> Notes:
    """Notes sorted by (start, pitch, end), the order used to compare two tables; with `grid`, starts are first
    rounded to it, so that notes a few ticks apart in a finer file (a score's 7-tuplet against its triplet)
    sort the same way once written on a coarser grid."""
    start = n.start if grid is None else np.round(n.start / grid)
    return n[np.lexsort((n.end, n.pitch, start))]


# --- four backends, real pieces ----------------------------------------------------------------------

@pytest.mark.parametrize("backend", ex.BACKENDS)
def test_backends_round_trip_chorale(backend, chorale, tmp_path):
    "Each backend's file reads back as exactly the notes it meant to write, to one tick."
    path = ex.write_midi(chorale, tmp_path / f"{backend}.mid", backend=backend)
    assert path.exists() and not list(tmp_path.glob(".*"))          # no temporary file left behind
    assert_close(read_notes(path), ex.midi_ready(chorale), TICK_S)

@pytest.mark.parametrize("backend", ex.BACKENDS)
def test_backends_keep_tracks_and_programs(backend, quartet, tmp_path):
    "program=None keeps the quartet's four string tracks, their program and its dynamics."
    notes = quartet[quartet.start < 30] if backend == "music21" else quartet     # music21 is slow: 30 s of it
    path = ex.write_midi(notes, tmp_path / "q.mid", backend=backend, program=None)
    back = read_notes(path)
    assert_close(back, ex.midi_ready(notes, program=None), TICK_S)
    assert set(back.program.tolist()) == set(notes.program.tolist())
    assert len(np.unique(back.track)) == len(np.unique(notes.track))

def test_midi_ready_is_the_original_where_midi_can_hold_it(manifest, tmp_path):
    """Independent check on a corpus sample: with one track per voice (program=None), written by symusic and read
    back, every piece whose voices never overlap themselves comes back note for note (times to one tick)."""
    checked = 0
    for id_ in sample_ids(manifest):
        notes = piece(manifest, id_)
        df = notes.to_df()
        df = df.sort_values(["track", "pitch", "start"])
        nxt = df.groupby(["track", "pitch"]).start.shift(-1)
        if (df.end > nxt).any() or df.duplicated(["track", "pitch", "start"]).any(): continue
        back = read_notes(ex.write_midi(notes, tmp_path / "x.mid", program=None))
        assert_close(sort_like_reader(back, 4 * TICK_S), sort_like_reader(notes, 4 * TICK_S), TICK_S)
        checked += 1
    assert checked >= 100, checked                                # 138 of the 207 sampled pieces qualify

def test_beats_round_trip_and_tempo(manifest, tmp_path):
    "Notes in beats are written on the beat grid and read back in beats; the tempo sets their length in seconds."
    beats = piece(manifest, "bach-bwv7.7", unit="beat")
    path = ex.write_midi(beats, tmp_path / "b.mid", tempo=90, program=None)
    assert_close(sort_like_reader(read_notes(path, unit="beat")), sort_like_reader(beats), TICK_B)
    assert read_notes(path).duration == pytest.approx(beats.duration * 60 / 90, abs=TICK_S)

def test_unisons_merged_and_overlaps_cut(chorale):
    "On one track, notes of one pitch never overlap and never start together; velocities stay in 1..127."
    for q in ex.midi_parts(chorale):
        o = np.lexsort((q.start, q.pitch))
        p, s, e = q.pitch[o], q.start[o], q.end[o]
        same = p[1:] == p[:-1]
        assert (e[:-1][same] <= s[1:][same]).all() and (s[1:][same] > s[:-1][same]).all()
        assert (q.end > q.start).all() and q.velocity.min() >= 1 and q.velocity.max() <= 127
    assert len(ex.midi_ready(chorale)) < len(chorale)               # the chorale has unisons between voices

notes_strategy = st.lists(st.tuples(st.integers(0, 127), st.integers(0, 4000), st.integers(0, 600),
                                    st.integers(0, 127)), min_size=1, max_size=40)

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=notes_strategy, backend=st.sampled_from(["symusic", "mido", "pretty_midi"]))
def test_any_valid_notes_round_trip(rows, backend, tmp_path):
    "Random notes (unisons, zero lengths and velocity 0 included) come back as `midi_ready` says, from any backend."
    p, s, d, v = map(np.array, zip(*rows))
    notes = Notes(pitch=p, start=s * 0.001, end=(s + d) * 0.001, velocity=v)
    assert_close(read_notes(ex.write_midi(notes, tmp_path / "h.mid", backend=backend)), ex.midi_ready(notes), TICK_S)


# --- tokens to MIDI ----------------------------------------------------------------------------------

def test_damaged_performance_tokens_to_midi(chorale, tmp_path):
    "Tokens with 5 % random ids, cut off mid-piece, decode to notes that write and read back exactly."
    enc = PerformanceEncoding()
    ids = enc.encode(chorale)
    rng = np.random.default_rng(1)
    ids = ids[: len(ids) // 2].copy()
    hit = rng.random(len(ids)) < 0.05
    ids[hit] = rng.integers(3, enc.vocab_size, hit.sum())
    path = ex.tokens_to_midi(ids, enc, tmp_path / "g.mid")
    assert_close(read_notes(path), ex.midi_ready(enc.decode(ids)), TICK_S)

def test_note_chord_tokens_to_midi(manifest, tmp_path):
    "The classic note/chord strings (beats) become a MIDI file with the half-beat grid at the given tempo."
    enc = NoteChordEncoding()
    ids = enc.encode(piece(manifest, "bach-bwv7.7", unit="beat"))
    back = read_notes(ex.tokens_to_midi(ids, enc, tmp_path / "nc.mid", tempo=100), unit="beat")
    assert np.allclose(np.unique(np.diff(np.unique(back.start))), 0.5)
    assert len(np.unique(back.start)) == len(ids)


# --- bad notes, bad paths ----------------------------------------------------------------------------

def test_bad_notes_are_refused_with_the_reason(chorale, tmp_path):
    with pytest.raises(ValueError, match="empty"): ex.write_midi(Notes([], [], [], []), tmp_path / "e.mid")
    high = Notes(pitch=[60, 128], start=[0, 1], end=[1, 2], velocity=[80, 80])
    with pytest.raises(ValueError, match=r"note 1 \(pitch 128.*outside 0..127.*repair=True"): ex.write_midi(high, tmp_path / "h.mid")
    neg = Notes(pitch=[60, 62], start=[0, 1], end=[1, 0.5], velocity=[80, 80])
    with pytest.raises(ValueError, match="negative duration"): ex.write_midi(neg, tmp_path / "n.mid")
    nan = Notes(pitch=[60], start=[np.nan], end=[1], velocity=[80])
    with pytest.raises(ValueError, match="finite"): ex.write_midi(nan, tmp_path / "nan.mid")
    early = Notes(pitch=[60], start=[-1], end=[1], velocity=[80])
    with pytest.raises(ValueError, match="negative start"): ex.write_midi(early, tmp_path / "neg.mid")
    with pytest.raises(TypeError, match="Notes"): ex.write_midi([60, 62], tmp_path / "l.mid")
    with pytest.raises(ValueError, match="tempo"): ex.write_midi(chorale, tmp_path / "t.mid", tempo=0)
    with pytest.raises(ValueError, match="program"): ex.write_midi(chorale, tmp_path / "p.mid", program=128)
    assert not list(tmp_path.iterdir())                              # nothing was written

def test_repair_drops_bad_notes_and_says_so(tmp_path):
    mixed = Notes(pitch=[60, 200, 64, -1], start=[0, 0, 1, 2], end=[1, 1, 0.5, 3], velocity=[80, 80, 80, 80])
    with pytest.warns(UserWarning, match="dropped 3 of 4"):
        back = read_notes(ex.write_midi(mixed, tmp_path / "r.mid", repair=True))
    assert back.pitch.tolist() == [60]
    with pytest.raises(ValueError, match="all 1 notes were invalid"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex.write_midi(mixed[[1]], tmp_path / "r2.mid", repair=True)

def test_unwritable_paths_name_the_path(chorale, tmp_path):
    (tmp_path / "file.txt").write_text("x")
    for bad, why in [(tmp_path / "missing" / "x.mid", "does not exist"), (tmp_path, "is a directory"),
                     (tmp_path / "file.txt" / "x.mid", "does not exist")]:
        with pytest.raises(ex.ExportError, match="does not exist|is a directory") as e:
            ex.write_midi(chorale, bad)
        assert str(bad) in str(e.value) and why in str(e.value)
        with pytest.raises(OSError): ex.write_wav(np.zeros(10), bad, 16000)   # ExportError is an OSError


# --- audio -------------------------------------------------------------------------------------------

def test_synth_pitch_length_and_peak():
    "Middle C rings at 261.6 Hz; the output covers the note and its release; the peak is 0.9."
    c = Notes(pitch=[60], start=[0.5], end=[1.5], velocity=[100])
    y = ex.synthesize(c, sample_rate=16000)
    assert 1.5 * 16000 <= len(y) <= 2.5 * 16000 and np.abs(y[:int(0.5 * 16000)]).max() == 0
    spec = np.abs(np.fft.rfft(y[8000:24000]))
    assert abs(np.argmax(spec) * 16000 / 16000 - 261.6) <= 1.5
    assert np.abs(y).max() == pytest.approx(0.9, abs=1e-6) and y.dtype == np.float32

def test_synth_velocity_and_high_notes():
    "A louder velocity gives a louder note; pitch 127 (harmonics above Nyquist left out) stays finite."
    n = Notes(pitch=[60, 60], start=[0, 2], end=[1, 3], velocity=[40, 120])
    y = ex.synthesize(n, sample_rate=16000)
    rms = lambda a, b: float(np.sqrt((y[int(a * 16000):int(b * 16000)] ** 2).mean()))
    assert rms(2, 3) > 3 * rms(0, 1)
    top = ex.synthesize(Notes(pitch=[127, 0], start=[0, 0], end=[.5, .5], velocity=[90, 90]), sample_rate=16000)
    assert np.isfinite(top).all() and np.abs(top).max() > 0

def test_synth_is_fast_enough(quartet):
    """The NumPy synthesiser renders a real quartet movement (238 s) at least 10x faster than real time, in CPU time
    (wall time on a shared 2-core machine varies too much; typical figures are 70-140x)."""
    import time
    t0 = time.process_time()
    y = ex.synthesize(quartet, sample_rate=22050)
    speed = len(y) / 22050 / (time.process_time() - t0)
    assert speed >= 10, f"{speed:.1f}x real time"

def test_to_audio_engines(chorale):
    "auto picks the best available; naming an unavailable engine says how to install it; numpy always works."
    small = chorale[chorale.start < 3]
    have = ex.available_engines()
    assert have[-1] == "numpy"
    s = ex.to_audio(small, sample_rate=16000)
    assert s.engine == have[0] and s.sample_rate == 16000 and s.seconds >= 3 and np.abs(s.samples).max() > 0.5
    for engine in ("fluidsynth", "tinysoundfont"):
        if engine in have:
            got = ex.to_audio(small, sample_rate=16000, engine=engine)
            assert got.engine == engine and got.seconds >= 3 and np.abs(got.samples).max() == pytest.approx(0.9, abs=1e-3)
        else:
            with pytest.raises(RuntimeError, match="pip install"): ex.to_audio(small, engine=engine)
    with pytest.raises(ValueError, match="engine must be"): ex.to_audio(small, engine="casio")

def test_beats_audio_follows_tempo(manifest):
    beats = piece(manifest, "bach-bwv7.7", unit="beat")
    beats = beats[beats.start < 8]
    s60, s120 = (ex.to_audio(beats, 8000, engine="numpy", tempo=t) for t in (60, 120))
    assert s60.seconds == pytest.approx(2 * s120.seconds, rel=0.1)

def test_write_wav_round_trip(tmp_path):
    y = np.sin(np.linspace(0, 100, 8000)).astype(np.float32) * 0.5
    path = ex.write_wav(y, tmp_path / "a.wav", 16000)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 16000, 8000)
        back = np.frombuffer(w.readframes(8000), "<i2") / 32767
    assert np.abs(back - y).max() <= 1 / 32767
    stereo = ex.write_wav(np.stack([y, -y], 1), tmp_path / "s.wav", 16000)
    with wave.open(str(stereo)) as w: assert w.getnchannels() == 2
    with pytest.raises(ValueError, match="NaN"): ex.write_wav(np.array([0, np.nan]), tmp_path / "n.wav", 16000)
    with pytest.raises(ValueError, match="sample_rate"): ex.write_wav(y, tmp_path / "r.wav")
    with pytest.raises(ValueError, match="shape"): ex.write_wav(np.zeros((4, 3)), tmp_path / "x.wav", 16000)

def test_audio_player_is_short(chorale):
    from IPython.display import Audio
    a = ex.audio_player(chorale, sample_rate=8000, seconds=2, engine="numpy", compress=False)
    assert isinstance(a, Audio) and len(a.data) <= 44 + 2 * 8000 * 2

def test_audio_player_mp3_holds_the_sound(chorale):
    "The compressed player is MP3 (declared so in its HTML), far smaller than the WAV, and decodes to the same length and loudness."
    import io, soundfile
    wav = ex.audio_player(chorale, sample_rate=16000, seconds=4, engine="numpy", compress=False)
    mp3 = ex.audio_player(chorale, sample_rate=16000, seconds=4, engine="numpy")
    assert 'type="audio/mpeg"' in mp3._repr_html_() and len(mp3.data) < len(wav.data) / 5
    y, sr = soundfile.read(io.BytesIO(mp3.data))
    ref = ex.to_audio(chorale[chorale.start < 4], 16000, "numpy").samples[:4 * 16000]
    assert sr == 16000 and abs(len(y) - len(ref)) < 0.05 * len(ref)
    assert abs(np.sqrt(np.mean(y ** 2)) - np.sqrt(np.mean(ref ** 2))) < 0.2 * np.sqrt(np.mean(ref ** 2))


# --- pictures, fixed offsets, save_piece -------------------------------------------------------------

def test_pictures(chorale, manifest, tmp_path):
    import matplotlib.pyplot as plt
    png = ex.save_piano_roll_png(chorale, tmp_path / "c.png", title="c")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    enc = PerformanceEncoding()
    ids = enc.encode(chorale)
    fig = ex.plot_tokens(ids, enc, start=10, n=40, mark=[12, 20])
    assert len(fig.axes) == 2 and "tokens 10..49" in fig.axes[1].get_title()
    nc = NoteChordEncoding()
    fig2 = ex.plot_tokens(nc.encode(piece(manifest, "bach-bwv7.7", unit="beat")), nc, n=10)
    plt.close(fig); plt.close(fig2)
    with pytest.raises(ValueError, match="token_times knows"): ex.token_times([1, 2], PianoRollEncoding())
    with pytest.raises(ValueError, match="no tokens"): ex.plot_tokens(ids, enc, start=len(ids) + 5)

def test_token_times_match_decoded_onsets(chorale):
    "Each NOTE_ON token's time is the onset of the note it makes."
    enc = PerformanceEncoding()
    ids = enc.encode(chorale)
    t = ex.token_times(ids, enc)
    on = (ids >= enc.on0) & (ids < enc.off0)
    got = sorted(zip(np.round(t[on] / enc.step).astype(int).tolist(), (ids[on] - enc.on0).tolist()))
    d = enc.decode(ids)
    want = sorted(zip(np.round(d.start / enc.step).astype(int).tolist(), d.pitch.tolist()))
    assert got == want

def test_fixed_offsets(manifest):
    beats = piece(manifest, "bach-bwv7.7", unit="beat")
    c = ex.fixed_offsets(beats)
    onsets = np.unique(c.start)
    assert np.allclose(onsets, np.arange(len(onsets)) * 0.5) and len(onsets) == len(np.unique(beats.start))
    assert np.allclose(c.end - c.start, 1.0) and (c.pitch == beats.pitch).all()

def test_save_piece(chorale, tmp_path):
    out = ex.save_piece(chorale[chorale.start < 5], tmp_path / "run" / "demo", "bach_1", sample_rate=16000)
    folder = tmp_path / "run" / "demo"
    assert sorted(p.name for p in folder.iterdir()) == ["bach_1.mid", "bach_1.png", "bach_1.wav"]
    assert out["engine"] in ex.ENGINES and out["seconds"] >= 5 and out["n_notes"] > 0
    assert_close(read_notes(out["midi"]), ex.midi_ready(chorale[chorale.start < 5]), TICK_S)
    with wave.open(str(out["wav"])) as w: assert w.getframerate() == 16000

def test_save_piece_leaves_nothing_when_it_fails(chorale, tmp_path):
    with pytest.raises(ValueError, match="engine"):
        ex.save_piece(chorale, tmp_path, "x", engine="casio")
    with pytest.raises(ValueError, match="empty"):
        ex.save_piece(Notes([], [], [], []), tmp_path, "y")
    with pytest.raises(ValueError, match="bad piece name"):
        ex.save_piece(chorale, tmp_path, "../z")
    assert list(tmp_path.iterdir()) == []
