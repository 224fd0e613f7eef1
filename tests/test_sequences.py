"""The token cache (reuse, rebuild, atomic writes, bad files) and the lazy tf.data windows, on real corpus pieces."""
import json, os, signal, subprocess, sys, textwrap, time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maestro_lessons.corpus import load_manifest, split_pieces, check_split
from maestro_lessons.encodings import PerformanceEncoding
from maestro_lessons.notes import read_notes
from maestro_lessons import sequences as seq
from maestro_lessons import files
from maestro_lessons.sequences import (TokenCache, token_cache, cache_settings, cache_key, piece_hashes, encode_file,
                                       window_index, gather_windows, pad_or_truncate, pieces_by_split,
                                       classifier_dataset, lm_dataset, class_weights)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def manifest(): return load_manifest()

@pytest.fixture(scope="module")
def sample(manifest):
    "A few pieces of every composer: short folk tunes and long quartet movements side by side."
    shuffled = manifest.sample(frac=1, random_state=1)
    return shuffled[shuffled.groupby("composer").cumcount() < 8].reset_index(drop=True)

@pytest.fixture(scope="module")
def enc(): return PerformanceEncoding()

@pytest.fixture(scope="module")
def cache(sample, enc, tmp_path_factory):
    return token_cache(sample, enc, root=tmp_path_factory.mktemp("cache"), progress=False)

@pytest.fixture(autouse=True)
def own_cache_dir(tmp_path, monkeypatch):
    "Every test writes under its own MAESTRO_CACHE, never the user's."
    monkeypatch.setenv("MAESTRO_CACHE", str(tmp_path / "maestro-cache"))


def copy_pieces(rows, folder):
    "Copies of some corpus files in `folder`, as a manifest without sha256 (so hashes come from the files)."
    folder.mkdir(parents=True, exist_ok=True)
    out = rows[["id", "composer", "path"]].copy()
    out["path"] = [str(folder / Path(p).name) for p in rows.path]
    for src, dst in zip(rows.path, out.path): Path(dst).write_bytes(Path(src).read_bytes())
    return out.reset_index(drop=True)


# --- the cache: contents, reuse, rebuild --------------------------------------------------------------

def test_cache_holds_each_piece_as_encoded(cache, sample, enc):
    assert len(cache) == len(sample) and cache.failed.empty
    assert cache.offsets[0] == 0 and cache.offsets[-1] == len(cache.tokens) and (np.diff(cache.offsets) >= 0).all()
    rows = sample.set_index("id")
    for i in range(len(cache)):
        assert np.array_equal(cache.piece(i), enc.encode(read_notes(rows.path[cache.ids[i]])))
        assert cache.classes[cache.labels[i]] == rows.composer[cache.ids[i]]
    assert cache.tokens.dtype == np.int16 and not cache.tokens.flags.writeable
    assert cache.pad_id == enc.pad_id == 0

def test_cache_lives_under_maestro_cache(sample, enc, tmp_path):
    c = token_cache(sample.head(3), enc, progress=False)
    assert c.path.parent == tmp_path / "maestro-cache" / "tokens"
    assert sorted(f.name for f in c.path.iterdir()) == ["labels.npy", "meta.json", "offsets.npy", "tokens.npy"]
    meta = json.loads((c.path / "meta.json").read_text())
    assert meta["key"] == c.path.name and meta["settings"]["encoding"] == enc.config

def test_cache_reused_when_nothing_changed(sample, enc, monkeypatch):
    first = token_cache(sample.head(6), enc, progress=False)
    assert first.built
    monkeypatch.setattr(seq, "write_cache", lambda *a, **k: pytest.fail("rebuilt a cache that was there"))
    again = token_cache(sample.head(6).copy(), PerformanceEncoding(), progress=False)
    assert not again.built and again.path == first.path
    assert np.array_equal(again.tokens, first.tokens) and again.meta == first.meta

@pytest.mark.parametrize("change", ["encoding", "pedal", "drums", "classes", "pieces"])
def test_cache_rebuilt_when_a_setting_changes(sample, enc, change):
    rows = sample.head(6)
    base = token_cache(rows, enc, progress=False)
    kw = dict(encoding=enc, classes=None, pedal=True, drums=False)
    if change == "encoding": kw["encoding"] = PerformanceEncoding(velocity=False)
    elif change == "pedal": kw["pedal"] = False
    elif change == "drums": kw["drums"] = True
    elif change == "classes": kw["classes"] = sorted(rows.composer.unique()) + ["Nobody"]
    elif change == "pieces": rows = rows.head(5)
    other = token_cache(rows, kw.pop("encoding"), progress=False, **kw)
    assert other.built and other.path != base.path
    assert base.path.exists() and TokenCache.load(base.path).meta == base.meta    # the old cache stays valid

