"""The generator, sampling and judging lessons: conditioned windows, the stateful sampler against the Keras model, sampling
distributions, repair, the copy check, saving, `generate` on real and bad primers, training on a corpus folder."""
import json, shutil, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from maestro_lessons.corpus import load_manifest, split_pieces
from maestro_lessons.encodings import PerformanceEncoding
from maestro_lessons.notes import MidiError, Notes, merge_unisons, read_notes
from maestro_lessons.sequences import token_cache, pieces_by_split
from maestro_lessons import generator as G, sampling as S, judging as J

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def own_cache_dir(tmp_path, monkeypatch):
    "Every test writes under its own MAESTRO_CACHE, never the user's."
    monkeypatch.setenv("MAESTRO_CACHE", str(tmp_path / "maestro-cache"))

@pytest.fixture(scope="module")
def manifest(): return load_manifest()

@pytest.fixture(scope="module")
def sample(manifest): return G.composer_sample(manifest, 4, seed=1)

@pytest.fixture(scope="module")
def cache(sample, tmp_path_factory):
    return token_cache(sample, PerformanceEncoding(), root=tmp_path_factory.mktemp("cache"), progress=False)

@pytest.fixture(scope="module")
def enc(cache): return G.generator_encoding(cache.classes)

@pytest.fixture(scope="module")
def tiny(enc):
    import keras
    keras.utils.set_random_seed(0)
    return G.Generator(G.build_generator(enc.vocab_size, embed_dim=16, units=32, n_layers=2, dropout=0.1), enc)

@pytest.fixture(scope="module")
def saved(tiny, tmp_path_factory):
    return G.save_generator(tiny, tmp_path_factory.mktemp("gen") / "generator")


def test_composer_windows_start_with_the_pieces_composer(cache, sample, enc):
    "Every window's input is its piece's composer token followed by the target shifted by one."
    parts = pieces_by_split(cache, sample, split_pieces(sample))
    cids = G.composer_ids_of(cache, enc)
    for x, y in G.composer_lm_dataset(cache, parts["train"], cids, length=64, batch_size=8, shuffle=False).take(3):
        x, y = x.numpy(), y.numpy()
        np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
        assert set(x[:, 0]) <= set(cids) and not np.isin(y, cids).any()
    with pytest.raises(ValueError, match="composer ids"):
        G.composer_lm_dataset(cache, parts["train"], cids[:2])


def test_sampler_follows_the_keras_model_step_by_step(tiny, enc):
    "Greedy decoding with the carried state equals argmax of the Keras model re-run on the whole sequence."
    s = tiny.sampler()
    prefix = np.r_[enc.composer_id("Bach"), enc.vocab.ids(["NOTE_ON_60", "TIME_SHIFT_20", "NOTE_OFF_60"])]
    fast = s.sample(prefix, tokens=12, temperature=0)[0]
    seq, penalty = list(prefix), s.penalty.numpy()
    for _ in range(12):
        seq.append(int(np.argmax(tiny.model.predict(np.array([seq]), verbose=0)[0, -1] + penalty)))
    np.testing.assert_array_equal(fast, seq[len(prefix):])


def test_batch_rows_are_the_rows_alone(tiny, enc):
    "A batch of 4 gives 4 different variations; each row is a valid draw (the seed fixes the batch)."
    s, p = tiny.sampler(), [enc.composer_id("Haydn")]
    a, b = s.sample(p, tokens=100, batch=4, seed=7), s.sample(p, tokens=100, batch=4, seed=7)
    np.testing.assert_array_equal(a, b)
    assert len({r.tobytes() for r in a}) == 4
    assert not np.isin(a, [enc.pad_id, enc.bos_id, enc.eos_id, *range(enc.composer0, enc.vocab_size)]).any()


def _fixed_distribution_model(enc, p):
    "A generator whose next-token distribution is `p` whatever it has read (dense kernel 0, bias log p)."
    import keras
    m = G.build_generator(enc.vocab_size, embed_dim=4, units=4, n_layers=1, dropout=0)
    dense = m.get_layer("logits")
    dense.kernel.assign(np.zeros(dense.kernel.shape, np.float32))
    dense.bias.assign(np.log(np.maximum(p, 1e-30)).astype(np.float32))
    return S.Sampler(m, enc)


