"""The shard cache built on Ray Data (a real local Ray, offline) against the course's process pool, on a corpus with bad files:
the same failures with the same reasons, the same token ids piece by piece, the same windows, and a stopped run resumed."""
import numpy as np
import pandas as pd
import pytest

BAD = {"bad-empty": b"", "bad-text": b"not a MIDI file", "bad-cut": None}      # None: a real file cut after 60 bytes

@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from maestro_lessons.corpus import load_manifest
    from maestro_lessons.scale import augmented_manifest
    root = tmp_path_factory.mktemp("corpus")
    m = load_manifest()
    sample = m.sample(frac=1, random_state=1).groupby("composer").head(6).reset_index(drop=True)
    paths = []
    for name, data in BAD.items():
        p = root / f"{name}.mid"
        p.write_bytes(data if data is not None else open(sample.path[0], "rb").read()[:60])
        paths.append(str(p))
    bad = pd.DataFrame(dict(id=[*BAD, "bad-missing"], composer=sample.composer[0], path=[*paths, str(root / "missing.mid")]))
    return pd.concat([augmented_manifest(sample, 2), bad], ignore_index=True)

@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory):
    import ray
    from maestro_lessons.encodings import PerformanceEncoding
    from maestro_lessons.scale import build_shards, ray_shards
    root, enc = tmp_path_factory.mktemp("shards"), PerformanceEncoding()
    pool = build_shards(corpus, enc, root=root / "pool", shard_pieces=16, workers=1, progress=False)
    engine = ray_shards(corpus, enc, root=root / "engine", shard_pieces=16, num_cpus=2)
    yield dict(pool=pool, engine=engine, root=root, enc=enc)
    ray.shutdown()

def test_engine_reports_bad_files_and_goes_on(built, corpus):
    pool, engine = built["pool"], built["engine"]
    assert engine.built and len(engine) + len(engine.failed) == len(corpus)
    failed = engine.failed.set_index("id")
    assert sorted(failed.index) == sorted([*BAD, "bad-missing"])
    assert failed.loc["bad-empty", "reason"] == "empty file (0 bytes)"
    assert failed.loc["bad-missing", "reason"] == "no such file"
    assert failed.loc["bad-cut", "reason"].startswith("truncated")
    assert failed.sort_index().equals(pool.failed.set_index("id").sort_index())        # the pool's reasons, word for word

def test_engine_gives_the_same_tokens_and_windows(built):
    from maestro_lessons.scale import piece_digests, window_digests
    pool, engine = built["pool"], built["engine"]
    assert engine.index["settings"]["engine"] == "ray-data" and engine.path != pool.path
    dp, de = piece_digests(pool), piece_digests(engine)
    assert len(de) == len(engine) > 0 and de == dp
    assert engine.n_tokens == pool.n_tokens
    for length in (64, 300):
        we = window_digests(engine, length)
        assert len(we) > len(engine) and we == window_digests(pool, length)

def test_engine_shards_feed_the_same_reader(built):
    from maestro_lessons.scale import ShardCache, shard_dataset
    engine = ShardCache.load(built["engine"].path)
    x, y = next(iter(shard_dataset(engine, length=64, kind="classifier", batch_size=4)))
    assert x.shape == (4, 64) and set(y.numpy()) <= set(range(len(engine.classes)))
    n = sum(len(xb) for xb, _ in shard_dataset(engine, length=64, kind="lm", batch_size=64, shuffle=False))
    from maestro_lessons.scale import window_digests
    assert n == len(window_digests(engine, 64))

def test_engine_resumes_a_stopped_run(built, corpus):
    from maestro_lessons.scale import _shard_ids, piece_digests, ray_shards
    engine = built["engine"]
    lost = engine.shard_paths[1]
    lost_ids = _shard_ids(lost)
    kept = {p: p.stat().st_mtime_ns for p in engine.shard_paths if p != lost}
    lost.unlink(); (engine.path / "index.json").unlink()
    again = ray_shards(corpus, built["enc"], root=built["root"] / "engine", shard_pieces=16, num_cpus=2)
    assert again.built and again.index["resumed"] and again.path == engine.path
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())                     # finished shards untouched
    assert lost_ids and lost_ids <= set(piece_digests(again)) | set(again.failed.id)
    assert piece_digests(again) == piece_digests(built["pool"])
    reused = ray_shards(corpus, built["enc"], root=built["root"] / "engine", shard_pieces=16, num_cpus=2)
    assert not reused.built
