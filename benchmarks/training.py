#!/usr/bin/env python
"""How fast the generator trains on this machine, against what matrix products of the same shapes can do here.

    python benchmarks/training.py [--units 256] [--layers 2] [--batch 32] [--length 256] [--steps 20]

Training speed is what limits a generator's quality on a CPU. This script measures, in one run on the same machine:

- **training**: `model.fit` of the course's generator (`build_generator` + `compile_generator`, the performance-event
  vocabulary of the five composers) on random token windows, after a warm-up: tokens per second, and the GFLOP/s
  that means (per token, a forward pass costs 2 × (4·units·(input + units)) per LSTM layer + 2 × units × vocabulary
  for the logits; a training step about three forward passes);
- **the physical limit**: the same matrix products in a compiled loop, nothing else: the input projection of each layer
  over the whole window (one large product), the recurrent product step by step (`length` small products of batch ×
  units by units × 4·units, which cannot be batched across time), and the logits, each three times (forward, and the
  two products of the backward pass).

The ratio training / limit says how much of the machine the training loop uses (issue 11's target: ≥ 0.5).
The last line holds the figures.
"""
import argparse, os, sys, time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def flops_per_token(vocab: int, embed: int, units: int, layers: int) -> float:
    "Training FLOPs per token: three forward passes of the LSTM stack and the logits."
    lstm = sum(2 * 4 * units * ((embed if i == 0 else units) + units) for i in range(layers))
    return 3 * (lstm + 2 * units * vocab)


def training_speed(vocab: int, args) -> float:
    "Tokens per second of `fit` on random windows, after one warm-up epoch."
    import keras, numpy as np, tensorflow as tf
    from maestro_lessons.generator import build_generator, compile_generator
    model = compile_generator(build_generator(vocab, args.embed, args.units, args.layers))
    rng = np.random.default_rng(0)
    x = rng.integers(1, vocab, (args.batch * args.steps, args.length)).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices((x, np.roll(x, -1, 1))).batch(args.batch).cache()
    model.fit(ds.take(3), epochs=1, verbose=0)                                   # compile and warm up
    t0 = time.perf_counter()
    model.fit(ds, epochs=1, verbose=0)
    return args.batch * args.steps * args.length / (time.perf_counter() - t0)


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

    step()                                                        # trace and warm up
    t0 = time.perf_counter()
    for _ in range(args.steps): step()
    seconds = (time.perf_counter() - t0) / args.steps
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
    args = ap.parse_args(argv)
    from maestro_lessons.classifier import COMPOSERS
    from maestro_lessons.generator import generator_encoding
    vocab = generator_encoding(list(COMPOSERS)).vocab_size
    tps = training_speed(vocab, args)
    train_gflops = tps * flops_per_token(vocab, args.embed, args.units, args.layers) / 1e9
    limit = matmul_limit(vocab, args)
    print(f"generator: {args.layers} × LSTM({args.units}), embedding {args.embed}, vocabulary {vocab}; "
          f"batch {args.batch} × {args.length} tokens; {os.cpu_count()} CPU cores")
    print(f"training: {tps:,.0f} tokens/s = {train_gflops:.2f} GFLOP/s; the same matrix products alone: {limit:.2f} GFLOP/s")
    ratio = train_gflops / limit
    print(f"tokens_per_s={tps:.0f} train_gflops={train_gflops:.3f} matmul_gflops={limit:.3f} ratio={ratio:.3f} "
          f"units={args.units} layers={args.layers} batch={args.batch} length={args.length} target_met={ratio >= 0.5}")


if __name__ == "__main__":
    main()