def test_temperature_top_k_and_top_p_give_the_right_distributions(enc):
    "Frequencies of 8,000 draws match softmax(logits / T), and top-k / top-p keep exactly the right tokens."
    p = np.zeros(enc.vocab_size); toks = enc.vocab.ids(["NOTE_ON_60", "NOTE_ON_64", "NOTE_ON_67", "TIME_SHIFT_5"])
    p[toks] = [0.5, 0.25, 0.15, 0.10]
    s = _fixed_distribution_model(enc, p)
    draw = lambda **kw: s.sample([enc.composer_id("Bach")], tokens=2000, batch=4, seed=3, **kw).ravel()
    freq = lambda d: np.array([(d == t).mean() for t in toks])
    np.testing.assert_allclose(freq(draw()), p[toks], atol=0.02)
    hot = p[toks] ** 0.5 / (p[toks] ** 0.5).sum()                                    # temperature 2
    np.testing.assert_allclose(freq(draw(temperature=2.0)), hot, atol=0.02)
    assert set(np.unique(draw(top_k=2))) == set(toks[:2])
    assert set(np.unique(draw(top_p=0.7))) == set(toks[:2])                           # 0.5 < 0.7 <= 0.75
    assert set(np.unique(draw(top_p=0.5))) == set(toks[:1])
    assert set(np.unique(draw(temperature=0))) == set(toks[:1])


def test_length_in_seconds(tiny, enc):
    "Rows stop once their time shifts reach the length; generate clips the notes to exactly that length."
    ids = tiny.sampler().sample([enc.composer_id("Bach")], seconds=3, batch=3, seed=0)
    for row in ids:
        row = row[row != 0]
        assert 3.0 <= S.time_steps(row, enc) * enc.step < 4.0 + 1e-9          # overshoot < one longest shift
        assert S.time_steps(row[:-1], enc) * enc.step < 3.0
    for notes in S.generate(tiny, "bach", seconds=3, n=3):
        assert len(notes) == 0 or notes.end.max() <= 3.0 + 1e-9


def test_generated_pieces_are_not_empty_and_respect_max_note(enc):
    "generate() gives music, not an empty piece, and no note outlasts `max_note`, even from a model that never says NOTE_OFF."
    p = np.zeros(enc.vocab_size); toks = enc.vocab.ids(["NOTE_ON_60", "NOTE_ON_64", "TIME_SHIFT_20"])
    p[toks] = [0.3, 0.3, 0.4]
    gen = G.Generator(_fixed_distribution_model(enc, p).model, enc)
    for max_note in (0.25, 1.0):
        pieces = S.generate(gen, "bach", seconds=6, n=3, seed=1, max_note=max_note)
        assert len(pieces) == 3 and all(len(notes) >= 5 for notes in pieces)
        assert all((notes.end - notes.start <= max_note + 1e-9).all() for notes in pieces)
    unlimited = S.generate(gen, "bach", seconds=6, n=3, seed=1, max_note=None)
    assert max(float((notes.end - notes.start).max()) for notes in unlimited) > 1.0   # the limit is what cut them


tokens_st = st.lists(st.integers(0, 400), max_size=300)

@settings(max_examples=150, deadline=None)
@given(tokens_st, st.sampled_from([None, 0.3, 2.0]))
def test_repair_makes_any_stream_valid(ids, max_note):
    "After repair: every NOTE_OFF closes a sounding note, nothing hangs or lasts past max_note, no special token; idempotent."
    enc = G.generator_encoding(["A", "B", "C"])
    ids = [i % enc.vocab_size for i in ids]
    out = S.repair_tokens(ids, enc, max_note=max_note)
    sounding = set()
    for t in out.tolist():
        assert enc.on0 <= t < enc.composer0
        if enc.on0 <= t < enc.off0: assert t - enc.on0 not in sounding; sounding.add(t - enc.on0)
        elif enc.off0 <= t < enc.shift0: assert t - enc.off0 in sounding; sounding.discard(t - enc.off0)
    assert not sounding
    np.testing.assert_array_equal(S.repair_tokens(out, enc, max_note=max_note), out)
    if max_note is not None and len(out):
        notes = enc.decode(out)
        assert (notes.end - notes.start <= max_note + 1e-9).all()
    notes = enc.decode(out)
    n_on = sum(enc.on0 <= t < enc.off0 for t in ids)
    assert len(notes) <= n_on and (notes.end > notes.start).all()


def _brute_longest(a, b):
    best = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a) + 1):
            s = a[i:j]
            if any(b[k:k + len(s)] == s for k in range(len(b) - len(s) + 1)): best = max(best, len(s))
    return best

@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=25), st.lists(st.integers(0, 3), min_size=1, max_size=40))
def test_longest_shared_run_matches_brute_force(a, b):
    assert J.longest_shared_run(a, b) == _brute_longest(a, b)


