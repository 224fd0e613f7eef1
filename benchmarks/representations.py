#!/usr/bin/env python
"""Which representation should the shipped generator use? Note triples against performance events, measured on the same held-out pieces.

    nice -n 10 .venv/bin/python benchmarks/representations.py [--minutes 6 | --steps N] [--units 128] [--pieces 8]
                                  [--seconds 20] [--performance-length 256] [--seed 0] [--threads 1] [--json FILE] [--png FILE]

Both models are the course's composer-conditioned LSTM (`build_generator`: embedding 64, `--units` per layer, 2 layers,
dropout 0.2, the composer's embedding joined to every token's), trained with the same `train_generator` call (Adam 1e-3,
batch 32, epochs of `--steps-per-epoch` steps, early stopping on a fixed random sample of `--valid-batches` validation
batches, best weights kept) for the same wall-clock budget `--minutes` (or, with `--steps`, the same number of steps: on a
shared machine a step's time varies tenfold with the load, so compare the steps each model got, which are printed and
saved), from the same seed, on the same pieces and split:
the classifier lesson's `clip_data()` (its manifest, its split by work). The note-triple model reads windows of 64 notes
(192 tokens, every 32 notes, from BOS, as `train_note_generator` cuts them); the performance model reads windows of
`--performance-length` tokens (every half window, from the composer's token, as `train_on_corpus` cuts them) of
`token_cache(data.manifest, PerformanceEncoding())`, split with `pieces_by_split(..., split_pieces(data.manifest, seed))`; the script asserts that both
caches put the same piece ids in test. Notes per training window are measured and printed for both.

Measured on the test pieces (never seen in training or early stopping):
- NLL per note: total nats over every token of each test piece's non-overlapping windows, divided by the notes those
  windows hold (triples: tokens / 3; performance: the NOTE_ON tokens), the true composer given; and the same with the
  composers shuffled among the windows (conditioning works when true < shuffled). The two representations do not hold
  the same facts (triples: a 1/12-beat grid, no velocity; performance: 10 ms steps in seconds, velocity), so their NLLs
  are compared as what each model must pay per note of the same pieces, not as one scale.
- The judge (`judging.judge`, the shipped classifier as critic, every piece of the manifest as the real music):
  `--pieces` pieces of `--seconds` s per composer from each model, the same seeds, temperature 1.0, `max_note=None`.
  "As written" means: note triples carry their own duration (at most 16 beats = 8 s at the 0.5 s per beat they are
  played at), so every note ends where the model said; performance events go through `repair_tokens` with
  `max_note=None`, which drops orphan NOTE_OFFs, closes a re-struck note first and closes the notes still sounding at the
  end of the stream after its 0.5 s tail, so a note the model never switched off lasts to the end of the piece. Both are
  then cut at `--seconds`. Per model: critic agreement with its 95 % interval, realism, worst feature, longest note and
  the share of notes longer than 4 s (beside the same share in the real pieces' first `--seconds`).
- A picture: the first Bach piece of each model, one panel each (`--png`).
All figures go to `--json` (default benchmarks/results/representations.json); the last line holds the main ones.
TensorFlow uses `--threads` threads (default 1: the machine is shared; run under `nice`).
"""
import argparse, json, os, sys, time, warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np

warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed")    # Keras: our tf.data pipelines shuffle themselves

NAMES = ("note_triples", "performance")


