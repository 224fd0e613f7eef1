#!/usr/bin/env python
"""Shortcut learning, measured: the composer classifier trained on the first (stuck-note) export of the corpus
and on the rebuilt one, side by side, and what each says about music far from the corpus.

    python benchmarks/shortcut.py --before OLD_DATASETS [--after DATASETS] [--far-per-composer 3]

OLD_DATASETS is a `datasets/` folder holding the first export (`music21/manifest.csv` and `music21/midi/`),
e.g. from `git worktree add /tmp/old e1fb28d` (the last commit before the rebuild): `--before /tmp/old/datasets`.
Both runs use the classifier lesson's full-run recipe (event LSTM of 128 units, 64-note clips every 32 notes, class weights
to the power 0.5, at most 8 epochs with early stopping on the validation loss, patience 2) with the same seed. For each corpus the script records

- the note-level checks of the notes lesson per composer (pieces flagged, longest note, most notes at once);
- the share of each composer's notes that reach the encoding's longest duration (16 beats, capped): the
  shortcut a stuck note offers;
- test scores (clips and pieces, split by work);
- the composer it names for each piece of music it never heard: music21 corpus composers left out of the
  course's corpus (Chopin, Joplin, Schoenberg, Schumann, lead sheets, ...), exported by the corpus builder.

The JSON goes to `benchmarks/results/shortcut.json`, which the notes and classifier lessons load. The last line holds the figures.
"""
import argparse, json, os, sys, time, warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "datasets"))
RESULTS = ROOT / "benchmarks" / "results"

# music21 corpus folders that the course's corpus leaves out: music it has never heard
FAR = ("chopin", "joplin", "schoenberg", "schubert", "schumann_robert", "schumann_clara", "verdi", "webern", "beach",
       "handel", "corelli", "cpebach", "weber", "johnson_j_r", "liliuokalani", "leadSheet")


def far_pieces(per_composer: int, out: Path):
    "Up to `per_composer` pieces of each FAR composer, exported (once, cached in `out`) by the corpus builder."
    import pandas as pd
    from build_corpus import corpus_root, export
    from music21 import corpus
    rows = []
    for coll in FAR:
        files = sorted(p for p in (corpus_root() / coll).rglob("*") if p.suffix in (".mxl", ".xml", ".krn", ".musicxml"))
        for p in files[:per_composer]:
            dest = out / f"{coll}-{p.stem}.mid"
            if not dest.exists():
                warnings.simplefilter("ignore")
                try:
                    s = corpus.parse(p)
                    s = s.scores[0] if hasattr(s, "scores") else s
                    data, _, facts = export(s)
                    if facts["mismatches"]: continue
                except Exception as e:
                    print(f"far piece {p.name} left out: {type(e).__name__}: {e}"[:200]); continue
                out.mkdir(parents=True, exist_ok=True); dest.write_bytes(data)
            rows.append(dict(id=dest.stem, composer=coll, path=str(dest)))
    return pd.DataFrame(rows)


def capped_share(manifest, enc) -> dict:
    "Per composer: the share of notes (in beats) as long as or longer than the encoding's longest duration."
    import numpy as np
    from maestro_lessons.notes import read_notes
    cap = enc.max_duration * enc.step
    out = {}
    for comp, g in manifest.groupby("composer"):
        n = hit = 0
        for path in g.path:
            b = read_notes(path, unit="beat")
            n += len(b); hit += int(((b.end - b.start) >= cap).sum())
        out[comp] = hit / max(n, 1)
    return out


def corpus_checks(datasets: Path) -> dict:
    "The notes lesson's note-level checks of the corpus in `datasets`, per composer (folk tunes aside)."
    os.environ["MAESTRO_DATA"] = str(datasets)
    from maestro_lessons.corpus import load_manifest
    from maestro_lessons.notes import check_collection, summarize_checks
    manifest = load_manifest()
    return json.loads(summarize_checks(check_collection(manifest[manifest.composer != "Traditional"],
                                                        progress=False)).to_json(orient="index"))