def test_cache_rebuilt_when_a_file_changes(manifest, sample, enc, tmp_path):
    mine = copy_pieces(sample.head(4), tmp_path / "mine")
    first = token_cache(mine, enc, progress=False)
    other = manifest[~manifest.path.isin(sample.path)].iloc[0]
    Path(mine.path[2]).write_bytes(Path(other.path).read_bytes())             # same name, new content
    second = token_cache(mine, enc, progress=False)
    assert second.built and second.path != first.path
    assert np.array_equal(second.piece(2), enc.encode(read_notes(other.path)))
    assert np.array_equal(second.piece(1), first.piece(1))

def test_key_depends_on_config_read_settings_and_hashes(sample, enc):
    classes = sorted(sample.composer.unique())
    ids, hashes = sample.id.tolist(), piece_hashes(sample)
    key = cache_key(cache_settings(enc, classes), ids, hashes)
    assert key == cache_key(cache_settings(PerformanceEncoding(), classes), ids, hashes)
    assert len({key, cache_key(cache_settings(enc, classes, drums=True), ids, hashes),
                cache_key(cache_settings(enc, classes), ids, hashes[:-1] + ["0" * 64]),
                cache_key(cache_settings(enc, classes), ids[::-1], hashes[::-1])}) == 4
    assert piece_hashes(sample.drop(columns="sha256")) == hashes               # computed from the files when missing

def test_labels_need_every_composer(sample, enc):
    with pytest.raises(ValueError, match="composers not in `classes`"):
        token_cache(sample, enc, classes=["Bach"], progress=False)

def same_cache(a, b):
    return (a.key == b.key and a.ids == b.ids and np.array_equal(a.tokens, b.tokens)
            and np.array_equal(a.offsets, b.offsets) and np.array_equal(a.labels, b.labels))

def test_spawned_workers_build_the_same_cache(sample, enc, tmp_path, monkeypatch):
    rows = sample.head(10)
    a = token_cache(rows, enc, workers=1, root=tmp_path / "a", progress=False)
    monkeypatch.setattr(files, "start_method", lambda: "spawn")
    b = token_cache(rows, enc, workers=2, root=tmp_path / "b", progress=False)
    assert same_cache(a, b)

def test_forked_workers_build_the_same_cache(sample, enc, tmp_path):
    "Forking is used only where TensorFlow is not loaded: in a fresh process here, not in this one."
    rows = sample.head(10)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    code = textwrap.dedent(f"""
        import sys, pandas as pd
        from maestro_lessons.encodings import PerformanceEncoding
        from maestro_lessons import sequences as seq
        from maestro_lessons import files
        assert files.start_method() == "fork" and "tensorflow" not in sys.modules
        seq.token_cache(pd.read_csv({str(tmp_path / 'rows.csv')!r}, dtype={{'id': str}}), PerformanceEncoding(),
                        workers=2, root={str(tmp_path / 'b')!r}, progress=False)
        """)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    a = token_cache(rows, enc, workers=1, root=tmp_path / "a", progress=False)
    assert same_cache(a, TokenCache.load(tmp_path / "b" / a.key))


# --- atomic writes --------------------------------------------------------------------------------

class FailingEncoding(PerformanceEncoding):
    "Raises (not a MidiError: a bug) on the third piece, after two pieces' tokens went to disk."
    def __init__(self, *a, **k): super().__init__(*a, **k); self.calls = 0
    def encode(self, notes):
        self.calls += 1
        if self.calls == 3: raise RuntimeError("boom")
        return super().encode(notes)

def test_failed_build_leaves_no_folder_and_no_partial_file(sample, enc, tmp_path):
    root = tmp_path / "root"
    with pytest.raises(RuntimeError, match="boom"):
        token_cache(sample.head(6), FailingEncoding(), workers=1, root=root, progress=False)
    assert list(root.iterdir()) == []
    c = token_cache(sample.head(6), enc, root=root, progress=False)      # and the next build succeeds
    assert c.built and [p.name for p in root.iterdir()] == [c.key]

