#!/usr/bin/env python
"""Two composer tasks that are not genre tasks: string quartets (Beethoven, Haydn, Mozart) and vocal polyphony
(Bach, Monteverdi, Palestrina), each scored on works the models never saw, with bootstrap 95 % intervals, the LSTM
and the baseline in one table, and the course's five-class task under the same protocol for reference.

    python benchmarks/composer_tasks.py            # the real run (≈ 10–15 min on one core): writes the JSON
    python benchmarks/composer_tasks.py --quick    # a smoke run (≈ 1 min): small settings, writes nothing unless --out

Protocol (fixed before any result was seen):
- Pieces and works. quartet: the 4-part quartet movements of Beethoven, Haydn and Mozart (Mozart's K.545 exposition,
  a 2-part piano sonata, is left out). vocal: all of Palestrina and Monteverdi, and Bach's four-part chorale
  harmonisations (the 45 Bach settings with instrumental parts, 5–15 parts, are left out: their texture alone would
  say "Bach"). five: the classifier lesson's task (Bach, Beethoven, Monteverdi, Palestrina, Traditional; 1,500 folk
  tunes sampled, seed 0). A work is the manifest's `work`, except for Bach, where it is the BWV number (variants of
  one chorale, e.g. bwv18.5-lz / bwv18.5-w, and the movements of one cantata or oratorio are one work); files with the
  same SHA-256 are joined too (`piece_groups`).
- Folds: works never split. The baseline is always scored leave-one-work-out where the task asks for it
  (quartet and vocal: one fold per work). The LSTM is scored leave-one-work-out on the quartets (16 folds) and with
  5 grouped, composer-stratified folds on the vocal task (114+ folds of an LSTM do not fit the budget); five uses
  5 grouped folds for both models.
- Inside each training fold, validation works (15 % of each composer's training works, at least one; none for a
  composer with a single training work) serve the LSTM's early stopping, the only setting chosen from data.
  Everything else is fixed in advance: LSTM `build_event_lstm` with one 64-unit layer, 64-note clips every 32 notes,
  at most `--cap` training clips per composer (a random sample), balanced class weights (power 1), Adam 1e-3,
  ≤ `--epochs` epochs, patience 2; baseline `fit_baseline` with its defaults (C = 1, balanced), fitted on all
  training works (it has nothing to tune), at most `--base-cap` clips per composer.
- Scores: a piece's probabilities are the mean over its consecutive, non-overlapping clips; each piece is predicted
  once, by the fold that held its work out. Accuracy, macro-F1 and balanced accuracy of pieces; per-composer recall;
  the confusion matrix. 95 % intervals: a bootstrap of works (resampled with replacement within each composer,
  2,000 times), because pieces of one work share a model and a style: resampling pieces would pretend they are
  independent and give intervals that are too narrow. The LSTM-minus-baseline difference is bootstrapped on the
  same resamples.
TensorFlow runs on one thread. The last line holds the figures as name=value pairs.
"""
import argparse, json, os, re, sys, time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "results" / "composer_tasks.json"
TASKS = {"quartet": ("Beethoven", "Haydn", "Mozart"), "vocal": ("Bach", "Monteverdi", "Palestrina"),
         "five": ("Bach", "Beethoven", "Monteverdi", "Palestrina", "Traditional")}
SMALL_WORKS = 5          # a composer with fewer test works than this: its recall is reported, not concluded on


from maestro_lessons.trust import work_folds, bootstrap_ci      # the trust lesson's folds and intervals


# --- the tasks ----------------------------------------------------------------------------------------------------
def work_of(df: pd.DataFrame) -> pd.Series:
    "The manifest's work, except Bach's: his BWV number (variants and movements of one cantata are one work)."
    bwv = df.title.astype(str).str.extract(r"^(bwv\d+)", flags=re.I)[0].str.lower()
    return pd.Series(np.where((df.composer == "Bach") & bwv.notna(), "bach/" + bwv.fillna(""), df.work), index=df.index)


