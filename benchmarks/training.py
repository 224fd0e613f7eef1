#!/usr/bin/env python
"""How fast the generator trains on this machine, against what matrix products of the same shapes can do here.

    python benchmarks/training.py [--units 256] [--layers 2] [--batch 32] [--length 256] [--steps 20] [--rounds 2] [--write]

Training speed is what limits a generator's quality on a CPU. This script measures, in one run on the same machine:

- **training**: `model.fit` of the course's generator (`build_generator` + `compile_generator`, the performance-event
  vocabulary of the five composers) on random token windows, after a warm-up, with Keras's LSTM and with the networks
  lesson's `FusedLSTM` (hand-written backward pass; what `build_generator` uses on a CPU) in three ways: its two loops run
  by TensorFlow op by op (`loops`), compiled by XLA (`xla`), and compiled and run on each half of the batch side by side
  (`fused`, the default): tokens per second, and the GFLOP/s that means (per token, a forward pass costs
  2 × (4·units·(input + units)) per LSTM layer + 2 × units × vocabulary for the logits; a training step about three
  forward passes);
- **the physical limit**: the same matrix products in a compiled loop, nothing else: the input projection of each layer
  over the whole window (one large product), the recurrent product step by step (`length` small products of batch ×
  units by units × 4·units, which cannot be batched across time), and the logits, each three times (forward, and the
  two products of the backward pass).

Each of `--rounds` rounds measures them all in turn (on shared cores the speed drifts); within a round each figure
is the median batch (or repetition), so a stall of the machine does not count, and the best round of each counts.

The ratio training / limit says how much of the machine the training loop uses (issue 11's target: ≥ 0.5); `ratio`
is the fused layer's as `build_generator` makes it, `ratio_keras` Keras's LSTM's, `ratio_loops` and `ratio_xla` the fused
layer's other two ways. `--write` saves the figures to `benchmarks/results/training.json`
(the networks lesson prints them). The last line holds the figures.
"""
import argparse, os, sys, time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def flops_per_token(vocab: int, embed: int, units: int, layers: int) -> float:
    "Training FLOPs per token: three forward passes of the LSTM stack and the logits."
    lstm = sum(2 * 4 * units * ((embed if i == 0 else units) + units) for i in range(layers))
    return 3 * (lstm + 2 * units * vocab)


VARIANTS = {"keras": "Keras's LSTM", "loops": "FusedLSTM, loops op by op", "xla": "FusedLSTM, loops compiled",
            "fused": "FusedLSTM, compiled, in halves"}


def training_speed(vocab: int, args, variant: str) -> float:
    "Tokens per second of `fit` on random windows, after one warm-up epoch, with the LSTM layers of `variant` (`VARIANTS`)."
    import keras, numpy as np, tensorflow as tf
    from maestro_lessons.networks import fused_lstm_class
    from maestro_lessons.generator import build_generator, compile_generator
    keras.utils.set_random_seed(0)
    model = build_generator(vocab, args.embed, args.units, args.layers, fused=variant != "keras")
    for layer in model.layers:
        if isinstance(layer, fused_lstm_class()): layer.xla, layer.halves = variant in ("xla", "fused"), variant == "fused"
    model = compile_generator(model)
    rng = np.random.default_rng(0)
    x = rng.integers(1, vocab, (args.batch * args.steps, args.length)).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices((x, np.roll(x, -1, 1))).batch(args.batch).cache()
    model.fit(ds.take(3), epochs=1, verbose=0)                                   # compile and warm up
    times = []

    class BatchTimes(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None): self.t0 = time.perf_counter()
        def on_train_batch_end(self, batch, logs=None): times.append(time.perf_counter() - self.t0)

    model.fit(ds, epochs=1, verbose=0, callbacks=[BatchTimes()])
    return args.batch * args.length / float(np.median(times))          # the median batch: a stall of the machine does not count