def prepare(seed: int, performance_length: int = 256) -> dict:
    "The pieces, encodings, caches and splits of both models; asserts that both test the same piece ids."
    from maestro_lessons.classifier import clip_data
    from maestro_lessons.corpus import split_pieces
    from maestro_lessons.encodings import PerformanceEncoding
    from maestro_lessons.generator import generator_encoding, composer_ids_of
    from maestro_lessons.sequences import token_cache, pieces_by_split
    data = clip_data(seed=seed)
    cache = token_cache(data.manifest, PerformanceEncoding(), classes=data.classes, workers=1, progress=False)
    parts = pieces_by_split(cache, data.manifest, split_pieces(data.manifest, seed=seed))
    for s in ("train", "valid", "test"):
        a, b = [np.asarray(c.ids)[p] for c, p in ((data.cache, data.parts[s]), (cache, parts[s]))]
        assert np.array_equal(np.sort(a), np.sort(b)), f"{s}: the two caches split the pieces differently"
    enc = generator_encoding(cache.classes)
    return dict(data=data, classes=list(data.classes), note_triples=dict(cache=data.cache, parts=data.parts, enc=data.encoding,
                start=[data.encoding.bos_id] * len(data.classes), length=192, stride=96),
                performance=dict(cache=cache, parts=parts, enc=enc, start=composer_ids_of(cache, enc),
                                length=performance_length, stride=performance_length // 2))


def notes_in(windows, name: str, enc) -> np.ndarray:
    "The notes of each window (rows of token ids): non-padding tokens / 3 for triples, NOTE_ON tokens for performance."
    if name == "note_triples": return (windows != enc.pad_id).sum(1) / 3
    return ((windows >= enc.on0) & (windows < enc.off0)).sum(1)


def windows_of(spec: dict, split: str, stride: int | None = None):
    "The windows (n, length) of a split's pieces every `stride` tokens (default: not overlapping) and their composer labels."
    from maestro_lessons.sequences import window_index, gather_windows
    c = spec["cache"]
    idx = window_index(c.offsets, spec["parts"][split], spec["length"], stride)
    w = gather_windows(c.tokens, idx.start.values, idx.end.values, spec["length"], c.pad_id)
    return w.astype(np.int32), np.asarray(c.labels)[idx.piece.values].astype(np.int32)


def train(name: str, spec: dict, n_composers: int, args) -> tuple:
    "Train one model for `args.minutes`; returns the Keras model and the facts of its training."
    import keras
    from maestro_lessons.generator import composer_lm_dataset, build_generator, train_generator
    c, enc = spec["cache"], spec["enc"]
    ds = lambda split, **kw: composer_lm_dataset(c, spec["parts"][split], spec["start"], spec["length"], batch_size=args.batch,
                                                 seed=args.seed, conditioned=True, **kw)
    train_ds = ds("train", stride=spec["stride"]).repeat()
    valid_ds = ds("valid", shuffle=True).take(args.valid_batches).cache()      # a fixed random sample, the same each epoch
    keras.utils.set_random_seed(args.seed)
    model = build_generator(enc.vocab_size, args.embed, args.units, args.layers, 0.2, name=name, n_composers=n_composers)

    class Count(keras.callbacks.Callback):
        steps = 0
        def on_train_batch_end(self, batch, logs=None):
            Count.steps += 1
            if Count.steps >= args.steps > 0: self.model.stop_training = True        # `--steps`: a step budget instead
    t0 = time.perf_counter()
    h = train_generator(model, train_ds, valid_ds, enc, epochs=10_000, patience=args.patience, steps_per_epoch=args.steps_per_epoch,
                        minutes=None if args.steps else args.minutes, callbacks=[Count()], verbose=2).history
    facts = dict(steps=Count.steps, epochs=len(h["loss"]), fit_s=round(time.perf_counter() - t0, 1),
                 windows_seen=Count.steps * args.batch, tokens_seen=Count.steps * args.batch * spec["length"],
                 best_val_loss_per_token=float(min(h["val_loss"])), last_loss_per_token=float(h["loss"][-1]),
                 parameters=int(model.count_params()))
    return model, facts


def window_nats(name: str, model, spec: dict, windows, labels, batch: int = 64) -> tuple:
    "The nats of each window (all its tokens) and its notes, when the model is told `labels` are the windows' composers."
    import tensorflow as tf
    enc, start = spec["enc"], np.asarray(spec["start"], np.int32)

    @tf.function(reduce_retracing=True)                          # traced: about 13 times faster than eager calls
    def nats(x, c, y):
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(y, model([x, c], training=False))
        return tf.reduce_sum(tf.where(y != enc.pad_id, nll, 0.0), axis=1)
    out = []
    for i in range(0, len(windows), batch):
        y, lab = windows[i:i + batch], labels[i:i + batch]
        x = np.c_[start[lab], y[:, :-1]]
        out.append(nats(x, np.broadcast_to(lab[:, None], x.shape).copy(), y).numpy())
    return np.concatenate(out).astype(np.float64), notes_in(windows, name, enc).astype(np.float64)


def measure_nll(name: str, model, spec: dict, classes, seed: int) -> dict:
    "Test nats per note with the true composers (overall and per composer) and with the composers shuffled among the windows."
    w, y = windows_of(spec, "test")
    true, notes = window_nats(name, model, spec, w, y)
    shuffled, _ = window_nats(name, model, spec, w, y[np.random.default_rng(seed).permutation(len(y))])
    per = {c: dict(windows=int((y == k).sum()), notes=float(notes[y == k].sum()), true=float(true[y == k].sum() / notes[y == k].sum()),
                   shuffled=float(shuffled[y == k].sum() / notes[y == k].sum())) for k, c in enumerate(classes) if (y == k).any()}
    return dict(windows=len(w), notes=float(notes.sum()), true=float(true.sum() / notes.sum()),
                shuffled=float(shuffled.sum() / notes.sum()), per_composer=per)


def write(gen, classes, args) -> dict:
    "`args.pieces` pieces of `args.seconds` s per composer, the same seeds for every model and composer, notes as written."
    from maestro_lessons.sampling import generate
    return {c: generate(gen, c, seconds=args.seconds, n=args.pieces, seed=args.seed, temperature=1.0, max_note=None)
            for c in classes}


def long_share(pieces, over: float = 4.0) -> float:
    "The share of all notes of `pieces` (Notes) longer than `over` seconds."
    lengths = np.concatenate([p.end - p.start for p in pieces] or [np.zeros(0)])
    return float((lengths > over).mean()) if len(lengths) else float("nan")


def picture(bach: dict, path: Path, seconds: float) -> None:
    "Two piano-roll panels, one Bach piece of each model, small."
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from maestro_lessons.notes import plot_piano_roll
    fig, axes = plt.subplots(len(bach), 1, figsize=(10, 2.6 * len(bach)))
    for ax, (name, notes) in zip(np.atleast_1d(axes), bach.items()):
        plot_piano_roll(notes, ax=ax, title=f"{name.replace('_', ' ')} as Bach: {len(notes)} notes", end=seconds)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plain(v):
    "`v` with NumPy scalars as Python numbers and NaN as None: JSON any reader takes."
    if isinstance(v, dict): return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)): return [plain(x) for x in v]
    if isinstance(v, np.generic): v = v.item()
    return None if isinstance(v, float) and v != v else v


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=6.0, help="wall-clock training budget of each model")
    ap.add_argument("--steps", type=int, default=0, help="train each model for this many steps instead of --minutes (0: minutes)")
    ap.add_argument("--units", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--performance-length", type=int, default=256, help="tokens per performance window (triples: 64 notes)")
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps-per-epoch", type=int, default=250)
    ap.add_argument("--valid-batches", type=int, default=20, help="validation batches (a fixed random sample) per epoch")
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--pieces", type=int, default=8, help="judged pieces per composer and model")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="TensorFlow threads")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "representations.json"))
    ap.add_argument("--png", default=str(ROOT / "benchmarks" / "results" / "representations-bach.png"))
    args = ap.parse_args(argv)
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads); tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import pandas as pd
    from maestro_lessons.generator import Generator
    from maestro_lessons.judging import judge, summary_line, report_table, real_by_composer
    from maestro_lessons.sampling import clip_notes
    from maestro_lessons.trust import load_trusted
    t_start = time.perf_counter()
    p = prepare(args.seed, args.performance_length)
    data, classes = p["data"], p["classes"]
    split = {s: len(v) for s, v in data.parts.items()}
    print(f"{len(data.manifest)} pieces by {classes}; split {split} (the same piece ids in both caches)")
    settings = {k: v for k, v in vars(args).items() if k not in ("json", "png")}          # no local paths in the results
    fig = dict(settings=settings | dict(budget=f"{args.steps} steps" if args.steps else f"{args.minutes:g} min"),
               split=split, models={})
    for name in NAMES:
        w, _ = windows_of(p[name], "train", p[name]["stride"])
        n = notes_in(w, name, p[name]["enc"])
        c = p[name]["cache"]
        tokens = np.concatenate([c.piece(i) for i in p[name]["parts"]["train"]])[None, :]
        per_note = tokens.size / float(notes_in(tokens, name, p[name]["enc"]).sum())
        fig["models"][name] = dict(window_tokens=p[name]["length"], train_windows=len(w), notes_per_window_mean=float(n.mean()),
                                   notes_per_window_median=float(np.median(n)), tokens_per_note=float(per_note))
        print(f"{name}: windows of {p[name]['length']} tokens, {len(w):,} training windows, notes per window mean "
              f"{n.mean():.1f} median {np.median(n):.0f}, {per_note:.2f} tokens per note")
    critic = load_trusted()
    t = time.perf_counter()
    real = real_by_composer(data.manifest, classes)
    real_long = long_share([clip_notes(x, args.seconds) for ps in real.values() for x in ps])
    print(f"real pieces read in {time.perf_counter() - t:.0f} s; notes longer than 4 s in their first {args.seconds:g} s: {real_long:.4f}")
    fig["real_share_over_4s"], results, bach = real_long, {}, {}
    for name in NAMES:
        spec = p[name]
        print(f"\n== {name}: training for {fig['settings']['budget']}")
        model, facts = train(name, spec, len(classes), args)
        print(f"{name}: {facts}")
        t = time.perf_counter()
        nll = measure_nll(name, model, spec, classes, args.seed)
        nll["seconds"] = round(time.perf_counter() - t, 1)
        print(f"{name}: test NLL per note {nll['true']:.3f} (composers shuffled {nll['shuffled']:.3f}) over "
              f"{nll['windows']:,} windows, {nll['notes']:,.0f} notes, {nll['seconds']:.0f} s; per composer (true/shuffled): "
              + ", ".join(f"{c} {v['true']:.2f}/{v['shuffled']:.2f}" for c, v in nll["per_composer"].items()))
        meta = dict(composers=classes, seconds_per_beat=0.5) if name == "note_triples" else {}
        gen = Generator(model, spec["enc"], meta)
        t = time.perf_counter()
        pieces = write(gen, classes, args)
        gen_s = time.perf_counter() - t
        r = judge(pieces, real=real, critic=critic)
        judge_s = time.perf_counter() - t - gen_s
        s = r["summary"]
        flat = [x for ps in pieces.values() for x in ps]
        share = long_share(flat)
        with pd.option_context("display.width", 200, "display.max_columns", None):
            print(f"\n{name}: {len(flat)} pieces written in {gen_s:.0f} s, judged in {judge_s:.0f} s\n"
                  f"{report_table(r).to_string()}\n{summary_line(s)}")
        print(f"{name}: critic agreement {s['critic_agree']:.3f} [{s['critic_low']:.3f}, {s['critic_high']:.3f}], realism "
              f"{s['realism']:.3f}, worst {s['worst']:.3f} ({s['worst_at']}), longest note {s['max_note_s']:.2f} s, notes over 4 s "
              f"{share:.4f} (real {real_long:.4f}), empty pieces {sum(len(x) == 0 for x in flat)}")
        bach[name] = pieces["Bach"][0] if "Bach" in pieces else flat[0]
        results[name] = s
        fig["models"][name].update(training=facts, nll=nll, generate_s=round(gen_s, 1), judge_s=round(judge_s, 1),
                                   share_over_4s=share, empty=int(sum(len(x) == 0 for x in flat)),
                                   notes_per_piece=float(np.mean([len(x) for x in flat])), judge=s,
                                   per_composer=r["composers"].reset_index().to_dict("records"))
        del gen, model
    picture(bach, Path(args.png), args.seconds)
    fig["total_s"] = round(time.perf_counter() - t_start, 1)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(plain(fig), indent=1))
    print(f"\nwrote {Path(args.json).name} and {Path(args.png).name} ({fig['total_s'] / 60:.1f} min in all)")
    m = fig["models"]
    print(" ".join(f"{k}_{n}={v:.3f}" if k != "longest_note" else f"{k}_{n}={v:.2f}" for k, get in
                   (("nll", lambda n: m[n]["nll"]["true"]), ("critic", lambda n: results[n]["critic_agree"]),
                    ("realism", lambda n: results[n]["realism"]), ("longest_note", lambda n: results[n]["max_note_s"]))
                   for n in NAMES for v in [get(n)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