def test_copy_check_finds_a_copied_passage(cache):
    "A generated sequence holding 150 tokens of a training piece shares a run of at least 150 with the training set."
    train = np.concatenate([cache.piece(i) for i in range(len(cache))])
    off = np.r_[0, np.cumsum(cache.lengths)]
    big = int(np.argmax(cache.lengths))
    fake = np.r_[[5, 5, 5], cache.piece(big)[200:350], [7, 7]]
    assert J.longest_shared_run(fake, train, off) >= 150
    # runs across the boundary of two pieces do not count
    a, b = cache.piece(0), cache.piece(1)
    across = np.r_[a[-20:], b[:20]]
    assert J.longest_shared_run(across, np.r_[a, b], [0, len(a), len(a) + len(b)]) < 40


def test_music_stats_of_known_pieces(manifest):
    "A C-major scale is fully in a scale, monophonic, never silent; a real chorale is polyphonic and tonal."
    scale = Notes(np.array([60, 62, 64, 65, 67, 69, 71, 72]), np.arange(8) * .5, np.arange(8) * .5 + .5, np.full(8, 80))
    s = J.music_stats(scale)
    assert s["scale_consistency"] == 1.0 and s["polyphony"] == 1.0 and s["empty_beat_rate"] == 0.0
    assert abs(s["note_density"] - 2.0) < 1e-9 and abs(s["pitch_class_entropy"] - (-(2/8 * np.log2(2/8) + 6/8 * np.log2(1/8)))) < 1e-9
    chorale = read_notes(manifest[manifest.composer == "Bach"].path.iloc[0])
    c = J.music_stats(chorale)
    assert c["polyphony"] > 2.5 and c["scale_consistency"] > 0.8 and c["pitch_class_entropy"] < np.log2(12)
    assert np.isnan(J.music_stats(scale[:0])["polyphony"])


def test_loop_period():
    assert S.loop_period([9] + [1, 2, 3] * 80) == 3 and S.loop_period(np.arange(400)) == 0


def test_save_load_and_refuse_other_formats(tiny, saved, tmp_path):
    back = G.load_generator(saved)
    assert back.encoding.config == tiny.encoding.config
    x = np.array([[tiny.encoding.composer_id("Bach"), 10, 300, 140]])
    np.testing.assert_allclose(back.model.predict(x, verbose=0), tiny.model.predict(x, verbose=0), atol=1e-5)
    bad = tmp_path / "old"; shutil.copytree(saved, bad)
    info = json.loads((bad / "generator.json").read_text()); info["format"] = 99
    (bad / "generator.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="format 99"): G.load_generator(bad)
    with pytest.raises(FileNotFoundError, match="no generator here"): G.load_generator(tmp_path / "none")


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "generator.json").write_text("{"), "generator.json is not valid JSON"),
    (lambda f: (f / "model.keras").write_bytes(b"not a model"), "model.keras cannot be read"),
    (lambda f: (f / "model.keras").unlink(), "model.keras is missing"),
])
def test_load_names_the_damaged_file_of_a_generator(saved, tmp_path, damage, message):
    bad = Path(shutil.copytree(saved, tmp_path / "damaged"))
    damage(bad)
    with pytest.raises(ValueError, match=f"generator .*damaged: {message}"): G.load_generator(bad)


def test_generate_continues_a_real_midi_primer(tiny, manifest):
    "A primer from a corpus file: the continuation starts where the primer's 3 seconds end."
    path = manifest[manifest.composer == "Bach"].path.iloc[1]
    with_primer = S.generate(tiny, "Bach", seconds=2, primer=path, primer_seconds=3, include_primer=True, n=2, seed=1)
    alone = S.generate(tiny, "Bach", seconds=2, primer=path, primer_seconds=3, n=2, seed=1)
    assert len(with_primer) == 2 and with_primer[0].meta["primer_tokens"] > 0
    primer = read_notes(path); primer = primer[primer.start < 3]
    assert len(with_primer[0]) >= len(primer) - 2                      # the primer's notes are there (quantised)
    assert with_primer[0].end.max() <= 3 + 2 + 0.011 + 1e-9
    assert len(alone[0]) == 0 or alone[0].end.max() <= 2 + 1e-9