def test_multi_column_ids_are_refused_by_name(sample, tmp_path):
    "Note/offset/duration triples are (notes, 3): caching them as one id per position would misplace every offset."
    from maestro_lessons.encodings import NoteOffsetDurationEncoding
    root = tmp_path / "root"
    with pytest.raises(ValueError, match=r"NoteOffsetDurationEncoding gives ids of shape \(\d+, 3\)"):
        token_cache(sample.head(2), NoteOffsetDurationEncoding(), workers=1, root=root, progress=False)
    assert list(root.iterdir()) == []

def test_cache_appears_only_through_os_replace(sample, enc, tmp_path, monkeypatch):
    seen, real = [], os.replace
    def spy(src, dst):
        src, dst = Path(src), Path(dst)
        seen.append((src.name, sorted(f.name for f in src.iterdir()), dst.exists()))
        return real(src, dst)
    monkeypatch.setattr(seq.os, "replace", spy)
    c = token_cache(sample.head(3), enc, root=tmp_path / "root", progress=False)
    assert len(seen) == 1
    name, files, existed = seen[0]
    assert name.startswith(f".{c.key}.") and name.endswith(".tmp") and not existed
    assert files == ["labels.npy", "meta.json", "offsets.npy", "tokens.npy"]

def test_killed_build_leaves_no_cache(sample, tmp_path):
    "SIGKILL in the middle of a build: no cache folder; the next build removes the dead build's leftovers."
    (tmp_path / "slow_enc.py").write_text(textwrap.dedent("""
        import time
        from maestro_lessons.encodings import PerformanceEncoding
        class SlowEncoding(PerformanceEncoding):
            def encode(self, notes): time.sleep(0.5); return super().encode(notes)
        """))
    rows = sample.head(8)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    root = tmp_path / "root"
    code = textwrap.dedent(f"""
        import pandas as pd
        from slow_enc import SlowEncoding
        from maestro_lessons.sequences import token_cache
        token_cache(pd.read_csv({str(tmp_path / 'rows.csv')!r}, dtype={{'id': str}}), SlowEncoding(),
                    workers=1, root={str(root)!r}, progress=False)
        """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        for _ in range(600):                                   # wait until the build has started writing
            if root.exists() and list(root.glob(".*.tmp/tokens.raw")): break
            time.sleep(0.05)
        else: pytest.fail("the build never started writing")
        time.sleep(1.2)                                        # two or three pieces in (of 8 × 0.5 s)
        assert proc.poll() is None, "the build finished before it could be killed"
        proc.send_signal(signal.SIGKILL); proc.wait()
    finally:
        if proc.poll() is None: proc.kill()
    left = list(root.iterdir())
    assert len(left) == 1 and left[0].name.endswith(".tmp")          # only the dead build's temporary folder
    c = token_cache(pd.read_csv(tmp_path / "rows.csv", dtype={"id": str}), PerformanceEncoding(), root=root, progress=False)
    assert c.built and [p.name for p in root.iterdir()] == [c.key]


# --- bad files ------------------------------------------------------------------------------------

def test_bad_files_are_listed_with_the_reason(sample, enc, tmp_path):
    good = copy_pieces(sample.head(3), tmp_path / "files")
    (tmp_path / "files" / "empty.mid").write_bytes(b"")
    (tmp_path / "files" / "page.mid").write_text("<html>404</html>")
    half = Path(good.path[0]).read_bytes()
    (tmp_path / "files" / "half.mid").write_bytes(half[:len(half) // 2])
    bad = pd.DataFrame({"id": ["empty", "page", "half", "gone"], "composer": "Bach",
                        "path": [str(tmp_path / "files" / f) for f in ["empty.mid", "page.mid", "half.mid", "gone.mid"]]})
    rows = pd.concat([good.iloc[:1], bad.iloc[:2], good.iloc[1:], bad.iloc[2:]], ignore_index=True)
    c = token_cache(rows, enc, progress=False)
    assert c.ids == good.id.tolist()
    reasons = c.failed.set_index("id").reason
    assert reasons.index.tolist() == ["empty", "page", "half", "gone"]
    assert reasons["empty"].startswith("empty file") and reasons["gone"] == "no such file"
    assert reasons["page"].startswith("not a MIDI file") and reasons["half"].startswith("truncated")
    assert c.positions(rows.id).tolist() == [0, 1, 2]                   # failed pieces have no windows
    with pytest.raises(KeyError, match="not in this cache"): c.positions(["no-such-piece"])
    assert "4 failed" in repr(TokenCache.load(c.path))                    # and the list survives a reload


# --- windows --------------------------------------------------------------------------------------

def piece_window(cache, piece, start, length, pad):
    "The window at global `start` of `piece`, cut from the piece's own tokens (independently of the library)."
    own = np.asarray(cache.piece(piece))[start - cache.offsets[piece]:][:length]
    return np.r_[own, np.full(length - len(own), pad)].astype(np.int32)

@pytest.mark.parametrize("length,stride", [(64, 64), (256, 100), (1000, 1000), (2048, 512)])
def test_windows_never_cross_piece_boundaries(cache, length, stride):
    idx = window_index(cache.offsets, np.arange(len(cache)), length, stride)
    piece_of = lambda pos: np.searchsorted(cache.offsets, pos, side="right") - 1
    assert (piece_of(idx.start) == idx.piece).all()
    last = np.minimum(idx.start + length, idx.end) - 1
    assert (piece_of(last) == idx.piece).all()
    lengths = np.diff(cache.offsets)
    per_piece = idx.groupby("piece").size().reindex(range(len(cache)), fill_value=0)
    expect = np.where(lengths >= length, (lengths - length) // stride + 1, (lengths > 0).astype(int))
    assert per_piece.tolist() == expect.tolist()
    ds = classifier_dataset(cache, np.arange(len(cache)), length=length, stride=stride, batch_size=16, shuffle=False)
    got = np.concatenate([x.numpy() for x, _ in ds])
    want = np.stack([piece_window(cache, p, s, length, cache.pad_id) for p, s in zip(idx.piece, idx.start)])
    assert np.array_equal(got, want)

def test_lm_target_is_input_shifted_by_one(cache):
    L = 200
    ds = lm_dataset(cache, np.arange(len(cache)), length=L, stride=150, batch_size=7, shuffle=False)
    xs, ys = map(np.concatenate, zip(*[(x.numpy(), y.numpy()) for x, y in ds]))
    idx = window_index(cache.offsets, np.arange(len(cache)), L, 150, extra=1, min_tokens=2)
    assert xs.shape == ys.shape == (len(idx), L)
    assert np.array_equal(xs[:, 1:], ys[:, :-1])
    for k, (p, s) in enumerate(zip(idx.piece, idx.start)):
        seq_ = piece_window(cache, p, s, L + 1, cache.pad_id)
        assert np.array_equal(xs[k], seq_[:-1]) and np.array_equal(ys[k], seq_[1:])

def test_shuffled_dataset_has_every_window_once_and_reshuffles(cache):
    ds = classifier_dataset(cache, np.arange(len(cache)), length=128, batch_size=10, seed=3)
    idx = window_index(cache.offsets, np.arange(len(cache)), 128)
    want = sorted(map(bytes, gather_windows(cache.tokens, idx.start, idx.end, 128)))
    epochs = [np.concatenate([x.numpy() for x, _ in ds]) for _ in range(2)]
    for e in epochs: assert sorted(map(bytes, e)) == want
    assert not np.array_equal(epochs[0], epochs[1])
    again = np.concatenate([x.numpy() for x, _ in classifier_dataset(cache, np.arange(len(cache)), length=128, batch_size=10, seed=3)])
    assert np.array_equal(again, epochs[0])                            # a seed gives the same order

def test_padding_and_truncation():
    assert pad_or_truncate([4, 5, 6], 5).tolist() == [4, 5, 6, 0, 0]
    assert pad_or_truncate(np.arange(10), 4).tolist() == [0, 1, 2, 3]
    assert pad_or_truncate([4, 5], 4, pad_id=9).tolist() == [4, 5, 9, 9]
    assert pad_or_truncate([], 3).tolist() == [0, 0, 0]
    # pieces of 3, 10 and 0 tokens; windows of 6 with a pad id of 7
    toks = np.arange(100, 113, dtype=np.int16)
    c = TokenCache(toks, np.array([0, 3, 13, 13]), np.array([0, 1, 2], np.int32), {"settings": {"pad_id": 7}})
    x, y = next(iter(classifier_dataset(c, [0, 1, 2], length=6, stride=4, batch_size=8, shuffle=False)))
    assert x.numpy().tolist() == [[100, 101, 102, 7, 7, 7], [103, 104, 105, 106, 107, 108], [107, 108, 109, 110, 111, 112]]
    assert y.numpy().tolist() == [0, 1, 1]                            # the empty piece gives no window
    x, y = next(iter(lm_dataset(c, [0, 1], length=4, stride=4, batch_size=8, shuffle=False)))
    assert x.numpy().tolist() == [[100, 101, 102, 7], [103, 104, 105, 106], [107, 108, 109, 110]]
    assert y.numpy().tolist() == [[101, 102, 7, 7], [104, 105, 106, 107], [108, 109, 110, 111]]

def test_window_index_rejects_bad_sizes():
    with pytest.raises(ValueError, match="length and stride"): window_index([0, 5], [0], 0)
    with pytest.raises(ValueError, match="length and stride"): window_index([0, 5], [0], 4, stride=0)


# --- splits and class weights ---------------------------------------------------------------------

def test_splits_stay_by_piece(cache, sample):
    split = split_pieces(sample)
    assert check_split(sample, split).empty
    parts = pieces_by_split(cache, sample, split)
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(len(cache)))
    for name, pieces in parts.items():
        assert {cache.ids[i] for i in pieces} == set(sample.id[split == name])
        ds = classifier_dataset(cache, pieces, length=256, batch_size=32, shuffle=False)
        got = {bytes(w) for x, _ in ds for w in x.numpy()}
        mine = window_index(cache.offsets, pieces, 256)
        assert got == set(map(bytes, gather_windows(cache.tokens, mine.start, mine.end, 256)))
    # no window of a train piece is a window of a test piece
    tr, te = (window_index(cache.offsets, parts[s], 256) for s in ("train", "test"))
    assert not set(tr.piece) & set(te.piece)

def test_class_weights_balance_the_classes(cache):
    labels = cache.labels[window_index(cache.offsets, np.arange(len(cache)), 256).piece]
    w = class_weights(labels)
    counts = np.bincount(labels)
    assert set(w) == set(np.flatnonzero(counts)) and all(type(k) is int for k in w)
    for c, wt in w.items(): assert wt == pytest.approx(len(labels) / (len(w) * counts[c]))
    assert sum(w[c] * counts[c] for c in w) == pytest.approx(len(labels))   # the weighted total is unchanged
    assert class_weights([2, 2, 5]) == {2: 0.75, 5: 1.5}


# --- memory ---------------------------------------------------------------------------------------

def test_tensorflow_shares_the_token_memory(cache):
    t = cache.tensor()
    assert cache.tensor() is t
    assert np.shares_memory(np.from_dlpack(t), cache.tokens)
    assert np.array_equal(t.numpy(), cache.tokens)


# --- damaged caches -------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "meta.json").write_text("{not json"), "cannot be read (JSONDecodeError"),
    (lambda f: (f / "offsets.npy").unlink(), "cannot be read (FileNotFoundError"),
    (lambda f: (f / "tokens.npy").write_bytes((f / "tokens.npy").read_bytes()[:-64]), "cannot be read"),
    (lambda f: np.save(f / "labels.npy", np.load(f / "labels.npy")[:-1]), "labels for"),
    (lambda f: np.save(f / "offsets.npy", np.load(f / "offsets.npy") + 1), "offsets do not run from 0"),
    (lambda f: np.save(f / "tokens.npy", np.full(np.load(f / "tokens.npy").shape, 30000, np.int16)), "outside the vocabulary"),
    (lambda f: (f / "meta.json").write_text(json.dumps({**json.loads((f / "meta.json").read_text()), "ids": []})), "offsets for 0 pieces"),
])
def test_a_damaged_cache_is_refused_by_name_and_rebuilt(sample, enc, tmp_path, damage, message):
    rows = sample.head(6)
    good = token_cache(rows, enc, classes=sorted(sample.composer.unique()), root=tmp_path, progress=False, workers=1)
    damage(good.path)
    with pytest.raises(seq.CacheError) as e: TokenCache.load(good.path)
    assert str(good.path) in str(e.value) and message in str(e.value), str(e.value)
    with pytest.warns(UserWarning, match="building it again"):
        again = token_cache(rows, enc, classes=sorted(sample.composer.unique()), root=tmp_path, progress=False, workers=1)
    assert again.built and same_cache(again, good)