def task_manifest(manifest: pd.DataFrame, task: str, seed: int = 0) -> pd.DataFrame:
    "The pieces of `task`, with a `group` number per work (`piece_groups` over the task's works and file hashes)."
    from maestro_lessons.classifier import composer_manifest, MAX_PIECES
    from maestro_lessons.corpus import piece_groups
    m = manifest
    if task == "quartet": m = m[m.composer.isin(TASKS[task]) & (m.n_parts == 4)]
    elif task == "vocal": m = m[m.composer.isin(("Palestrina", "Monteverdi")) | ((m.composer == "Bach") & (m.n_parts == 4))]
    m = composer_manifest(m, TASKS[task], MAX_PIECES if task == "five" else {}, seed)
    m = m.assign(work=work_of(m))
    return m.assign(group=piece_groups(m))


def validation_rows(groups, labels, train, share: float = 0.15, seed: int = 0) -> np.ndarray:
    "Rows of `train` held out for validation: `share` of each composer's works (≥ 1), none for a composer with one work."
    rng, out = np.random.default_rng(seed), []
    for c in np.unique(labels[train]):
        gs = np.unique(groups[train][labels[train] == c])
        if len(gs) < 2: continue
        pick = rng.choice(gs, max(1, round(share * len(gs))), replace=False)
        out.append(train[np.isin(groups[train], pick)])
    return np.concatenate(out) if out else np.array([], int)


def capped(labels, cap: int, rng) -> np.ndarray:
    "Positions of at most `cap` items per label (a random sample), sorted."
    labels = np.asarray(labels)
    keep = [rng.choice(ix, cap, replace=False) if len(ix) > cap else ix
            for ix in (np.flatnonzero(labels == c) for c in np.unique(labels))]
    return np.sort(np.concatenate(keep)) if keep else np.array([], int)


class Clips:
    "Every clip of a task's pieces, cut once: training clips (every `stride` notes) and test clips (no overlap)."
    def __init__(self, cache, notes: int = 64, stride: int = 32):
        from maestro_lessons.classifier import clip_windows
        every = np.arange(len(cache))
        self.X, self.y, self.piece = clip_windows(cache, every, notes, stride)
        self.Xt, self.yt, self.piece_t = clip_windows(cache, every, notes)

    def train(self, rows, cap: int, rng):
        "Training clips (X, y) of pieces `rows`, at most `cap` per composer."
        at = np.flatnonzero(np.isin(self.piece, rows))
        at = at[capped(self.y[at], cap, rng)]
        return self.X[at], self.y[at]

    def test(self, rows):
        "Non-overlapping clips of pieces `rows`: X, y, piece numbers."
        at = np.flatnonzero(np.isin(self.piece_t, rows))
        return self.Xt[at], self.yt[at], self.piece_t[at]


def piece_probs(model, clips: Clips, rows, k: int) -> np.ndarray:
    "Mean clip probabilities (rows, k) of pieces `rows` (in the order of `rows`)."
    from maestro_lessons.classifier import predict_clips, piece_probabilities
    X, _, p = clips.test(rows)
    ids, pp = piece_probabilities(predict_clips(model, X), p)
    out = np.full((len(rows), k), np.nan)
    out[np.searchsorted(np.sort(rows), ids)] = pp
    return out[np.argsort(np.argsort(rows))]


def run_baseline(clips, enc, y_piece, groups, folds, cap, seed):
    "Piece probabilities of the baseline, each piece from the fold that held its work out."
    from maestro_lessons.classifier import fit_baseline
    k, probs = len(np.unique(y_piece)), np.full((len(y_piece), len(np.unique(y_piece))), np.nan)
    for i, test in enumerate(folds):
        train = np.setdiff1d(np.arange(len(y_piece)), test)
        X, y = clips.train(train, cap, np.random.default_rng([seed, i]))
        probs[test] = piece_probs(fit_baseline(X, y, enc), clips, test, k)
    return probs