def test_generate_refuses_bad_requests(tiny, tmp_path):
    corrupt = tmp_path / "corrupt.mid"; corrupt.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    with pytest.raises(MidiError, match="corrupt.mid"): S.generate(tiny, "Bach", seconds=1, primer=corrupt)
    with pytest.raises(MidiError, match="no such file"): S.generate(tiny, "Bach", seconds=1, primer=tmp_path / "missing.mid")
    empty = Notes(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="no notes"): S.generate(tiny, "Bach", seconds=1, primer=empty)
    with pytest.raises(ValueError, match="no tokens"): S.generate(tiny, "Bach", seconds=1, primer=[])
    with pytest.raises(ValueError, match="unknown composer 'Chopin'.*Bach"): S.generate(tiny, "Chopin", seconds=1)
    with pytest.raises(ValueError, match="needs a composer"): S.generate(tiny, None, seconds=1)
    with pytest.raises(ValueError, match="top_p"): S.generate(tiny, "Bach", seconds=1, top_p=1.5)


def test_generated_pieces_write_to_midi(saved, tmp_path, manifest):
    "What `maestro generate` does: load a folder, generate with a primer, write MIDI (and WAV) with the export lesson."
    from maestro_lessons.export import write_midi, to_audio, write_wav
    primer = manifest[manifest.composer == "Palestrina"].path.iloc[0]
    notes = S.generate(G.load_generator(saved), "bach", seconds=3, temperature=0.9, top_p=0.95, primer=primer)[0]
    out = write_midi(notes, tmp_path / "piece.mid")
    assert read_notes(out).duration <= 3.0 + 1e-3
    assert write_wav(to_audio(notes, 8000), tmp_path / "piece.wav").stat().st_size > 1000


