"""A real two-worker MultiWorkerMirroredStrategy training on CPU: two processes on 127.0.0.1 that must end with the same weights."""
import json, os, socket, subprocess, sys, time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve()
LENGTH, GLOBAL_BATCH, STEPS, EPOCHS = 32, 8, 3, 2
TIMEOUT_S = 600          # about 50 s on 2 idle cores; generous for a machine shared with other jobs

def free_ports(n: int) -> list[int]:
    "`n` TCP ports that were free on 127.0.0.1 a moment ago (held open together so they differ)."
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks: s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks: s.close()

def worker(out: str, cache_dir: str):
    "One worker: the lesson's `strategy()`, `shards_for_replicas` and `distributed_fit`; its weights saved to `out`."
    import keras
    import tensorflow as tf
    from maestro_lessons.scale import ShardCache, distributed_fit, shards_for_replicas, strategy
    strat = strategy()                                    # first: it joins the cluster named by TF_CONFIG
    assert isinstance(strat, tf.distribute.MultiWorkerMirroredStrategy), type(strat)
    cache = ShardCache.load(cache_dir)
    make, seen = shards_for_replicas(cache, GLOBAL_BATCH, length=LENGTH, kind="lm", seed=1), []
    def dataset_fn(ctx):
        seen.append((ctx.input_pipeline_id, ctx.num_input_pipelines))
        return make(ctx)
    vocab = cache.index["settings"]["vocab_size"]
    keras.utils.set_random_seed(0)                        # the same initial weights on both workers
    with strat.scope():
        model = keras.Sequential([keras.Input((LENGTH,)), keras.layers.Embedding(vocab, 8),
                                  keras.layers.LSTM(16, return_sequences=True), keras.layers.Dense(vocab)])
        model.compile(keras.optimizers.Adam(1e-2))
    start = np.concatenate([w.ravel() for w in model.get_weights()])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    losses = distributed_fit(model, dataset_fn, loss, GLOBAL_BATCH, STEPS, EPOCHS, strat)
    np.savez(out, *model.get_weights(), start=start, replicas=strat.num_replicas_in_sync, seen=np.array(seen),
             loss=np.array(losses))

@pytest.fixture(scope="module")
def small_shards(tmp_path_factory):
    from maestro_lessons.corpus import load_manifest
    from maestro_lessons.encodings import PerformanceEncoding
    from maestro_lessons.scale import build_shards
    m = load_manifest()
    sample = m[m.composer == "Bach"].head(24)
    return build_shards(sample, PerformanceEncoding(), root=tmp_path_factory.mktemp("shards"), shard_pieces=6,
                        workers=1, progress=False)

def test_two_workers_agree(tmp_path, small_shards):
    "Two worker processes train one model together (gradients all-reduced over gRPC) and end with identical weights."
    ports, outs, procs = free_ports(2), [tmp_path / f"w{i}.npz" for i in range(2)], []
    from maestro_lessons.scale import worker_configs
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    try:
        for cfg, out in zip(worker_configs(ports), outs):
            log = open(out.with_suffix(".log"), "w")
            procs.append(subprocess.Popen([sys.executable, str(HERE), str(out), str(small_shards.path)],
                                          env={**env, "TF_CONFIG": cfg}, stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + TIMEOUT_S
        for p in procs: p.wait(timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pytest.fail(f"the two workers did not finish in {TIMEOUT_S} s:\n" + "\n".join(o.with_suffix(".log").read_text()[-2000:] for o in outs))
    finally:
        for p in procs:
            if p.poll() is None: p.kill(); p.wait()
    for p, o in zip(procs, outs):
        assert p.returncode == 0, f"worker failed (rc {p.returncode}):\n{o.with_suffix('.log').read_text()[-3000:]}"
    a, b = (np.load(o) for o in outs)
    assert int(a["replicas"]) == int(b["replicas"]) == 2
    assert sorted(map(tuple, np.concatenate([a["seen"], b["seen"]]))) == [(0, 2), (1, 2)]   # each reads its half of the shards
    weights = [k for k in a.files if k.startswith("arr_")]
    assert len(weights) >= 5
    for k in weights: np.testing.assert_allclose(a[k], b[k], rtol=0, atol=1e-6, err_msg=f"weight {k} differs between workers")
    trained = np.concatenate([a[k].ravel() for k in weights])
    assert np.array_equal(a["start"], b["start"]) and not np.allclose(trained, a["start"])   # same start, and it trained
    assert np.all(np.isfinite(a["loss"]))

if __name__ == "__main__":
    worker(sys.argv[1], sys.argv[2])
