#!/usr/bin/env python
"""Re-create the models shipped in `models/` (`make models`): resumable, final weights only.

    python models/recipe.py classifier [--work DIR] [--epochs 12]
    python models/recipe.py generator [--work DIR] [--epochs 40] [--units 256] [--lr LR] [--finish]

**classifier** — the composer classifier of the classifier lesson (event LSTM of 128 units over 64-note clips of
Bach, Beethoven, Monteverdi, Palestrina and Traditional; split by work, seed 0), trained three times with class weights
to the power 0, ½ and 1 (the sequences lesson's balanced weights); the power is chosen on the **validation** clips (clip
macro-F1), never on the test clips. The chosen model is then calibrated and given its refusal rule on the validation pieces
(the trust lesson: `calibrate_bundle`) and copied to `models/classifier/` without optimizer state, with its training log
(`training.csv`), curves (`curves.png`), reliability diagram, the corpus pieces it saw by split with their SHA-256
(`corpus.json`) and its figures (`metrics.json`). Each training run is kept in the work folder (default: the course's
cache, `models-work/classifier/`), so a stopped recipe resumes with the runs that are missing; the per-power figures go to
`benchmarks/results/class_weights.json`, which the trust lesson loads.

**generator** — the composer-conditioned note generator of the generator lesson (`train_note_generator`: notes as
(pitch, offset, duration) triples, two LSTMs, the composer's embedding joined to every step), trained on the classifier's
pieces and split (so the critic never heard the generator's validation or test pieces either), early stopping on the
validation loss. The run checkpoints every epoch in the work folder (`models-work/generator/`) and a stopped run resumes
from its last finished epoch. The finished bundle is copied to `models/generator/` (no optimizer state) with its training
log, curves and corpus record; `benchmarks/generation_quality.py` then judges it and writes its figures beside it.
`--finish` ships the best epoch of a stopped run (its best-validation checkpoint) without training further. `--lr`: the
learning rate from the next epoch on (default: the run's last one; 0.001 for a new run); the run folder keeps each change
(`learning_rates.json`), and the bundle's `generator.json` records them.
"""
import argparse, json, os, shutil, sys, time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
POWERS = (0.0, 0.5, 1.0)


def train_run(data, power: float, folder: Path, epochs: int, seed: int = 0) -> dict:
    "One training run with class weights ** `power`, saved in `folder` (skipped when its `run.json` is there)."
    import keras, numpy as np, pandas as pd
    from maestro_lessons.classifier import (clip_windows, clip_dataset, build_event_lstm, composer_weights,
                                            fit_classifier, predict_clips, evaluate, report, save_classifier)
    if (folder / "run.json").exists(): return json.loads((folder / "run.json").read_text())
    keras.utils.set_random_seed(seed)
    _, y_train, _ = clip_windows(data.cache, data.parts["train"], data.notes, 32)
    model = build_event_lstm(data.encoding.vocab_size, len(data.classes), data.notes, units=(128,))
    t0 = time.perf_counter()
    hist = fit_classifier(model, clip_dataset(data, "train", 32, seed=seed), clip_dataset(data, "valid"), epochs,
                          composer_weights(y_train, power), patience=2, verbose=2)
    run = dict(power=power, epochs=len(hist.history["loss"]), train_s=round(time.perf_counter() - t0, 1))
    for split in ("valid", "test"):
        X, y, pieces = clip_windows(data.cache, data.parts[split], data.notes)
        p = predict_clips(model, X)
        run[split] = dict(scores={k: float(v) for k, v in evaluate(p, y, pieces, data.cache.labels).items()},
                          per_composer=report(p, y, data.classes).loc[data.classes].to_dict("index"))
    final = keras.Model(model.inputs, model.outputs, name=model.name)       # the same layers, no optimizer state
    save_classifier(final, folder / "bundle", data.classes, data.encoding, data.notes, train_stride=32,
                    metrics=run["test"]["scores"])
    pd.DataFrame(hist.history).rename_axis("epoch").to_csv(folder / "training.csv")
    (folder / "run.json").write_text(json.dumps(run, indent=1))
    return run


def plot_curves(log: Path, out: Path, title: str) -> None:
    "Loss and accuracy by epoch, training against validation, from a training log (CSV) to a PNG."
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt, pandas as pd
    h = pd.read_csv(log)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.plot(h.index + 1, h[key], "o-", label="training"); ax.plot(h.index + 1, h[f"val_{key}"], "o-", label="validation")
        ax.set(xlabel="epoch", ylabel=key, title=f"{title}: {key}"); ax.legend()
    fig.tight_layout(); fig.savefig(out, dpi=100); plt.close(fig)


