#!/usr/bin/env python
"""Tokens per second of the generator lesson's stateful sampler against the classic loop, at batch 1 and batch 16.

    python benchmarks/sampling.py [--model DIR] [--units 256] [--layers 2] [--tokens 2000] [--classic-tokens 20] [--rounds 5]

One model, one set of weights for every figure: the generator saved in DIR (default: the folder that
`maestro train generator` writes, when it exists), else a freshly built `build_generator` of the lesson's
default size (weights don't change the speed of either loop). The primer is the same for all: the composer
token and the first 99 tokens of a corpus piece, so the classic loop always sees a full window.

- classic: for every new token, `model.predict` on the last 100 tokens, take the last position's logits,
  sample in NumPy (the music21-tutorial loop);
- stateful: `Sampler.sample`, the whole loop in one `tf.function`, carrying the LSTM state; batch 1 and
  batch 16 (16 variations of the same primer in one call); tokens/s counts every sampled token of every row.

Each is traced/compiled once first, then the three alternate for `rounds` rounds (same process, same
machine); on a shared machine single runs are noisy, so each figure is the best round (as `timeit` does),
with the median beside it. XLA (`jit_compile=True`) figures are printed too, for information.
Targets (issue 5): stateful ÷ classic at batch 1 >= 300; batch 16 ÷ batch 1 >= 8. The GFLOP/s that each batch
size reaches in the LSTM and output matrix products is printed too: on a 2-core CPU the batch-16 step is bound by
arithmetic (1.8 MFLOP per token for the default 2 × 256 model, 28 MFLOP per batch-16 step), which caps batch 16 ÷
batch 1 well below 8 there (measured 2026-12-02 after the sampler keeps the recurrent product apart: batch 1 at
646× classic, batch 16 ÷ batch 1 = 3.3×, batch 16 at 42 GFLOP/s; before that change 259–316× and 4.5–5.8×: the
faster batch 1 gets, the lower this ratio); a GPU does not have that limit.
The last line holds the figures.
"""
import argparse, os, statistics, sys, time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="a generator folder (default: the trained default one if present, else a new model)")
    ap.add_argument("--units", type=int, default=256, help="LSTM units of a new model")
    ap.add_argument("--layers", type=int, default=2, help="LSTM layers of a new model")
    ap.add_argument("--tokens", type=int, default=2000, help="tokens per row per stateful run")
    ap.add_argument("--classic-tokens", type=int, default=20, help="tokens per classic run")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--xla", action="store_true", help="also time the sampler compiled with XLA")
    args = ap.parse_args(argv)

    import numpy as np
    import keras
    from maestro_lessons.corpus import load_manifest
    from maestro_lessons.encodings import PerformanceEncoding
    from maestro_lessons.notes import read_notes
    from maestro_lessons.files import models_dir
    from maestro_lessons.generator import Generator, build_generator, generator_encoding, load_generator
    from maestro_lessons.sampling import Sampler, classic_generate

    manifest = load_manifest()
    folder = Path(args.model) if args.model else models_dir("generator")
    if (folder / "generator.json").exists():
        gen, source = load_generator(folder), f"trained generator in {folder}"
    else:
        if args.model: raise SystemExit(f"{folder}: no generator here")
        keras.utils.set_random_seed(0)
        enc = generator_encoding(sorted(manifest.composer.unique()))
        gen = Generator(build_generator(enc.vocab_size, units=args.units, n_layers=args.layers), enc)
        source = "new model (random weights)"
    enc, model = gen.encoding, gen.model
    piece = manifest[manifest.composer == "Bach"].path.iloc[0]
    prefix = np.r_[enc.composer_id("Bach"), PerformanceEncoding().encode(read_notes(piece))[:99]].astype(np.int32)
    print(f"model: {source}: {model.count_params():,} parameters; primer {len(prefix)} tokens from {Path(piece).name}")

    samplers = {"stateful": Sampler(model, enc)}
    if args.xla: samplers["stateful_xla"] = Sampler(model, enc, jit_compile=True)
    def run_classic():
        t0 = time.perf_counter(); out = classic_generate(model, prefix, args.classic_tokens, window=100)
        return len(out) / (time.perf_counter() - t0)
    def run(s, batch):
        def f():
            t0 = time.perf_counter(); out = s.sample(prefix, tokens=args.tokens, batch=batch)
            return out.size / (time.perf_counter() - t0)
        return f
    runs = {"classic_b1": run_classic}
    for name, s in samplers.items(): runs[f"{name}_b1"], runs[f"{name}_b16"] = run(s, 1), run(s, 16)
    for name, f in runs.items(): f()                                          # trace, compile, warm up
    rates = {k: [] for k in runs}
    for r in range(args.rounds):
        for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]): rates[name].append(runs[name]())
    for name, v in rates.items():
        print(f"{name:20s} best {max(v):10,.1f} tokens/s   median {statistics.median(v):10,.1f}")
    b1, b16, classic = max(rates["stateful_b1"]), max(rates["stateful_b16"]), max(rates["classic_b1"])
    # Why batch 16 is not 16× batch 1 here: a step at batch 1 is a chain of small ops (overhead-bound); at batch 16
    # the matrix products dominate and run near what 2 CPU cores give, so they grow with the batch.
    _, rk, rest, dk, _ = samplers["stateful"]._weights()
    flops = 2 * (int(np.prod(rk.shape)) + sum(int(np.prod(k.shape)) + int(np.prod(r.shape)) for k, r, _ in rest)
                 + int(np.prod(dk.shape)))
    print(f"matrix products: {flops / 1e6:.1f} MFLOP per token; batch 1 runs them at {flops * b1 / 1e9:.0f} GFLOP/s, "
          f"batch 16 at {flops * b16 / 1e9:.0f} GFLOP/s on {os.cpu_count()} CPU cores")
    if args.xla:
        x1, x16 = max(rates["stateful_xla_b1"]), max(rates["stateful_xla_b16"])
        print(f"XLA: b1 {x1:,.0f} tokens/s ({x1 / classic:,.0f}× classic), b16 {x16:,.0f} ({x16 / x1:.1f}× b1)")
    print(f"ratio_b1={b1 / classic:.0f} tokens_per_s_b1={b1:.0f} tokens_per_s_b16={b16:.0f} ratio_b16_b1={b16 / b1:.1f} "
          f"classic_tokens_per_s={classic:.1f} gflops_b16={flops * b16 / 1e9:.0f}")


if __name__ == "__main__":
    main()
