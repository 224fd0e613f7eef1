#!/usr/bin/env python
"""Generation quality of a trained generator: 20 pieces of 20 s per composer, judged against the real pieces of each composer.

    python benchmarks/generation_quality.py [--model DIR] [--pieces 20] [--seconds 20] [--seed 0] [--temperature T]
                                            [--choose 0.7,0.6/1/0.85,...] [--choose-pieces 8]
                                            [--top-p 1.0] [--out DIR] [--json FILE] [--control] [--write]

The generator is the one in DIR, else the shipped one (`models/generator`), else the one `maestro train generator`
writes (`models_dir("generator")`); with none of them the script says so and exits with code 2 (it trains nothing).
Every composer the generator offers (`Generator.offered`: those with enough held-out pieces to judge; the others are named
and left out) gets the same seeds; notes are left as the generator wrote them (no `max_note`
clipping, no other repair than the decoder's). The pieces are written as MIDI to `--out` (default: a temporary folder,
`<composer>-N.mid`, so `maestro judge` can read them again) and judged with the judging lesson's `judge`: the bundled
corpus as the real music (overlap ratios per composer and feature against the real-vs-real ceiling; the longest
copy and the longest note against all real pieces of the composer), the shipped classifier as critic.
Targets (issue 11): critic agreement >= 0.8 overall and >= 0.6 per composer; mean overlap ratio >= 0.8 and no
composer-feature below 0.5; no note longer than the composer's longest real note; 0 identical pieces.
`--control` judges a second set made by the same model with the composer input shuffled (each piece is written with the
composer of a random permutation of all the pieces' composers, and judged as the composer asked): conditioning works when
the control's critic agreement is clearly lower. The critic is also played real excerpts of the same length from the
shipped classifier's validation and test pieces (`critic_ceiling`): a composer whose real excerpts it names rightly less
often than `MIN_CEILING` (0.6) keeps its figure but is not counted in the overall agreement (`uncounted=`; the last line
also gives `critic_all=`, every composer counted). `--write` writes the figures to `models/generator/metrics.json` (beside
the shipped model) and `benchmarks/results/generation_quality.json` (which the lessons load).
The last line holds the figures.
"""
import argparse, json, os, sys, tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from maestro_lessons.sampling import parse_temperature, temperature_text


def shown_path(folder: Path) -> str:
    "`folder` relative to the repository when it lies inside it (no local paths in committed figures), else as given."
    root = Path(__file__).resolve().parents[1]
    try: return str(folder.resolve().relative_to(root))
    except ValueError: return str(folder)


def write_set(gen, plan, out: Path, args) -> int:
    "Write the pieces of `plan` [(asked, fed, number)]: written with composer `fed`, saved as `<asked>-<number>.mid`; returns how many came out empty."
    from collections import defaultdict
    from maestro_lessons.sampling import generate
    from maestro_lessons.export import write_midi
    by_fed, empty = defaultdict(list), 0
    for asked, fed, i in plan: by_fed[fed].append((asked, i))
    for fed, slots in by_fed.items():
        pieces = generate(gen, fed, seconds=args.seconds, n=len(slots), seed=args.seed, temperature=args.temperature,
                          top_p=args.top_p, max_note=None)
        for (asked, i), notes in zip(slots, pieces):
            if len(notes) == 0: empty += 1; print(f"{asked} piece {i + 1} (written as {fed}): no notes"); continue
            write_midi(notes, out / f"{asked.lower()}-{i + 1}.mid")
    return empty


def parse_temperatures(text: str) -> list:
    "`0.7,0.6/1/0.85` → [0.7, (0.6, 1.0, 0.85)]: numbers, or one per field of a note triple (pitch/offset/duration)."
    return [parse_temperature(t) for t in text.split(",")]


def write_and_judge(gen, out: Path, pieces: int, args, real=None) -> dict:
    "Write `pieces` pieces per composer of `gen` into the new folder `out` with `args`' settings, and `judge` them against `real`."
    from maestro_lessons.judging import judge
    out.mkdir(parents=True)
    write_set(gen, [(c, c, i) for c in gen.offered for i in range(pieces)], out, args)
    return judge(out, real=real)