def matmul_limit(vocab: int, args) -> float:
    "GFLOP/s of the training step's matrix products alone, in a compiled loop, on this machine."
    import tensorflow as tf
    B, T, U = args.batch, args.length, args.units
    ins = [args.embed] + [U] * (args.layers - 1)
    xs = [tf.random.normal((B * T, i)) for i in ins]
    ws = [tf.random.normal((i, 4 * U)) for i in ins]
    h, r = tf.random.normal((B, U)), tf.random.normal((U, 4 * U))
    hv, wv = tf.random.normal((B * T, U)), tf.random.normal((U, vocab))

    @tf.function
    def step():
        acc = tf.zeros(())
        for _ in range(3):                                        # forward + the two backward products
            for x, w in zip(xs, ws): acc += tf.reduce_sum(tf.matmul(x, w))
            for _ in range(args.layers):
                hh = h
                for _ in tf.range(T):                             # every column used, so nothing can be pruned
                    z = tf.matmul(hh, r)
                    hh = tf.tanh(z[:, :U] + z[:, U:2 * U] + z[:, 2 * U:3 * U] + z[:, 3 * U:])
                acc += tf.reduce_sum(hh)
            acc += tf.reduce_sum(tf.matmul(hv, wv))
        return acc

    import numpy as np
    step()                                                        # trace and warm up
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
    seconds = float(np.median(times))                             # as for training: the median repetition
    tokens = B * T
    return flops_per_token(vocab, args.embed, U, args.layers) * tokens / seconds / 1e9


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--units", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--embed", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--length", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20, help="training batches timed (and matmul repetitions)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the three measurements; the best of each counts")
    ap.add_argument("--write", action="store_true", help="save the figures to benchmarks/results/training.json")
    args = ap.parse_args(argv)
    from maestro_lessons.classifier import COMPOSERS
    from maestro_lessons.generator import generator_encoding
    vocab = generator_encoding(list(COMPOSERS)).vocab_size
    runs, limits = {name: [] for name in VARIANTS}, []
    for _ in range(args.rounds):                                  # shared cores change speed: each round measures them all
        for name in runs: runs[name].append(training_speed(vocab, args, name))
        limits.append(matmul_limit(vocab, args))
    tps = {name: max(v) for name, v in runs.items()}
    gflops = {name: t * flops_per_token(vocab, args.embed, args.units, args.layers) / 1e9 for name, t in tps.items()}
    limit = max(limits)
    print(f"generator: {args.layers} × LSTM({args.units}), embedding {args.embed}, vocabulary {vocab}; "
          f"batch {args.batch} × {args.length} tokens; {os.cpu_count()} CPU cores")
    for name, what in VARIANTS.items():
        print(f"training with {what}: {tps[name]:,.0f} tokens/s = {gflops[name]:.2f} GFLOP/s "
              f"(rounds: {', '.join(f'{t:,.0f}' for t in runs[name])})")
    print(f"the same matrix products alone: {limit:.2f} GFLOP/s (rounds: {', '.join(f'{g:.1f}' for g in limits)})")
    ratio, ratio_keras = gflops["fused"] / limit, gflops["keras"] / limit
    figures = dict(units=args.units, layers=args.layers, embed=args.embed, batch=args.batch, length=args.length, vocab=vocab,
                   cores=os.cpu_count(), tokens_per_s=tps, rounds=runs, limit_rounds=limits, train_gflops=gflops, matmul_gflops=limit,
                   ratio=ratio, ratio_keras=ratio_keras, ratio_loops=gflops["loops"] / limit, ratio_xla=gflops["xla"] / limit,
                   speedup=tps["fused"] / tps["keras"], speedup_loops=tps["loops"] / tps["keras"])
    if args.write:
        import json
        out = Path(__file__).resolve().parent / "results" / "training.json"
        out.write_text(json.dumps(figures, indent=1)); print(f"wrote {out.relative_to(out.parents[2])}")
    print(f"tokens_per_s={tps['fused']:.0f} tokens_per_s_keras={tps['keras']:.0f} speedup={tps['fused'] / tps['keras']:.2f} "
          f"train_gflops={gflops['fused']:.3f} matmul_gflops={limit:.3f} ratio={ratio:.3f} ratio_keras={ratio_keras:.3f} "
          f"ratio_loops={figures['ratio_loops']:.3f} ratio_xla={figures['ratio_xla']:.3f} "
          f"units={args.units} layers={args.layers} batch={args.batch} length={args.length} target_met={ratio >= 0.5}")


if __name__ == "__main__":
    main()