def run_lstm(clips, enc, y_piece, groups, folds, args, log):
    "Piece probabilities of the LSTM (early stopping on validation works inside each fold) and the epochs kept per fold."
    import keras, tensorflow as tf
    from maestro_lessons.classifier import build_event_lstm, composer_weights, fit_classifier
    k = len(np.unique(y_piece))
    probs, epochs = np.full((len(y_piece), k), np.nan), []
    data = lambda X, y, shuffle: (tf.data.Dataset.from_tensor_slices((X, y.astype(np.int32)))
                                  .shuffle(len(y), seed=args.seed) if shuffle else
                                  tf.data.Dataset.from_tensor_slices((X, y.astype(np.int32)))).batch(64)
    for i, test in enumerate(folds):
        keras.utils.set_random_seed(args.seed + i)
        train = np.setdiff1d(np.arange(len(y_piece)), test)
        valid = validation_rows(groups, y_piece, train, seed=args.seed + i)
        rng = np.random.default_rng([args.seed, i])
        X, y = clips.train(np.setdiff1d(train, valid), args.cap, rng)
        Xv, yv, _ = clips.test(valid)
        sel = capped(yv, args.cap // 2, rng)
        model = build_event_lstm(enc.vocab_size, k, args.notes, units=(args.units,))
        h = fit_classifier(model, data(X, y, True), data(Xv[sel], yv[sel], False), args.epochs,
                           composer_weights(y, 1.0), patience=args.patience, verbose=0)
        best = int(np.argmin(h.history["val_loss"])) + 1
        epochs.append(best)
        probs[test] = piece_probs(model, clips, test, k)
        log(f"  fold {i + 1}/{len(folds)}: {len(test)} test pieces, {len(y)} training clips, "
            f"{len(np.unique(groups[valid]))} validation works, best epoch {best}/{len(h.history['loss'])}")
    return probs, epochs


# --- scores ---------------------------------------------------------------------------------------------------
def scores(truth, pred, k: int) -> np.ndarray:
    "Accuracy, macro-F1, balanced accuracy and each composer's recall of piece predictions."
    cm = np.bincount(k * truth + pred, minlength=k * k).reshape(k, k)
    tp, true_n, pred_n = np.diag(cm), cm.sum(1), cm.sum(0)
    with np.errstate(all="ignore"):
        recall = np.where(true_n > 0, tp / true_n, np.nan)
        f1 = np.where(true_n + pred_n > 0, 2 * tp / (true_n + pred_n), 0.0)
    present = true_n > 0
    return np.concatenate([[tp.sum() / cm.sum(), f1[present].mean(), np.nanmean(recall)], recall])


def summarise(task, m, y_piece, groups, classes, probs, n_boot, seed):
    "The task's table: n, scores with bootstrap intervals (works resampled within composers), recall, confusion."
    k = len(classes)
    preds = {name: p.argmax(1) for name, p in probs.items()}
    names = list(preds)
    def score(rows):
        s = [scores(y_piece[rows], preds[n][rows], k) for n in names]
        return np.concatenate(s + [s[0][:3] - s[1][:3]])
    est, lo, hi = bootstrap_ci(score, groups, y_piece, n=n_boot, seed=seed)
    w = 3 + k
    out = {"composers": list(classes), "n": {}, "chance": {}, "models": {}}
    for j, c in enumerate(classes):
        rows = y_piece == j
        out["n"][c] = {"pieces": int(rows.sum()), "works": int(len(np.unique(groups[rows]))),
                       "too_small": bool(len(np.unique(groups[rows])) < SMALL_WORKS)}
    share = np.bincount(y_piece, minlength=k) / len(y_piece)
    out["chance"] = {"majority_accuracy": float(share.max()), "majority_composer": classes[int(share.argmax())],
                     "balanced_accuracy": 1 / k,
                     "majority_macro_f1": float(2 * share.max() / (1 + share.max()) / k)}
    from sklearn.metrics import confusion_matrix
    for i, name in enumerate(names):
        e, l, h = est[i * w:(i + 1) * w], lo[i * w:(i + 1) * w], hi[i * w:(i + 1) * w]
        out["models"][name] = {
            **{f"{m_}{suf}": float(v[j]) for j, m_ in enumerate(("accuracy", "macro_f1", "balanced_accuracy"))
               for suf, v in (("", e), ("_lo", l), ("_hi", h))},
            "recall": {c: {"value": float(e[3 + j]), "lo": float(l[3 + j]), "hi": float(h[3 + j])}
                       for j, c in enumerate(classes)},
            "confusion": confusion_matrix(y_piece, preds[name], labels=range(k)).tolist()}
    d = len(names) * w
    out["lstm_minus_baseline"] = {m_: {"value": float(est[d + j]), "lo": float(lo[d + j]), "hi": float(hi[d + j])}
                                  for j, m_ in enumerate(("accuracy", "macro_f1", "balanced_accuracy"))}
    out["pieces"] = {"id": m.id.astype(str).tolist(), "composer": [classes[j] for j in y_piece],
                     "group": groups.tolist(), **{f"{n}_pred": [classes[j] for j in preds[n]] for n in names}}
    return out


def run_task(task, manifest, args, log):
    "Fit and score both models on `task`; its JSON entry."
    from maestro_lessons.classifier import clip_encoding
    from maestro_lessons.sequences import token_cache
    m = task_manifest(manifest, task, args.seed)
    enc, classes = clip_encoding(), sorted(TASKS[task])
    cache = token_cache(m, enc, classes=classes, workers=1, progress=False)
    if len(cache.failed): raise RuntimeError(f"{task}: unreadable files {cache.failed.id.tolist()[:5]}")
    pos = cache.positions(m.id)                                  # manifest row → piece number in the cache
    y_piece, groups = np.asarray(cache.labels, int), np.empty(len(m), int)
    groups[pos] = m.group.values                                 # arrays by piece number from here on
    m = m.iloc[np.argsort(pos)].reset_index(drop=True)
    clips = Clips(cache, args.notes, args.stride)
    lowo = task in ("quartet", "vocal")
    base_k = None if lowo and not args.quick else 5
    lstm_k = None if task == "quartet" and not args.quick else (5 if not args.quick else 2)
    base_folds, lstm_folds = work_folds(groups, y_piece, base_k, args.seed), work_folds(groups, y_piece, lstm_k, args.seed)
    log(f"{task}: {len(m)} pieces, {len(np.unique(groups))} works; baseline {len(base_folds)} folds, "
        f"LSTM {len(lstm_folds)} folds; {len(clips.y):,} training-stride clips")
    t0 = time.perf_counter()
    p_base = run_baseline(clips, enc, y_piece, groups, base_folds, args.base_cap, args.seed)
    base_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    p_lstm, epochs = run_lstm(clips, enc, y_piece, groups, lstm_folds, args, log)
    lstm_s = time.perf_counter() - t0
    assert not np.isnan(p_base).any() and not np.isnan(p_lstm).any(), "a piece was never tested"
    out = summarise(task, m, y_piece, groups, classes, {"lstm": p_lstm, "baseline": p_base}, args.boot, args.seed)
    fold_name = lambda k_: "leave-one-work-out" if k_ is None else f"{k_} grouped folds (works never split)"
    out["settings"] = {"baseline_folds": fold_name(base_k), "baseline_n_folds": len(base_folds),
                       "lstm_folds": fold_name(lstm_k), "lstm_n_folds": len(lstm_folds), "best_epochs": epochs,
                       "bootstrap": f"{args.boot} resamples of works within each composer, 95 % percentile interval",
                       **{a: getattr(args, a) for a in ("notes", "stride", "units", "epochs", "patience", "cap",
                                                          "base_cap", "seed")},
                       "class_weight_power": 1.0, "baseline_C": 1.0, "validation_share": 0.15,
                       "bach": "four-part chorale harmonisations only" if task != "five" else "all Bach pieces",
                       "bach_work": "BWV number"}
    out["seconds"] = {"baseline": round(base_s, 1), "lstm": round(lstm_s, 1)}
    return out


def write_json(doc, out: Path):
    "Write `doc` to `out` atomically, indented, with each list of plain values on one line."
    text = re.sub(r"\[[^\[\]{}]*\]", lambda m: re.sub(r"\n\s*", "", re.sub(r",\n\s*", ", ", m.group(0))),
                  json.dumps(doc, indent=1))             # JSON strings hold no raw newline: only layout is removed
    tmp = out.with_suffix(".tmp")
    tmp.write_text(text + "\n")
    tmp.replace(out)


def table(results) -> pd.DataFrame:
    "One row per task and model: pieces, works, accuracy, macro-F1 and balanced accuracy with their intervals."
    rows = []
    for task, r in results.items():
        for name, s in r["models"].items():
            rows.append({"task": task, "model": name, "pieces": sum(v["pieces"] for v in r["n"].values()),
                         "works": sum(v["works"] for v in r["n"].values()),
                         **{m_: f"{s[m_]:.3f} [{s[m_ + '_lo']:.3f}, {s[m_ + '_hi']:.3f}]"
                            for m_ in ("accuracy", "macro_f1", "balanced_accuracy")}})
        rows.append({"task": task, "model": "chance", "accuracy": f"{r['chance']['majority_accuracy']:.3f} (majority)",
                     "balanced_accuracy": f"{r['chance']['balanced_accuracy']:.3f}"})
    return pd.DataFrame(rows).astype(object).fillna("")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 LSTM folds, 1 epoch, small caps, 5 baseline folds")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--patience", type=int, default=2)
    ap.add_argument("--cap", type=int, default=1000, help="LSTM training clips per composer and fold")
    ap.add_argument("--base-cap", type=int, default=4000, help="baseline training clips per composer and fold")
    ap.add_argument("--units", type=int, default=64)
    ap.add_argument("--notes", type=int, default=64)
    ap.add_argument("--stride", type=int, default=32)
    ap.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help=f"the JSON to write (default {OUT.relative_to(OUT.parents[2])}; --quick: none)")
    args = ap.parse_args(argv)
    if args.quick: args.epochs, args.cap, args.base_cap, args.boot = 1, 150, 500, 200
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from maestro_lessons.corpus import load_manifest
    log = lambda s: print(s, flush=True)
    manifest, results, t0 = load_manifest(), {}, time.perf_counter()
    for task in args.tasks:
        results[task] = run_task(task, manifest, args, log)
    total = time.perf_counter() - t0
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        log("\n" + table(results).to_string(index=False))
        for task, r in results.items():
            n = ", ".join(f"{c} {v['pieces']} pieces / {v['works']} works" + (" (too few works to conclude)" if v["too_small"] else "")
                          for c, v in r["n"].items())
            rec = pd.DataFrame({name: {c: f"{v['value']:.2f} [{v['lo']:.2f}, {v['hi']:.2f}]" for c, v in s["recall"].items()}
                                for name, s in r["models"].items()})
            d = r["lstm_minus_baseline"]["accuracy"]
            log(f"\n{task}: {n}\nrecall per composer:\n{rec.to_string()}\n"
                f"LSTM − baseline accuracy {d['value']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]; "
                f"seconds: baseline {r['seconds']['baseline']}, LSTM {r['seconds']['lstm']}")
    out = Path(args.out) if args.out else (None if args.quick else OUT)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = {"about": __doc__.strip().split("\n")[0], "quick": args.quick, "seconds": round(total, 1),
               "cpu_threads": 1, "tasks": results}
        write_json(doc, out)
        log(f"wrote {out.name}")
    short = {"quartet": "quartet", "vocal": "vocal", "five": "five"}
    pairs = []
    for task, r in results.items():
        for name, tag in (("lstm", "lstm"), ("baseline", "base")):
            s = r["models"][name]
            pairs += [f"{short[task]}_{tag}_acc={s['accuracy']:.3f}", f"{short[task]}_{tag}_lo={s['accuracy_lo']:.3f}",
                      f"{short[task]}_{tag}_hi={s['accuracy_hi']:.3f}", f"{short[task]}_{tag}_f1={s['macro_f1']:.3f}"]
        pairs.append(f"{short[task]}_pieces={len(r['pieces']['id'])}")
    print(" ".join(pairs + [f"seconds={total:.0f}"]))


if __name__ == "__main__":
    main()