def choose_temperature(gen, temperatures, args) -> dict:
    """Judge `args.choose_pieces` pieces per composer at each temperature, with seeds the benchmark does not use, against the
    classifier's *training* pieces (no held-out piece is used to choose); the best critic agreement + realism + worst
    composer-feature (the three targets) wins."""
    import argparse, tempfile
    from maestro_lessons.classifier import clip_data
    data = clip_data()
    train = data.manifest[data.manifest.id.isin([data.cache.ids[i] for i in data.parts["train"]])]
    rows = []
    for t in temperatures:
        out = Path(tempfile.mkdtemp(prefix=f"choose-{temperature_text(t).replace('/', '_')}-")) / "pieces"
        trial = argparse.Namespace(**{**vars(args), "temperature": t, "seed": args.seed + 1000})
        s = write_and_judge(gen, out, args.choose_pieces, trial, real=train)["summary"]
        rows.append(dict(temperature=t, critic_agree=s["critic_agree"], realism=s["realism"], worst=s["worst"],
                         score=s["critic_agree"] + s["realism"] + s["worst"]))
        print(f"temperature {temperature_text(t)}: critic agreement {s['critic_agree']:.3f}, realism {s['realism']:.3f}, "
              f"worst {s['worst']:.3f} ({s['worst_at']}) (training pieces)", flush=True)
    best = max(rows, key=lambda r: r["score"])
    return dict(chosen=best["temperature"], pieces_per_composer=args.choose_pieces, seed=args.seed + 1000,
                real="the classifier's training pieces", rows=rows)


def write_example(out: Path, folder: Path, composer: str = "bach") -> Path:
    "The first judged piece of `composer` beside the model, as MIDI and as a piano-roll picture (the README shows it)."
    import shutil
    from maestro_lessons.notes import read_notes
    from maestro_lessons.export import save_piano_roll_png
    src = out / f"{composer}-1.mid"
    shutil.copy(src, folder / f"example-{composer}.mid")
    notes = read_notes(src)
    return save_piano_roll_png(notes, folder / f"example-{composer}.png", dpi=80,
                               title=f"the shipped generator as {composer.title()}: piece 1 of the benchmark, as written")


def kept_choice(folder: Path, temperature) -> dict | None:
    "The `temperature_choice` of the model's `metrics.json` when `temperature` is still the one it chose (kept by a rerun without --choose)."
    f = folder / "metrics.json"
    choice = json.loads(f.read_text()).get("temperature_choice") if f.is_file() else None
    return choice if choice and temperature_text(choice["chosen"]) == temperature_text(temperature) else None


