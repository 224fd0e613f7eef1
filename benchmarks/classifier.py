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

    python benchmarks/classifier.py --shipped [--bundle models/classifier]

measures the shipped classifier instead (the trust lesson): expected calibration error of its test clips before and after
its temperature; the share of real test pieces its refusal rule accepts and the share of each unseen tier
(`datasets/unseen/`, far and near) it refuses, with 95 % Wilson intervals; the same refusal rates at the threshold that
accepts exactly 95 % of the test pieces (the papers' "TNR at TPR 95"); and the quartet and vocal composer tasks from
`benchmarks/results/composer_tasks.json` (written by `benchmarks/composer_tasks.py`). Targets (issue 13): far tier
refused ≥ 90 % while ≥ 95 % of real test pieces are accepted; test-clip ECE ≤ 0.05.
"""
import argparse, os, sys, time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


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
    ap.add_argument("--shipped", action="store_true", help="measure the shipped classifier's calibration and refusal instead")
    ap.add_argument("--bundle", help="with --shipped: another calibrated bundle (default: models/classifier)")
    args = ap.parse_args(argv)
    if args.shipped: return shipped(args.bundle)

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



def shipped(bundle=None):
    "Calibration and refusal of the shipped (or another calibrated) classifier bundle; the last line holds the figures."
    import json
    import numpy as np, pandas as pd
    from maestro_lessons.classifier import clip_data, clip_windows, predict_clips
    from maestro_lessons.trust import (load_trusted, load_unseen, temper, expected_calibration_error, features_by_piece,
                                       proportion_interval)
    tc = load_trusted(bundle)
    clf = tc.classifier
    data = clip_data(composers=clf.classes, notes=clf.notes)
    X, y, _ = clip_windows(data.cache, data.parts["test"], data.notes)
    p = predict_clips(clf.model, X)
    ece = dict(before=expected_calibration_error(p, y), after=expected_calibration_error(temper(p, tc.temperature), y))
    dist = {"test": tc.neighbours.distance(features_by_piece(data.cache, data.parts["test"], clf.encoding, data.notes))}
    for tier in ("far", "near"):
        dist[tier] = np.array([tc.predict_midi(f)["distance"] for f in load_unseen(tier).path])
    def rate(d, thr, refuse=True):
        k, n = int(((d > thr) if refuse else (d <= thr)).sum()), len(d)
        return dict(count=k, pieces=n, rate=k / n, interval=proportion_interval(k, n))
    res = dict(temperature=tc.temperature, threshold=tc.threshold, ece_test_clips=ece,
               test_accepted=rate(dist["test"], tc.threshold, refuse=False),
               refused={t: rate(dist[t], tc.threshold) for t in ("far", "near")},
               refused_at_test95={t: rate(dist[t], np.quantile(dist["test"], 0.95)) for t in ("far", "near")})
    print(json.dumps(res, indent=1))
    tasks = ROOT / "benchmarks" / "results" / "composer_tasks.json"
    extra = ""
    if tasks.exists():
        t = json.loads(tasks.read_text())["tasks"]
        summary = {f"{task}_{short}_{k}": t[task]["models"][name][f"accuracy{suffix}"] for task in ("quartet", "vocal")
                   for name, short in (("lstm", "lstm"), ("baseline", "base")) for k, suffix in (("acc", ""), ("lo", "_lo"), ("hi", "_hi"))}
        print("composer tasks, piece accuracy with 95 % intervals (benchmarks/results/composer_tasks.json):", json.dumps(summary, indent=1))
        extra = " " + " ".join(f"{k}={v:.3f}" for k, v in summary.items())
    met = res["refused"]["far"]["rate"] >= 0.9 and res["test_accepted"]["rate"] >= 0.95 and ece["after"] <= 0.05
    print(f"ece_test={ece['after']:.4f} ece_test_untempered={ece['before']:.4f} temperature={tc.temperature:.3f} "
          f"test_accepted={res['test_accepted']['rate']:.3f} far_refused={res['refused']['far']['rate']:.3f} "
          f"near_refused={res['refused']['near']['rate']:.3f} far_refused_at_test95={res['refused_at_test95']['far']['rate']:.3f} "
          f"near_refused_at_test95={res['refused_at_test95']['near']['rate']:.3f}{extra} targets_met={met}")


if __name__ == "__main__":
    main()
