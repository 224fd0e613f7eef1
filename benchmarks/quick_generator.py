#!/usr/bin/env python
"""The demo's quick note generator: which learning rate and temperature give the best music in its few minutes.

    python benchmarks/quick_generator.py [--minutes 4] [--lrs 0.001,0.003] [--choose 0.6,0.7,0.8,1.0] [--pieces 20]
                                         [--units 128] [--json benchmarks/results/quick_generator.json]

`make demo` trains a quick note generator (`train_note_generator`, 2 × LSTM `--units`, windows of 64 notes, epochs of
100 batches of 32, the classifier lesson's pieces and split) for `--minutes` of wall clock, then writes and judges its
pieces. This script trains it once per learning rate in `--lrs`, each for the same minutes on this machine (run it on an
otherwise idle machine: the budget is wall clock), and keeps the one with the lowest **validation** loss per note. For
that model it chooses the sampling temperature among `--choose` as `generation_quality.py --choose` does (8 pieces per
composer of other seeds, judged against the classifier's *training* pieces: critic agreement + realism), then judges
`--pieces` pieces of 20 s per composer at that temperature with the benchmark's judge (the bundled corpus as real music,
the shipped classifier as critic). The demo uses the learning rate and temperature this script chose (`demo.QUICK_LR`,
`demo.QUICK_TEMPERATURE`). Issue 11's target: the quick model's Bach realism (mean overlap ratio) >= 0.6.
The last line holds the figures.
"""
import argparse, json, os, sys, tempfile, time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "benchmarks"))


def train(lr: float, args, folder: Path) -> dict:
    "One quick generator at learning rate `lr` for `args.minutes`: its validation NLL per note, epochs and seconds."
    from maestro_lessons.classifier import clip_data
    from maestro_lessons.generator import train_note_generator
    t = time.perf_counter()
    gen = train_note_generator(clip_data(), notes=64, units=args.units, n_layers=2, epochs=100, steps_per_epoch=100,
                               minutes=args.minutes, folder=folder, seed=0, lr=lr, verbose=0)
    row = dict(lr=lr, val_nll_per_note=float(gen.meta["val_nll_per_note"]), epochs=int(gen.meta["epochs"]),
               seconds=round(time.perf_counter() - t, 1), folder=str(folder))
    print(f"lr {lr:g}: validation {row['val_nll_per_note']:.3f} nats/note after {row['epochs']} epochs ({row['seconds']:.0f} s)", flush=True)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--lrs", default="0.001,0.003")
    ap.add_argument("--choose", default="0.6,0.7,0.8,1.0")
    ap.add_argument("--choose-pieces", type=int, default=8)
    ap.add_argument("--pieces", type=int, default=20)
    ap.add_argument("--units", type=int, default=128)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "quick_generator.json"))
    args = ap.parse_args(argv)
    from generation_quality import choose_temperature, write_set
    from maestro_lessons.generator import load_generator
    from maestro_lessons.judging import judge, summary_line, report_table
    work = Path(tempfile.mkdtemp(prefix="quick_generator-"))
    runs = [train(float(lr), args, work / f"lr-{lr}") for lr in args.lrs.split(",")]
    best = min(runs, key=lambda r: r["val_nll_per_note"])
    gen = load_generator(best["folder"])
    bench = argparse.Namespace(seconds=20.0, seed=0, top_p=1.0, temperature=1.0, choose_pieces=args.choose_pieces)
    choice = choose_temperature(gen, [float(t) for t in args.choose.split(",")], bench)
    bench.temperature = choice["chosen"]
    out = work / "pieces"; out.mkdir()
    write_set(gen, [(c, c, i) for c in gen.composers for i in range(args.pieces)], out, bench)
    r = judge(out)
    print(f"\nlearning rate {best['lr']:g}, temperature {bench.temperature:g}: {args.pieces} pieces of 20 s per composer\n"
          f"{report_table(r).to_string()}\n{summary_line(r['summary'])}")
    table = r["composers"]
    figures = dict(minutes=args.minutes, units=args.units, cpu_count=os.cpu_count(), runs=[{k: v for k, v in x.items() if k != "folder"} for x in runs],
                   chosen_lr=best["lr"], temperature_choice=choice, pieces=args.pieces, summary=r["summary"],
                   per_composer_table=table.reset_index().to_dict("records"))
    Path(args.json).write_text(json.dumps(figures, indent=1, default=float))
    bach = float(table.loc["Bach", "realism"])
    print(f"lr={best['lr']:g} temperature={bench.temperature:g} val_nll_per_note={best['val_nll_per_note']:.3f} "
          f"bach_realism={bach:.3f} realism={r['summary']['realism']:.3f} critic_agree={r['summary']['critic_agree']:.3f} "
          f"target_met={bach >= 0.6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