def show(r: dict, title: str) -> None:
    "Print a judge result's table under `title`."
    import pandas as pd
    from maestro_lessons.judging import report_table, summary_line
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(f"\n{title}\n{report_table(r).to_string()}\n{summary_line(r['summary'])}\n")
    for e in r["errors"]: print(f"unreadable: {e}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="a generator folder (default: the shipped generator, else the one `maestro train generator` wrote)")
    ap.add_argument("--pieces", type=int, default=20, help="pieces per composer")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each piece")
    ap.add_argument("--seed", type=int, default=0, help="the same for every composer")
    ap.add_argument("--temperature", type=parse_temperature,
                    help="one number, or one per field of a note triple: pitch/offset/duration, e.g. 0.6/1/0.85 (default: the "
                         "generator's own, as `maestro generate` samples it, else 1)")
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--out", help="folder for the MIDI files (default: a temporary folder)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--control", action="store_true", help="also judge the same model with the composer input shuffled")
    ap.add_argument("--write", action="store_true", help="write the figures beside the shipped model and to benchmarks/results/")
    ap.add_argument("--choose", help="temperatures to choose from, e.g. 0.7,0.8,0.6/1/0.85 (pitch/offset/duration): judged on pieces "
                                     "of other seeds against the training pieces only; the best (critic agreement + realism + worst "
                                     "feature) is used, and with --write stored as the generator's default temperature")
    ap.add_argument("--choose-pieces", type=int, default=8, help="pieces per composer for each temperature tried")
    args = ap.parse_args(argv)
    from maestro_lessons.cli import generator_folder           # the same choice as `maestro generate`
    try: folder, _ = generator_folder(args.model)
    except FileNotFoundError as e:
        print(f"generation_quality: {e}; this benchmark trains nothing", file=sys.stderr)
        return 2
    if not (folder / "generator.json").is_file():
        print(f"generation_quality: no generator in {folder}; this benchmark trains nothing", file=sys.stderr)
        return 2
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1); tf.config.threading.set_inter_op_parallelism_threads(1)
    import pandas as pd
    from maestro_lessons.generator import load_generator
    from maestro_lessons.judging import judge, summary_line
    gen = load_generator(folder)
    if args.temperature is None: args.temperature = gen.temperature      # as its users hear it
    out = Path(args.out or tempfile.mkdtemp(prefix="generation_quality-"))
    out.mkdir(parents=True, exist_ok=True)
    choice = None
    if args.choose:
        choice = choose_temperature(gen, parse_temperatures(args.choose), args)
        args.temperature = choice["chosen"]
        print(f"chosen temperature {temperature_text(args.temperature)} (on training pieces and other seeds)\n")
    print(f"{gen}\n{folder}: {args.pieces} pieces of {args.seconds:g} s per composer, seed {args.seed}, temperature "
          f"{temperature_text(args.temperature)}, top-p {args.top_p:g}, no max_note; MIDI in {out}")
    not_offered = gen.meta.get("not_offered", {})
    for c, why in not_offered.items(): print(f"not offered, so not judged: {c} ({why})")
    plan = [(c, c, i) for c in gen.offered for i in range(args.pieces)]          # (asked, fed, number)
    empty, figures = write_set(gen, plan, out, args), {}
    r = judge(out)
    show(r, "as asked")
    from maestro_lessons.judging import critic_ceiling, critic_pieces
    from maestro_lessons.trust import load_trusted
    real_test = critic_ceiling(load_trusted(), critic_pieces("test"), args.seconds)
    print(f"the critic on real excerpts of {args.seconds:g} s (validation pieces: counts or not; test pieces: reported)\n"
          f"{pd.DataFrame(dict(valid=r['ceiling'].rate, test=real_test.rate)).round(2).to_string()}\n")
    figures["model"] = dict(model=shown_path(folder), per_composer=args.pieces, seconds=args.seconds, seed=args.seed,
                            temperature=args.temperature, top_p=args.top_p, empty=empty, offered=gen.offered,
                            not_offered=not_offered, **r["summary"],
                            per_composer_table=r["composers"].reset_index().to_dict("records"))
    figures["critic_on_real"] = {split: t.reset_index().to_dict("records") for split, t in (("valid", r["ceiling"]), ("test", real_test))}
    if choice: figures["temperature_choice"] = choice
    elif (kept := kept_choice(folder, args.temperature)): figures["temperature_choice"] = kept
    line = (summary_line(r["summary"]) + f" empty={empty} temperature={temperature_text(args.temperature)}"
            + f" not_offered={','.join(not_offered) or '-'}")
    if args.control:
        import numpy as np
        fed = np.random.default_rng(args.seed).permutation([f for _, f, _ in plan])
        control = [(a, str(f), i) for (a, _, i), f in zip(plan, fed)]
        cout = out.with_name(out.name + "-control"); cout.mkdir(exist_ok=True)
        cempty = write_set(gen, control, cout, args)
        rc = judge(cout)
        show(rc, "composer input shuffled (control)")
        figures["control"] = dict(empty=cempty, **rc["summary"], per_composer_table=rc["composers"].reset_index().to_dict("records"))
        line += f" control_critic_agree={rc['summary']['critic_agree']:.3f}"
    if args.json: Path(args.json).write_text(json.dumps(figures, indent=1, default=float))
    if args.write:
        from maestro_lessons.files import shipped_dir
        root = Path(__file__).resolve().parents[1]
        is_shipped = folder.resolve() == shipped_dir("generator").resolve()
        for f in ([shipped_dir("generator") / "metrics.json"] if is_shipped else []) + \
                 [root / "benchmarks" / "results" / "generation_quality.json"]:
            f.write_text(json.dumps(figures, indent=1, default=float)); print(f"wrote {f}")
        if is_shipped: print(f"wrote {write_example(out, shipped_dir('generator'))}")
        if is_shipped and choice:
            from maestro_lessons.demo import keep_temperature      # the generator's own default, as the demo records its quick one's
            keep_temperature(gen, folder, choice["chosen"], "benchmarks/generation_quality.py --choose")
            print(f"wrote {folder / 'generator.json'}")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
