#!/usr/bin/env python
"""The demo's quick note generator: which learning rate, composer balance and temperature give the best music in its few minutes.

    python benchmarks/quick_generator.py [--minutes 4] [--lrs 0.001,0.003] [--powers 1,0.5] [--choose 0.6,0.7,0.8,1.0] [--pieces 20]
                                         [--units 128] [--json benchmarks/results/quick_generator.json]

`make demo` trains a quick note generator (`train_note_generator`, 2 × LSTM `--units`, windows of 64 notes, epochs of
100 batches of 32, the classifier lesson's pieces and split) for `--minutes` of wall clock, then writes and judges its
pieces. This script trains it once per learning rate in `--lrs` and composer power in `--powers` (each composer's windows
drawn as often as their count ** power: 1 as in the data, where Palestrina's are 60 % of the windows and Bach's 10 %;
0.5 evens them out; `composer_lm_dataset`), each for the same minutes on this machine (run it on an otherwise idle
machine: the budget is wall clock), and keeps the one with the lowest **validation** loss per note. For
that model it chooses the sampling temperature among `--choose` as `generation_quality.py --choose` does (8 pieces per
composer of other seeds, judged against the classifier's *training* pieces: critic agreement + realism), then judges
`--pieces` pieces of 20 s per composer at that temperature with the benchmark's judge (the bundled corpus as real music,
the shipped classifier as critic). The demo uses the learning rate, power and temperature this script chose (`demo.QUICK_LR`,
`demo.QUICK_POWER`, `demo.QUICK_TEMPERATURE`). Issue 11's target: the quick model's Bach realism (mean overlap ratio) >= 0.6.
The last line holds the figures.
"""
import argparse, json, os, sys, tempfile, time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "benchmarks"))


def train(lr: float, power: float, args, folder: Path) -> dict:
    "One quick generator at learning rate `lr` and composer power `power` for `args.minutes`: validation NLL per note, epochs, seconds."
    from maestro_lessons.classifier import clip_data
    from maestro_lessons.generator import train_note_generator
    t = time.perf_counter()
    gen = train_note_generator(clip_data(), notes=64, units=args.units, n_layers=2, epochs=100, steps_per_epoch=100,
                               minutes=args.minutes, folder=folder, seed=0, lr=lr, verbose=0,
                               composer_power=None if power == 1 else power)         # 1: windows as they come
    row = dict(lr=lr, composer_power=power, val_nll_per_note=float(gen.meta["val_nll_per_note"]), epochs=int(gen.meta["epochs"]),
               seconds=round(time.perf_counter() - t, 1), folder=str(folder))
    print(f"lr {lr:g}, composer power {power}: validation {row['val_nll_per_note']:.3f} nats/note after {row['epochs']} epochs ({row['seconds']:.0f} s)", flush=True)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--lrs", default="0.001,0.003")
    ap.add_argument("--powers", default="1,0.5", help="composer powers (1: as in the data)")
    ap.add_argument("--choose", default="0.6,0.7,0.8,1.0")
    ap.add_argument("--choose-pieces", type=int, default=8)
    ap.add_argument("--pieces", type=int, default=20)
    ap.add_argument("--units", type=int, default=128)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "quick_generator.json"))
    args = ap.parse_args(argv)
    from generation_quality import choose_temperature, parse_temperatures, write_and_judge
    from maestro_lessons.sampling import temperature_text
    from maestro_lessons.generator import load_generator
    from maestro_lessons.judging import summary_line, report_table
    work = Path(tempfile.mkdtemp(prefix="quick_generator-"))
    powers = [float(p) for p in args.powers.split(",")]
    runs = [train(float(lr), p, args, work / f"lr-{lr}-power-{p}") for lr in args.lrs.split(",") for p in powers]
    best = min(runs, key=lambda r: r["val_nll_per_note"])
    gen = load_generator(best["folder"])
    bench = argparse.Namespace(seconds=20.0, seed=0, top_p=1.0, temperature=1.0, choose_pieces=args.choose_pieces)
    choice = choose_temperature(gen, parse_temperatures(args.choose), bench)
    bench.temperature = choice["chosen"]
    r = write_and_judge(gen, work / "pieces", args.pieces, bench)
    print(f"\nlearning rate {best['lr']:g}, composer power {best['composer_power']}, temperature {temperature_text(bench.temperature)}: "
          f"{args.pieces} pieces of 20 s per composer\n{report_table(r).to_string()}\n{summary_line(r['summary'])}")
    table = r["composers"]
    others = {}                     # the best run of every other power, judged the same way: the balance side by side
    for p in powers:
        if p == best["composer_power"]: continue
        rival = min((x for x in runs if x["composer_power"] == p), key=lambda x: x["val_nll_per_note"])
        o = write_and_judge(load_generator(rival["folder"]), work / f"pieces-{p}", args.pieces, bench)
        others[str(p)] = dict(run={k: v for k, v in rival.items() if k != "folder"}, summary=o["summary"],
                              bach_realism=float(o["composers"].loc["Bach", "realism"]))
        print(f"composer power {p} (lr {rival['lr']:g}), the same temperature and judge: {summary_line(o['summary'])} "
              f"bach_realism={others[str(p)]['bach_realism']:.3f}")
    figures = dict(minutes=args.minutes, units=args.units, cpu_count=os.cpu_count(),
                   runs=[{k: v for k, v in x.items() if k != "folder"} for x in runs], chosen_lr=best["lr"],
                   chosen_power=best["composer_power"], temperature_choice=choice, pieces=args.pieces, summary=r["summary"],
                   per_composer_table=table.reset_index().to_dict("records"), other_powers=others)
    Path(args.json).write_text(json.dumps(figures, indent=1, default=float))
    bach = float(table.loc["Bach", "realism"])
    print(f"lr={best['lr']:g} composer_power={best['composer_power']} temperature={temperature_text(bench.temperature)} "
          f"val_nll_per_note={best['val_nll_per_note']:.3f} bach_realism={bach:.3f} realism={r['summary']['realism']:.3f} "
          f"critic_agree={r['summary']['critic_agree']:.3f} "
          + "".join(f"bach_realism_power_{p}={o['bach_realism']:.3f} " for p, o in others.items()) + f"target_met={bach >= 0.6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