def classifier(args) -> None:
    import pandas as pd
    from maestro_lessons.classifier import clip_data
    from maestro_lessons.trust import calibrate_bundle, corpus_record
    work = Path(args.work) if args.work else None
    if work is None:
        from maestro_lessons.files import cache_dir
        work = cache_dir() / "models-work" / "classifier"
    data = clip_data()
    runs = {}
    for power in POWERS:
        print(f"class weights ** {power}", flush=True)
        runs[power] = train_run(data, power, work / f"power-{power}", args.epochs)
        print({k: round(v, 4) for k, v in runs[power]["valid"]["scores"].items()}, flush=True)
    best = max(POWERS, key=lambda p: runs[p]["valid"]["scores"]["clip_macro_f1"])
    print(f"chosen on validation clip macro-F1: power {best}", flush=True)
    out = ROOT / "models" / "classifier"
    tmp = out.with_name(".classifier.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(work / f"power-{best}" / "bundle", tmp)
    shutil.copy(work / f"power-{best}" / "training.csv", tmp / "training.csv")
    plot_curves(tmp / "training.csv", tmp / "curves.png", f"class weights ** {best}")
    figures = calibrate_bundle(tmp, data, plots=tmp)
    (tmp / "corpus.json").write_text(json.dumps(corpus_record(data), indent=1))
    (tmp / "metrics.json").write_text(json.dumps(dict(weight_power=best, run=runs[best], trust=figures), indent=1))
    shutil.rmtree(out, ignore_errors=True); tmp.rename(out)
    res = ROOT / "benchmarks" / "results" / "class_weights.json"
    res.write_text(json.dumps(dict(chosen=best, classes=data.classes, runs={str(p): r for p, r in runs.items()}), indent=1))
    print(f"wrote {out} and {res}")


def learning_rates(run: Path, lr: float | None = None) -> list:
    "The learning rates of the run in `run` ([{from_epoch, lr}], `learning_rates.json`); with `lr`, record it for the next epoch first."
    f, done = run / "learning_rates.json", run / "training.csv"
    if f.is_file(): rates = json.loads(f.read_text())
    else: rates = [dict(from_epoch=1, lr=1e-3)] if done.is_file() else []          # runs older than the record: 1e-3
    if lr is not None and (not rates or rates[-1]["lr"] != lr):
        import pandas as pd
        rates.append(dict(from_epoch=(len(pd.read_csv(done)) if done.is_file() else 0) + 1, lr=lr))
        run.mkdir(parents=True, exist_ok=True); f.write_text(json.dumps(rates, indent=1))
    return rates


def finish_from_checkpoint(work: Path, data, finished_early: bool = True) -> None:
    "Ship the best epoch of a run (`--finish`: of a stopped one): its checkpoint (best validation loss) and training log."
    import keras, pandas as pd
    from maestro_lessons.generator import Generator, save_generator, fused_lstm_class
    fused_lstm_class()                                              # a checkpoint of a CPU run holds FusedLSTM layers
    run = work / "run"
    if not (run / "checkpoint.keras").exists(): raise SystemExit(f"{run}: no checkpoint to finish from; run without --finish")
    m = keras.models.load_model(run / "checkpoint.keras", compile=False)
    log = pd.read_csv(run / "training.csv")
    meta = dict(composers=list(data.classes), seconds_per_beat=0.5, notes=64, pieces=len(data.manifest),
                train_pieces=len(data.parts["train"]), valid_pieces=len(data.parts["valid"]), epochs=len(log),
                best_epoch=int(log.val_loss.idxmin()) + 1, val_loss=float(log.val_loss.min()),
                val_nll_per_note=3 * float(log.val_loss.min()), seed=0, cache=data.cache.key, finished_early=finished_early,
                learning_rates=learning_rates(run),
                trained=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime((run / "checkpoint.keras").stat().st_mtime)))
    final = keras.Model(m.inputs, m.outputs, name=m.name)           # the same layers, no optimizer state
    save_generator(Generator(final, data.encoding, meta), work / "bundle")


def generator(args) -> None:
    from maestro_lessons.classifier import clip_data
    from maestro_lessons.generator import train_note_generator, load_generator
    from maestro_lessons.trust import corpus_record
    work = Path(args.work) if args.work else None
    if work is None:
        from maestro_lessons.files import cache_dir
        work = cache_dir() / "models-work" / "generator"
    data = clip_data()
    if args.finish and not (work / "bundle" / "generator.json").exists():
        finish_from_checkpoint(work, data)
    if not (work / "bundle" / "generator.json").exists():
        rates = learning_rates(work / "run")
        lr = args.lr or (rates[-1]["lr"] if rates else 1e-3)          # by default the run goes on at its last rate
        learning_rates(work / "run", lr)
        train_note_generator(data, notes=64, batch_size=64, units=args.units, n_layers=2, embed_dim=64, epochs=args.epochs,
                             steps_per_epoch=300, patience=3, folder=work / "run", resume=True, lr=lr, verbose=2)
        finish_from_checkpoint(work, data, finished_early=False)      # the best epoch, with the whole run's log
    gen = load_generator(work / "bundle")
    print(gen, {k: gen.meta.get(k) for k in ("epochs", "val_loss", "val_nll_per_note", "train_s")}, flush=True)
    out = ROOT / "models" / "generator"
    tmp = out.with_name(".generator.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(work / "bundle", tmp)
    shutil.copy(work / "run" / "training.csv", tmp / "training.csv")
    plot_curves(tmp / "training.csv", tmp / "curves.png", "note generator")
    (tmp / "corpus.json").write_text(json.dumps(corpus_record(data), indent=1))
    shutil.rmtree(out, ignore_errors=True); tmp.rename(out)
    print(f"wrote {out}; judge it: python benchmarks/generation_quality.py")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("classifier", "generator"))
    ap.add_argument("--work", help="folder for the training runs (default: the course cache)")
    ap.add_argument("--epochs", type=int, help="most epochs (default: classifier 12, generator 40 of 300 batches)")
    ap.add_argument("--units", type=int, default=256, help="generator: LSTM units")
    ap.add_argument("--lr", type=float, help="generator: learning rate from the next epoch on (default: the run's last, 0.001 for a new run)")
    ap.add_argument("--finish", action="store_true", help="generator: ship the best epoch of a stopped run instead of training on")
    args = ap.parse_args(argv)
    args.epochs = args.epochs or (12 if args.what == "classifier" else 40)
    (classifier if args.what == "classifier" else generator)(args)


if __name__ == "__main__":
    main()
