#!/usr/bin/env python
"""Which real music should a generator's pieces be compared with: the openings of real pieces, or excerpts from anywhere?

    python benchmarks/judge_reference.py [--model DIR] [--pieces 20] [--seconds 20] [--seed 0] [--temperature T]
                                         [--json benchmarks/results/judge_reference.json]

The judge (`judging.judge`, `overlap_table`) compares each composer's generated pieces with the **first** `--seconds` of
that composer's real pieces. The generator, though, is trained on windows from anywhere in a piece, every one started
with the same start token, so it writes the middles of pieces more than their openings. This script measures, in one
run, how much that matters: for each composer and feature, the overlap ratio of the shipped generator's pieces (as the
quality benchmark writes them: the same seeds, its temperature, no `max_note`) against the real openings (the judge's
reference) and against real excerpts of the same length from random places of the same pieces; the medians of the
features that differ most; and the two references against each other (openings judged against excerpts: 1.0 when an
opening is as typical as any excerpt). The last line holds the figures.
"""
import argparse, json, os, sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from maestro_lessons.sampling import parse_temperature, temperature_text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="a generator folder (default: the shipped generator)")
    ap.add_argument("--pieces", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=parse_temperature, help="default: the model's own (generator.json); one number or pitch/offset/duration")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "judge_reference.json"))
    args = ap.parse_args(argv)
    import pandas as pd
    from maestro_lessons.corpus import load_manifest
    from maestro_lessons.files import shipped_dir
    from maestro_lessons.generator import load_generator
    from maestro_lessons.judging import clip_notes, cut_excerpts, feature_table, overlap_table, real_by_composer, realism
    from maestro_lessons.sampling import generate
    gen = load_generator(args.model or shipped_dir("generator"))
    t = args.temperature if args.temperature is not None else gen.temperature
    made = {c: generate(gen, c, seconds=args.seconds, n=args.pieces, seed=args.seed, temperature=t, max_note=None)
            for c in gen.offered}
    real = real_by_composer(load_manifest(), gen.offered)
    openings = {c: [clip_notes(p, args.seconds) for p in ps if len(p)] for c, ps in real.items()}
    anywhere = {}
    for c, ps in real.items():                                # one excerpt from a random place of each real piece
        ps = [p for p in ps if len(p)]
        anywhere[c] = [e for e in cut_excerpts(ps, args.seconds, len(ps), np.random.default_rng(args.seed)) if len(e)]
    vs_openings = overlap_table(made, openings, args.seconds)
    vs_anywhere = overlap_table(made, anywhere, args.seconds)
    openings_vs_anywhere = overlap_table(openings, anywhere, args.seconds)
    rows = []
    for c in gen.offered:
        med = lambda group, f: float(np.median(feature_table(group[c])[f]))
        rows.append(dict(composer=c, realism_openings=realism(vs_openings.loc[[c]])["realism"],
                         worst_openings=f"{vs_openings.loc[c].idxmin()} {vs_openings.loc[c].min():.2f}",
                         realism_anywhere=realism(vs_anywhere.loc[[c]])["realism"],
                         worst_anywhere=f"{vs_anywhere.loc[c].idxmin()} {vs_anywhere.loc[c].min():.2f}",
                         openings_as_excerpts=realism(openings_vs_anywhere.loc[[c]])["realism"],
                         **{f"{f} (gen/openings/anywhere)": f"{med(made, f):.2f} / {med(openings, f):.2f} / {med(anywhere, f):.2f}"
                            for f in ("note_density", "longest_note_s")}))
    table = pd.DataFrame(rows).set_index("composer")
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(f"{shown(args.model)}: {args.pieces} pieces of {args.seconds:g} s per composer, seed {args.seed}, temperature {temperature_text(t)}\n"
              f"{table.round(2).to_string()}")
    a, b = realism(vs_openings), realism(vs_anywhere)
    figures = dict(model=shown(args.model), pieces=args.pieces, seconds=args.seconds, seed=args.seed, temperature=t,
                   per_composer=table.reset_index().to_dict("records"), vs_openings=a, vs_anywhere=b,
                   overlap_openings=vs_openings.reset_index().to_dict("records"),
                   overlap_anywhere=vs_anywhere.reset_index().to_dict("records"))
    Path(args.json).write_text(json.dumps(figures, indent=1, default=float))
    print(f"realism_openings={a['realism']:.3f} worst_openings={a['worst']:.3f} ({a['worst_at']}) "
          f"realism_anywhere={b['realism']:.3f} worst_anywhere={b['worst']:.3f} ({b['worst_at']})")
    return 0


def shown(model) -> str:
    return model or "models/generator"


if __name__ == "__main__":
    sys.exit(main())