def run(datasets: Path, far, args) -> dict:
    "Train and measure on the corpus in `datasets`."
    import numpy as np, pandas as pd, keras
    os.environ["MAESTRO_DATA"] = str(datasets)
    from maestro_lessons.corpus import load_manifest
    from maestro_lessons.classifier import (clip_data, clip_windows, predict_clips, evaluate, report, clip_dataset,
                                            build_event_lstm, fit_classifier, composer_weights, ComposerClassifier,
                                            fit_baseline)
    checks = corpus_checks(datasets)
    manifest = load_manifest()
    keras.utils.set_random_seed(args.seed)
    data = clip_data(manifest, seed=args.seed)
    X, y, _ = clip_windows(data.cache, data.parts["train"], data.notes, args.stride)
    Xt, yt, pt = clip_windows(data.cache, data.parts["test"], data.notes)
    model = build_event_lstm(data.encoding.vocab_size, len(data.classes), data.notes, units=(128,))
    t0 = time.perf_counter()
    hist = fit_classifier(model, clip_dataset(data, "train", args.stride, seed=args.seed), clip_dataset(data, "valid"),
                            args.epochs, composer_weights(y), patience=args.patience, verbose=2)
    train_s = time.perf_counter() - t0
    base = fit_baseline(X, y, data.encoding)
    p = predict_clips(model, Xt)
    clf = ComposerClassifier(model, data.encoding, data.classes,
                             dict(clip=dict(notes=data.notes, stride=data.notes),
                                  read=dict(unit=data.encoding.unit, drums=False, pedal=True)))
    named = {}
    for r in far.itertuples():
        probs = clf.predict_midi(r.path)
        top = next(iter(probs))
        named[r.id] = dict(composer=r.composer, named=top, probability=round(probs[top], 4))
    calls = pd.Series([v["named"] for v in named.values()]).value_counts()
    return dict(corpus=str(datasets), pieces=int(len(manifest)), checks=checks,
                capped_duration_share={k: round(v, 5) for k, v in capped_share(data.manifest, data.encoding).items()},
                scores={k: round(float(v), 4) for k, v in evaluate(p, yt, pt, data.cache.labels).items()},
                baseline_scores={k: round(float(v), 4) for k, v in
                                 evaluate(predict_clips(base, Xt), yt, pt, data.cache.labels).items()},
                per_composer=json.loads(report(p, yt, data.classes).round(4).to_json(orient="index")),
                epochs=len(hist.history["loss"]), train_s=round(train_s, 1),
                far=named, far_named={k: int(v) for k, v in calls.items()},
                far_mean_probability=round(float(np.mean([v["probability"] for v in named.values()])), 4))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, help="a datasets/ folder holding the first export")
    ap.add_argument("--after", default=str(ROOT / "datasets"), help="a datasets/ folder holding the rebuilt corpus")
    ap.add_argument("--far-per-composer", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--patience", type=int, default=2)
    ap.add_argument("--only", choices=("before", "after"), help="run one side only, keeping the other's figures in the JSON")
    ap.add_argument("--stride", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "shortcut.json"))
    ap.add_argument("--checks-only", action="store_true", help="only recompute the note-level checks in the JSON")
    args = ap.parse_args(argv)
    if args.checks_only:                   # the note-level checks again (after a change to them), no training
        res = json.loads(Path(args.out).read_text())
        for name in ("before", "after"): res[name]["checks"] = corpus_checks(Path(getattr(args, name)))
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
        print(json.dumps({k: res[k]["checks"] for k in ("before", "after")})); return
    from maestro_lessons.files import cache_dir
    far = far_pieces(args.far_per_composer, cache_dir() / "far-music21")
    print(f"{len(far)} far pieces by {far.composer.nunique()} composers", flush=True)
    out = Path(args.out)
    res = json.loads(out.read_text()) if args.only and out.exists() else {}
    res["settings"] = vars(args) | dict(far_composers=list(FAR))
    for name in [args.only] if args.only else ["before", "after"]:
        print(f"--- {name}: {getattr(args, name)}", flush=True)
        res[name] = run(Path(getattr(args, name)), far, args)
        print(json.dumps({k: res[name][k] for k in ("scores", "far_named", "far_mean_probability", "capped_duration_share")}), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    if not {"before", "after"} <= set(res): return
    b, a = res["before"], res["after"]
    top = lambda r: max(r["far_named"], key=r["far_named"].get)
    print(f"before_clip_macro_f1={b['scores']['clip_macro_f1']:.4f} after_clip_macro_f1={a['scores']['clip_macro_f1']:.4f} "
          f"before_far_top={top(b)}:{b['far_named'][top(b)]}/{len(far)} after_far_top={top(a)}:{a['far_named'][top(a)]}/{len(far)} "
          f"before_far_mean_p={b['far_mean_probability']:.3f} after_far_mean_p={a['far_mean_probability']:.3f} "
          f"before_beethoven_capped={b['capped_duration_share'].get('Beethoven', 0):.4f} "
          f"after_beethoven_capped={a['capped_duration_share'].get('Beethoven', 0):.4f}")


if __name__ == "__main__":
    main()
