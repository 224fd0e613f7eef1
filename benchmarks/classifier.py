#!/usr/bin/env python
"""Composer classifier on the bundled corpus: the baseline and an LSTM, trained and tested on the same split, side by side.

    python benchmarks/classifier.py [--model event|roll] [--epochs 20] [--stride 32] [--units 128] [--transpose 0]
                                    [--weight-power 1.0] [--notes 64] [--save PATH]

Task (the classifier lesson): 64-note clips of Bach, Beethoven, Monteverdi, Palestrina and Traditional (1,500 folk tunes
sampled, seed 0), split by work with `split_pieces` (seed 0). The baseline (pitch-class and interval
histograms + duration statistics → logistic regression) and the LSTM are fitted on the same training clips
(every `stride` notes) and scored on the same test clips (consecutive, no overlap); piece-level scores are
the mean of a piece's clip probabilities. The LSTM trains with class weights, Adam and early stopping on the
validation loss (best weights restored).
Targets (issue 4): LSTM clip macro-F1 ≥ 0.95 and ≥ baseline + 0.05; piece accuracy ≥ 0.99.
The last line holds the figures.
"""
import argparse, os, sys, time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=("event", "roll"), default="event")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--stride", type=int, default=32, help="notes between training clips")
    ap.add_argument("--units", type=int, nargs="+", default=[128])
    ap.add_argument("--bidirectional", action="store_true")
    ap.add_argument("--heads", type=int, default=4, help="attention heads of the piano-roll model")
    ap.add_argument("--transpose", type=int, default=0)
    ap.add_argument("--weight-power", type=float, default=1.0, help="class weights ** power (1: balanced)")
    ap.add_argument("--learning-rate", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps-per-epoch", type=int, default=None, help="batches per epoch (default: all; for a smoke test)")
    ap.add_argument("--notes", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", help="also save the LSTM as a classifier bundle here")
    args = ap.parse_args(argv)

    import numpy as np, pandas as pd
    import keras
    from maestro_lessons.classifier import (clip_data, clip_windows, fit_baseline, predict_clips, evaluate, report,
                                            clip_dataset, build_event_lstm, build_roll_lstm, composer_weights,
                                            fit_classifier, save_classifier)
    keras.utils.set_random_seed(args.seed)
    data = clip_data(notes=args.notes, seed=args.seed)
    X, y, _ = clip_windows(data.cache, data.parts["train"], data.notes, args.stride)
    Xt, yt, pt = clip_windows(data.cache, data.parts["test"], data.notes)
    print(f"{data}; {len(X):,} training clips, {len(Xt):,} test clips; {os.cpu_count()} CPU cores "
          f"(shared with other jobs: timings are pessimistic)", flush=True)

    t0 = time.perf_counter()
    base = fit_baseline(X, y, data.encoding)
    base_s = time.perf_counter() - t0
    p_base = predict_clips(base, Xt)

    if args.model == "event":
        model = build_event_lstm(data.encoding.vocab_size, len(data.classes), data.notes, units=tuple(args.units),
                                 bidirectional=args.bidirectional, learning_rate=args.learning_rate)
    else:
        model = build_roll_lstm(len(data.classes), data.encoding, data.notes, units=tuple(args.units),
                                bidirectional=True, heads=args.heads, learning_rate=args.learning_rate)
    weights = composer_weights(y, args.weight_power)
    t0 = time.perf_counter()
    hist = fit_classifier(model, clip_dataset(data, "train", args.stride, batch_size=args.batch_size,
                                                transpose=args.transpose, seed=args.seed),
                            clip_dataset(data, "valid"), args.epochs, weights, patience=args.patience,
                            steps_per_epoch=args.steps_per_epoch, verbose=2)
    lstm_s = time.perf_counter() - t0
    p = predict_clips(model, Xt)

    scores = {"baseline": evaluate(p_base, yt, pt, data.cache.labels),
              f"{model.name}": evaluate(p, yt, pt, data.cache.labels)}
    with pd.option_context("display.width", 160):
        print("\n" + pd.DataFrame(scores).T.round(4).to_string())
        print(f"\n{model.name} per composer (test clips):\n" + report(p, yt, data.classes).to_string())
        print("\nbaseline per composer (test clips):\n" + report(p_base, yt, data.classes).to_string())
    if args.save:
        print("saved", save_classifier(model, args.save, data.classes, data.encoding, data.notes,
                                       train_stride=args.stride, transpose=args.transpose, metrics=scores[model.name]))
    s, b = scores[model.name], scores["baseline"]
    met = s["clip_macro_f1"] >= 0.95 and s["clip_macro_f1"] >= b["clip_macro_f1"] + 0.05 and s["piece_accuracy"] >= 0.99
    epochs = len(hist.history["loss"])
    print(f"clip_macro_f1={s['clip_macro_f1']:.4f} baseline_clip_macro_f1={b['clip_macro_f1']:.4f} "
          f"piece_accuracy={s['piece_accuracy']:.4f} baseline_piece_accuracy={b['piece_accuracy']:.4f} "
          f"clip_accuracy={s['clip_accuracy']:.4f} piece_macro_f1={s['piece_macro_f1']:.4f} "
          f"margin={s['clip_macro_f1'] - b['clip_macro_f1']:.4f} model={model.name} epochs={epochs} "
          f"train_s={lstm_s:.0f} baseline_s={base_s:.1f} test_clips={len(yt)} test_pieces={s['pieces']} "
          f"targets_met={met}")


if __name__ == "__main__":
    main()
