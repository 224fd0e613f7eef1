"""The seeds' models: the NumPy LSTM step against Keras, and the three samplers (note/chord, three heads, frames) on
small untrained models and real primers from the bundled corpus: lengths, grids, ranges, seeds, refused primers."""
import numpy as np
import pytest

from maestro_lessons.corpus import load_manifest
from maestro_lessons.encodings import NoteChordEncoding, NoteOffsetDurationEncoding, MultiHotDurationEncoding
from maestro_lessons.notes import read_notes
from maestro_lessons import seed_models as M


@pytest.fixture(autouse=True)
def own_cache_dir(tmp_path, monkeypatch):
    "Every test writes under its own MAESTRO_CACHE, never the user's."
    monkeypatch.setenv("MAESTRO_CACHE", str(tmp_path / "maestro-cache"))

@pytest.fixture(scope="module")
def bach_paths():
    m = load_manifest()
    return m.path[m.composer == "Bach"].tolist()[:3]

def _seeded():
    import keras
    keras.utils.set_random_seed(0)


def test_lstm_step_matches_keras_on_two_layers():
    _seeded()
    model = M.build_frame_model(units=16, n_layers=2, dropout=0.0)
    x = np.random.default_rng(0).random((3, 7, 89)).astype(np.float32)
    w, k, b = M.lstm_weights(model), *M._dense(model, "key_logits")
    assert len(w) == 2
    state, ours = None, []
    for t in range(x.shape[1]):
        h, state = M.lstm_step(w, x[:, t], state)
        ours.append(h @ k + b)
    np.testing.assert_allclose(np.stack(ours, 1), np.asarray(model(x, training=False))[..., :88], atol=1e-4)


def test_note_chord_sampler_writes_one_onset_per_step():
    _seeded()
    enc = NoteChordEncoding()
    pieces = M.sample_note_chord(M.build_note_chord_model(enc.vocab_size, units=16, n_layers=1), n=3, seconds=5, seed=2)
    assert len(pieces) == 3
    for p in pieces:                                           # 5 s at 120 beats a minute: 20 half-beat steps, each an onset
        assert p.unit == "beat"
        np.testing.assert_allclose(np.unique(p.start), np.arange(20) * 0.5)
        np.testing.assert_allclose(p.end - p.start, 0.5)


def test_heads_sampler_continues_a_real_primer(bach_paths):
    _seeded()
    enc = NoteOffsetDurationEncoding()
    model = M.build_note_offset_duration(units=16)
    primer = np.stack([M.triples_to_fields(enc.encode(read_notes(p, unit="beat")), enc)[:6] for p in bach_paths])
    pieces = M.sample_heads(model, primer, seconds=30, seed=1)
    assert len(pieces) == len(bach_paths) and sum(map(len, pieces)) > 0
    for p in pieces:
        assert p.unit == "beat" and (p.start < 60).all() and (p.end > p.start).all()
        on_grid = np.r_[p.start, p.end] / enc.step
        np.testing.assert_allclose(on_grid, np.round(on_grid), atol=1e-6)
        assert p.pitch.min() >= 0 and p.pitch.max() <= 127
    again = M.sample_heads(model, primer, seconds=30, seed=1)
    assert all(np.array_equal(a.pitch, b.pitch) and np.array_equal(a.start, b.start) for a, b in zip(pieces, again))
    one = M.sample_heads(model, primer[0], seconds=30, seed=1)            # a single primer (notes, 3) is one piece
    assert len(one) == 1


def test_frames_sampler_never_falls_silent(bach_paths):
    _seeded()
    enc = MultiHotDurationEncoding(step=0.05)
    model = M.build_frame_model(units=16)
    primer = np.stack([np.minimum(enc.encode(read_notes(p))[:5], 40) for p in bach_paths]).astype(np.float32)
    for temperature in (1.0, 0.0):
        for p in M.sample_frames(model, primer, seconds=4, temperature=temperature, seed=3):
            assert p.unit == "second" and len(p) and p.start.max() < 4
            assert enc.low <= p.pitch.min() and p.pitch.max() <= enc.high
            onsets = np.unique(p.start)
            np.testing.assert_allclose(onsets[0], 0)
            for a, b in zip(onsets[:-1], onsets[1:]):          # every key of a frame sounds until the next onset
                np.testing.assert_allclose(p.end[p.start == a], b)


def test_empty_primers_are_refused():
    _seeded()
    with pytest.raises(ValueError, match="primer is empty"):
        M.sample_heads(M.build_note_offset_duration(units=8), np.zeros((2, 0, 3), np.int64))
    with pytest.raises(ValueError, match="primer is empty"):
        M.sample_frames(M.build_frame_model(units=8), np.zeros(89, np.float32))
