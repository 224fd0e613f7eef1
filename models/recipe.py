#!/usr/bin/env python
"""Re-create the models shipped in `models/` (`make models`): resumable, final weights only.

    python models/recipe.py classifier [--work DIR] [--epochs 12]
    python models/recipe.py generator [--work DIR] [--epochs 40] [--units 256] [--lr LR] [--finish]
    python models/recipe.py opening [--work DIR] [--epochs 20] [--lr 0.0005] [--opening-weight 3] [--finish]

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

**opening** — the generator above, taught where a piece begins: its vocabulary gains one token, `<opening>` (the
encoding's `opening=True`), which starts the first window of every piece while the windows from the middle keep
`<bos>`; the sampler starts every piece with it. The model is widened without forgetting anything (`widen_for_opening`:
the new token reads as `<bos>` did, and is never predicted), then trained on, early stopping on the validation loss of the
same windows, resumable like the generator's run (`models-work/opening/`). Its starting point is the generator bundle of
the work folder, else the shipped one (copied to `models-work/opening/base/` on the first run, so a resumed run keeps
it). The shipped bundle's `training.csv` holds both runs, one after the other; `generator.json` says from which epoch the
model read `<opening>` (`opening_from_epoch`).
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


def work_folder(args, stage: str) -> Path:
    "Where `stage` keeps its runs: `--work`'s subfolder `stage`, else `models-work/stage` in the course cache."
    if args.work: return Path(args.work) / stage
    from maestro_lessons.files import cache_dir
    return cache_dir() / "models-work" / stage


def classifier(args) -> None:
    import pandas as pd
    from maestro_lessons.classifier import clip_data
    from maestro_lessons.trust import calibrate_bundle, corpus_record
    work = work_folder(args, "classifier")
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


def learning_rates(run: Path, lr: float | None = None, key: str = "lr", old: float = 1e-3) -> list:
    """The learning rates of the run in `run` ([{from_epoch, lr}], `learning_rates.json`); with `lr`, record it for the next
    epoch first. `key`: another setting of the run that may change between sessions (`opening_weight`), `old` its value for
    runs older than the record."""
    f, done = run / ("learning_rates.json" if key == "lr" else f"{key}s.json"), run / "training.csv"
    if f.is_file(): rates = json.loads(f.read_text())
    else: rates = [{"from_epoch": 1, key: old}] if done.is_file() else []          # runs older than the record
    if lr is not None and (not rates or rates[-1][key] != lr):
        import pandas as pd
        rates.append({"from_epoch": (len(pd.read_csv(done)) if done.is_file() else 0) + 1, key: lr})
        run.mkdir(parents=True, exist_ok=True); f.write_text(json.dumps(rates, indent=1))
    return rates


def finish_from_checkpoint(work: Path, data, finished_early: bool = True) -> None:
    "Ship the best epoch of a run (`--finish`: of a stopped one): its checkpoint (best validation loss) and training log."
    import keras, pandas as pd
    from maestro_lessons.networks import fused_lstm_class
    from maestro_lessons.generator import Generator, save_generator, offered_composers
    fused_lstm_class()                                              # a checkpoint of a CPU run holds FusedLSTM layers
    run = work / "run"
    if not (run / "checkpoint.keras").exists(): raise SystemExit(f"{run}: no checkpoint to finish from; run without --finish")
    m = keras.models.load_model(run / "checkpoint.keras", compile=False)
    log = pd.read_csv(run / "training.csv")
    meta = dict(composers=list(data.classes), seconds_per_beat=0.5, notes=64, pieces=len(data.manifest),
                train_pieces=len(data.parts["train"]), valid_pieces=len(data.parts["valid"]), epochs=len(log),
                best_epoch=int(log.val_loss.idxmin()) + 1, val_loss=float(log.val_loss.min()),
                val_nll_per_note=3 * float(log.val_loss.min()), seed=0, cache=data.cache.key, finished_early=finished_early,
                learning_rates=learning_rates(run), **offered_composers(data),
                trained=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime((run / "checkpoint.keras").stat().st_mtime)))
    final = keras.Model(m.inputs, m.outputs, name=m.name)           # the same layers, no optimizer state
    save_generator(Generator(final, data.encoding, meta), work / "bundle")


def generator(args) -> None:
    from maestro_lessons.classifier import clip_data
    from maestro_lessons.generator import train_note_generator
    work = work_folder(args, "generator")
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
    ship_generator(work / "bundle", data, "note generator", ("epochs", "val_loss", "val_nll_per_note", "train_s"),
                   log=work / "run" / "training.csv")


def ship_generator(bundle: Path, data, title: str, show=(), log: Path | None = None) -> None:
    """Copy a finished generator `bundle` (no optimizer state) to `models/generator/` with its training log (`log`, else the
    bundle's own), curves and corpus record, replacing the shipped one in one step."""
    from maestro_lessons.generator import load_generator
    from maestro_lessons.trust import corpus_record
    gen = load_generator(bundle)
    print(gen, {k: gen.meta.get(k) for k in show}, flush=True)
    out = ROOT / "models" / "generator"
    tmp = out.with_name(".generator.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(bundle, tmp)
    if log is not None: shutil.copy(log, tmp / "training.csv")
    plot_curves(tmp / "training.csv", tmp / "curves.png", title)
    (tmp / "corpus.json").write_text(json.dumps(corpus_record(data), indent=1))
    shutil.rmtree(out, ignore_errors=True); tmp.rename(out)
    print(f"wrote {out}; judge it: python benchmarks/generation_quality.py")


def widen_for_opening(model, bos_id: int):
    """`model` (a note generator) with one token more at the end of its vocabulary, `<opening>`: its embedding is `<bos>`'s
    (the model reads it as it read `<bos>`) and its logit starts below every other (nothing in the data predicts it)."""
    import numpy as np
    from maestro_lessons.generator import build_generator
    emb, logits, lstm = model.get_layer("embedding"), model.get_layer("logits"), model.get_layer("lstm_0")
    v, n_layers = emb.input_dim, sum(l.name.startswith("lstm_") for l in model.layers)
    dropout = model.get_layer("dropout_0").rate if "dropout_0" in [l.name for l in model.layers] else 0
    comp = model.get_layer("composer_embedding")
    wide = build_generator(v + 1, emb.output_dim, lstm.units, n_layers, dropout, name=model.name,
                           n_composers=comp.input_dim, composer_dim=comp.output_dim)
    for layer in model.layers:
        if layer.weights and layer not in (emb, logits): wide.get_layer(layer.name).set_weights(layer.get_weights())
    E = emb.get_weights()[0]
    wide.get_layer("embedding").set_weights([np.r_[E, E[bos_id:bos_id + 1]]])
    K, b = logits.get_weights()
    wide.get_layer("logits").set_weights([np.c_[K, np.zeros((len(K), 1), K.dtype)], np.r_[b, b.min() - 10]])
    return wide


def opening(args) -> None:
    import keras, pandas as pd
    from maestro_lessons.classifier import clip_data
    from maestro_lessons.networks import fused_lstm_class
    from maestro_lessons.generator import (Generator, load_generator, save_generator, note_windows, train_generator,
                                           evaluate_generator, compile_generator, offered_composers)
    work = work_folder(args, "opening")
    base, run, bundle = work / "base", work / "run", work / "bundle"
    if not (base / "generator.json").exists():                      # the starting point, kept for a resumed run
        src = work_folder(args, "generator") / "bundle"
        if not (src / "generator.json").exists(): src = ROOT / "models" / "generator"
        if json.loads((src / "generator.json").read_text())["encoding"].get("opening"):
            raise SystemExit(f"{src}: this generator already reads <opening> (it is what this stage makes); the stage starts from "
                             f"one without it (`recipe.py generator` first), or resumes its own run in {work}")
        shutil.copytree(src, base, dirs_exist_ok=True)
        if (src.parent / "run" / "training.csv").exists(): shutil.copy(src.parent / "run" / "training.csv", base / "training.csv")
        (base / "from.txt").write_text(str(src))
    data = clip_data()
    weights = learning_rates(run, key="opening_weight", old=1)
    weight = args.opening_weight or (weights[-1]["opening_weight"] if weights else 3)   # by default the run's last
    if not args.finish: learning_rates(run, weight, key="opening_weight", old=1)
    enc, train, valid, _ = note_windows(data, notes=64, batch_size=64, opening=True, opening_weight=weight)
    fused_lstm_class()                                              # a checkpoint of a CPU run holds FusedLSTM layers
    if not (bundle / "generator.json").exists():
        gen0 = load_generator(base)
        model = widen_for_opening(gen0.model, enc.bos_id)
        if not (run / "start.json").exists():                       # the widened model before any training: the figure to beat
            run.mkdir(parents=True, exist_ok=True)
            start = evaluate_generator(compile_generator(model), valid)
            (run / "start.json").write_text(json.dumps(dict(base=(base / "from.txt").read_text(), val_loss=start["loss"]), indent=1))
            print(f"widened model, validation loss before training: {start['loss']:.4f}", flush=True)
        if not args.finish:
            lr = args.lr or 5e-4
            learning_rates(run, lr)
            train_generator(model, train.repeat(), valid, enc, epochs=args.epochs, folder=run, patience=3,
                            steps_per_epoch=300, resume=True, lr=lr, verbose=2)
        if not (run / "checkpoint.keras").exists(): raise SystemExit(f"{run}: no checkpoint to finish from; run without --finish")
        m = keras.models.load_model(run / "checkpoint.keras", compile=False)
        log, log0 = pd.read_csv(run / "training.csv"), pd.read_csv(base / "training.csv")
        best = int(log.val_loss.idxmin())
        meta = dict(gen0.meta, epochs=len(log0) + best + 1, opening_from_epoch=len(log0) + 1, best_epoch=len(log0) + best + 1,
                    val_loss=float(log.val_loss.min()), val_nll_per_note=3 * float(log.val_loss.min()),
                    val_loss_before_opening=json.loads((run / "start.json").read_text())["val_loss"],
                    finished_early=bool(args.finish), opening_learning_rates=learning_rates(run),
                    opening_weights=learning_rates(run, key="opening_weight", old=1),
                    **offered_composers(data),
                    trained=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime((run / "checkpoint.keras").stat().st_mtime)))
        if "temperature_chosen_by" in meta: meta["temperature_chosen_by"] += ", for the generator before <opening>"
        save_generator(Generator(keras.Model(m.inputs, m.outputs, name=m.name), enc, meta), bundle)
        both = pd.concat([log0.assign(opening=False), log.assign(opening=True)], ignore_index=True)
        both.index.name = "epoch"; both.drop(columns=[c for c in both.columns if c == "epoch"]).to_csv(bundle / "training.csv")
    ship_generator(bundle, data, "note generator (then with <opening>)",
                   ("epochs", "opening_from_epoch", "val_loss", "val_loss_before_opening"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("classifier", "generator", "opening"))
    ap.add_argument("--work", help="folder for the training runs, a subfolder per stage (default: models-work/ in the course cache)")
    ap.add_argument("--epochs", type=int, help="most epochs (default: classifier 12, generator 40 of 300 batches, opening 20)")
    ap.add_argument("--units", type=int, default=256, help="generator: LSTM units")
    ap.add_argument("--lr", type=float, help="generator: learning rate from the next epoch on (default: the run's last, 0.001 for a new run)")
    ap.add_argument("--opening-weight", type=int, help="opening: how many times as often as the others a piece's first window comes in training (default: the run's last, 3 for a new run)")
    ap.add_argument("--finish", action="store_true", help="generator, opening: ship the best epoch of a stopped run instead of training on")
    args = ap.parse_args(argv)
    args.epochs = args.epochs or dict(classifier=12, generator=40, opening=20)[args.what]
    dict(classifier=classifier, generator=generator, opening=opening)[args.what](args)


if __name__ == "__main__":
    main()
