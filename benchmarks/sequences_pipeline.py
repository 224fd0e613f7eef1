#!/usr/bin/env python
"""Batches per second of a small LSTM's `fit` fed by the lazy `tf.data` pipeline against the same windows in NumPy arrays.

    python benchmarks/sequences_pipeline.py [--pieces 600] [--length 128] [--batch-size 32] [--steps 30] [--rounds 8]

Language-model windows of the train pieces of a corpus sample (a fixed number per composer, fixed seed)
are fed to two identical small LSTMs (embedding 32, LSTM 64, softmax over the vocabulary): one reads
`lm_dataset` (windows cut lazily from the flat token tensor), the other the very same windows
materialised once as NumPy arrays (`gather_windows`), which is what the lazy pipeline saves memory over.
After one warm-up epoch each (tracing, compiling), the two alternate, one epoch of `steps` batches at a
time, for `rounds` rounds (the order swapped every round); a callback times each epoch from its start to
its end, in the same run, on the same machine. On a shared machine single epochs are noisy, so the
figure is the best epoch of each (as `timeit` does), with the median beside it.
Target (issue 4): the pipeline at most 1.2× slower (ratio = NumPy batches/s ÷ pipeline batches/s).
The raw speed of the pipeline alone (no model) is printed too. The last line holds the figures.
"""
import argparse, os, sys, time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pieces", type=int, default=600, help="pieces in the corpus sample (split by piece)")
    ap.add_argument("--length", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=30, help="batches per timed epoch")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import numpy as np
    import tensorflow as tf
    import keras
    from maestro_lessons.corpus import load_manifest, split_pieces
    from maestro_lessons.encodings import PerformanceEncoding
    from maestro_lessons.sequences import token_cache, pieces_by_split, lm_dataset, window_index, gather_windows

    manifest = load_manifest()
    per = max(1, args.pieces // manifest.composer.nunique())
    shuffled = manifest.sample(frac=1, random_state=args.seed)
    sample = shuffled[shuffled.groupby("composer").cumcount() < per].reset_index(drop=True)
    enc = PerformanceEncoding()
    cache = token_cache(sample, enc, workers=2, progress=False)
    train = pieces_by_split(cache, sample, split_pieces(sample))["train"]
    L, B, steps = args.length, args.batch_size, args.steps
    idx = window_index(cache.offsets, train, L, stride=L // 2, extra=1, min_tokens=2)
    n = steps * B
    if len(idx) < n: sys.exit(f"only {len(idx)} windows for {n} needed: use more --pieces or fewer --steps")
    idx = idx.sample(n=n, random_state=args.seed).sort_values("start")
    w = gather_windows(cache.tokens, idx.start, idx.end, L + 1, cache.pad_id)
    x_np, y_np = w[:, :-1], w[:, 1:]                                    # the same windows, materialised
    ds = lm_dataset(cache, train, length=L, stride=L // 2, batch_size=B, seed=args.seed, drop_remainder=True).repeat()
    print(f"{len(cache)} pieces, {len(train)} train pieces; windows of {L} tokens, batches of {B}, "
          f"{steps} batches per epoch; the NumPy arrays of these {n} windows take {(x_np.nbytes + y_np.nbytes) / 2**20:.1f} MB, "
          f"the token array of all {len(cache)} pieces {cache.tokens.nbytes / 2**20:.1f} MB")

    t0, k = time.perf_counter(), 0
    for _ in ds.take(20 * steps): k += 1
    pipe_only = k / (time.perf_counter() - t0)
    print(f"pipeline alone: {pipe_only:,.0f} batches/s")

    def model():
        keras.utils.set_random_seed(args.seed)
        m = keras.Sequential([keras.Input((L,), dtype="int32"), keras.layers.Embedding(enc.vocab_size, 32),
                              keras.layers.LSTM(64, return_sequences=True), keras.layers.Dense(enc.vocab_size)])
        m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=cache.pad_id))
        return m

    class EpochTimes(keras.callbacks.Callback):
        def __init__(self): super().__init__(); self.seconds = []
        def on_epoch_begin(self, epoch, logs=None): self.t = time.perf_counter()
        def on_epoch_end(self, epoch, logs=None): self.seconds.append(time.perf_counter() - self.t)

    feeders = {
        "tf.data": lambda m, epochs, cb: m.fit(ds, steps_per_epoch=steps, epochs=epochs, shuffle=False, verbose=0, callbacks=cb),
        "numpy": lambda m, epochs, cb: m.fit(x_np, y_np, batch_size=B, shuffle=True, epochs=epochs, verbose=0, callbacks=cb),
    }
    models = {name: model() for name in feeders}
    for name, fit in feeders.items(): fit(models[name], 1, [])        # warm-up: tracing and compiling
    rates = {name: [] for name in feeders}
    for r in range(args.rounds):
        for name in (list(feeders) if r % 2 == 0 else list(feeders)[::-1]):
            cb = EpochTimes()
            feeders[name](models[name], 1, [cb])
            rates[name] += [steps / s for s in cb.seconds]
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} batches/s" for k, v in rates.items()), flush=True)
    best = {k: max(v) for k, v in rates.items()}
    med = {k: float(np.median(v)) for k, v in rates.items()}
    ratio, ratio_med = best["numpy"] / best["tf.data"], med["numpy"] / med["tf.data"]
    print(f"best of {args.rounds} epochs: tf.data {best['tf.data']:.2f} batches/s, NumPy {best['numpy']:.2f} batches/s: "
          f"NumPy ÷ pipeline = {ratio:.2f} (target ≤ 1.2, i.e. the pipeline at most 20% slower): "
          f"{'ok' if ratio <= 1.2 else 'NOT MET'}; medians {med['tf.data']:.2f} and {med['numpy']:.2f} batches/s "
          f"(ratio {ratio_med:.2f})")
    print(f"tfdata_batches_per_s={best['tf.data']:.2f} numpy_batches_per_s={best['numpy']:.2f} ratio={ratio:.2f} "
          f"median_tfdata_batches_per_s={med['tf.data']:.2f} median_numpy_batches_per_s={med['numpy']:.2f} "
          f"median_ratio={ratio_med:.2f} pipeline_only_batches_per_s={pipe_only:.0f} batch={B} length={L} "
          f"steps={steps} rounds={args.rounds}")

if __name__ == "__main__":
    main()