def test_modules_import_without_tensorflow_and_follow_the_course():
    "Importing the generator, sampling and judging modules loads no TensorFlow, and none of them imports `export`."
    code = ("import sys, maestro_lessons.generator, maestro_lessons.sampling, maestro_lessons.judging, maestro_lessons.seed_models; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules, 'maestro_lessons.export' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.stdout.split() == ["False", "False", "False"], r.stderr
    for m in ("generator", "sampling", "judging"):
        assert "maestro_lessons.export" not in (ROOT / "maestro_lessons" / f"{m}.py").read_text(), m


def test_train_on_corpus_end_to_end(manifest, tmp_path):
    "`train_on_corpus` on a small <Composer>/*.mid folder writes a generator that `generate` can load."
    from maestro_lessons.corpus import scan_folder
    for c in ("Bach", "Traditional"):
        (tmp_path / "corpus" / c).mkdir(parents=True)
        for p in manifest[manifest.composer == c].path.iloc[:6]: shutil.copy(p, tmp_path / "corpus" / c)
    G.train_on_corpus(scan_folder(tmp_path / "corpus"), per_composer=None, units=16, n_layers=1, length=32, epochs=1,
                      steps_per_epoch=2, folder=tmp_path / "gen", verbose=0)
    gen = G.load_generator(tmp_path / "gen")
    assert gen.composers == ["Bach", "Traditional"] and gen.meta["epochs"] == 1
    assert len(S.generate(gen, "traditional", tokens=20)) == 1


def test_sample_each_epoch_writes_one_piece_per_epoch(enc, cache, sample):
    model = G.build_generator(enc.vocab_size, 8, 8, 1, 0.0)
    parts = pieces_by_split(cache, sample, split_pieces(sample))
    ds = G.composer_lm_dataset(cache, parts["train"], G.composer_ids_of(cache, enc), length=32, batch_size=4).repeat()
    listen = S.sample_each_epoch(enc, ["Bach"], seconds=1, verbose=False)
    G.train_generator(model, ds, None, enc, epochs=2, steps_per_epoch=1, callbacks=[listen], verbose=0)
    assert [s["epoch"] for s in listen.samples] == [1, 2]


def test_generator_folder_is_atomic_and_checked(tmp_path):
    "A save replaces the folder whole; a folder from another version or with a mismatched model is refused by name."
    import json as _json
    from maestro_lessons.generator import Generator, build_generator, generator_encoding, save_generator, load_generator
    enc = generator_encoding(["Bach", "Palestrina"])
    gen = Generator(build_generator(enc.vocab_size, 16, 16, 1, 0.0), enc, {"n": 1})
    folder = save_generator(gen, tmp_path / "gen")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen"]            # no temporary folder left behind
    save_generator(Generator(gen.model, enc, {"n": 2}), folder)
    assert load_generator(folder).meta == {"n": 2}
    info = _json.loads((folder / "generator.json").read_text())
    info.update(format=0, version="0.0.1"); (folder / "generator.json").write_text(_json.dumps(info))
    with pytest.raises(ValueError, match="0.0.1"): load_generator(folder)
    other = generator_encoding(["Bach"])
    save_generator(Generator(gen.model, other), folder)
    with pytest.raises(ValueError, match="inconsistent"): load_generator(folder)


# --- the shipped note generator: musical behaviour (issues 11 and 15) --------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    "The generator that ships in models/generator (an explicit path: never the user's cache)."
    from maestro_lessons.files import shipped_dir
    return G.load_generator(shipped_dir("generator"))

@pytest.fixture(scope="module")
def notes_data():
    from maestro_lessons.classifier import clip_data
    return clip_data()

def test_shipped_generator_is_conditioned_on_the_classifiers_composers(shipped, notes_data):
    assert shipped.conditioned and shipped.composers == notes_data.classes and shipped.encoding.name == "note_triples"

def test_conditioning_beats_a_shuffled_control_and_the_model_beats_unigram(shipped, notes_data):
    "On test pieces: told the true composer the model needs clearly fewer nats per note than with the composers shuffled."
    e = G.conditioning_effect(shipped, notes_data, "test", max_windows=300, seed=1)
    assert e["windows"] == 300
    assert e["true"] < e["shuffled"] - 0.2, e           # an effect size, not a tie
    assert e["true"] < e["unigram"] - 2.0, e            # a trained model, far better than token frequencies

def test_note_nll_matches_keras_loss(shipped, notes_data):
    "`note_nll` is three times Keras' mean cross-entropy per token on the same windows."
    import keras
    w, y = G.held_out_windows(notes_data, "valid", notes=16, max_windows=8)
    x = np.c_[np.full(len(w), shipped.encoding.bos_id, np.int32), w[:, :-1]]
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(w, shipped.model([x, np.broadcast_to(y[:, None], x.shape)]))
    assert abs(G.note_nll(shipped, w, y) - 3 * float(loss)) < 1e-3

def _mean_feature(pieces, name):
    return float(np.nanmean([J.note_features(p)[name] for p in pieces]))

def test_the_composer_changes_what_is_sampled_the_way_real_music_differs(shipped, manifest):
    """Same seeds, two composers: polyphony of folk tunes vs Palestrina differs in the direction and at least half the size of
    the real difference, between the first 10 s of real pieces as between the 10 s the generator writes from a piece's beginning
    (a motet opens with one voice: over whole motets the real difference is larger)."""
    gen = {c: S.generate(shipped, c, seconds=10, n=6, seed=3, max_note=None) for c in ("Palestrina", "Traditional")}
    real = {c: [S.clip_notes(read_notes(p), 10) for p in manifest.path[manifest.composer == c].sample(12, random_state=0)] for c in gen}
    real_gap = _mean_feature(real["Palestrina"], "polyphony") - _mean_feature(real["Traditional"], "polyphony")
    gen_gap = _mean_feature(gen["Palestrina"], "polyphony") - _mean_feature(gen["Traditional"], "polyphony")
    assert real_gap > 1 and gen_gap > real_gap / 2, (real_gap, gen_gap)
    assert not any(J.piece_hash(a) == J.piece_hash(b) for a, b in zip(*gen.values()))    # never the same piece

def test_generate_respects_max_note_and_writes_music(shipped):
    pieces = S.generate(shipped, "Bach", seconds=8, n=3, seed=0, max_note=0.4)
    for p in pieces:
        assert len(p) >= 8 and p.unit == "second" and p.duration <= 8 + 1e-9
        assert (p.end - p.start).max() <= 0.4 + 1e-9 and (p.end > p.start).all()
    free = S.generate(shipped, "Bach", seconds=8, n=3, seed=0, max_note=None)
    assert max((p.end - p.start).max() for p in free) > 0.4      # the limit above did something

def test_a_primer_is_continued_in_beats(shipped, manifest):
    "A note-triple generator reads its primer in beats: with include_primer the first notes are the primer's own."
    path = manifest.path[manifest.composer == "Bach"].iloc[0]
    out = S.generate(shipped, "Bach", seconds=6, primer=path, primer_seconds=3, include_primer=True, seed=0, max_note=None)[0]
    head = merge_unisons(read_notes(path, unit="beat"))                      # generate merges unisons, the primer's too
    spb = shipped.meta["seconds_per_beat"]                                    # and plays beats at the model's tempo
    head = head[head.start * spb < 3]
    k = min(len(head), 8)
    assert np.array_equal(out.pitch[:k], head.pitch[:k]) and np.allclose(out.start[:k], head.start[:k] * spb, atol=0.05)
    assert out.duration > 3
