#!/usr/bin/env python
"""Execute lessons in place so that their saved outputs (the docs site) show this corpus and this code.

    python tools/execute_notebooks.py nbs/01_corpus.ipynb nbs/02_notes.ipynb      # slow cells keep their outputs
    python tools/execute_notebooks.py nbs/06_classifier.ipynb --slow 16eafca3      # also run these slow cells

Cells flagged `#| slow`, `#| gpu` or `#| notest` are skipped (their saved outputs stay as they are) unless
their id is given with `--slow` (or `--slow all`). Saved outputs carry no framework log lines (TensorFlow/absl/CUDA), no
warnings and no progress bars: those are dropped as the cells run; exercise checks are saved without output
(they say "no answer yet"); this machine's paths become `~` and `/tmp/…`. `nbdev-clean` runs afterwards.
"""
import argparse, os, re, subprocess, sys, time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOISE = re.compile(r"^(?:[IWEF]\d{4} [\d:. ]+\d+ \S+:\d+\]|WARNING: All log messages before absl|"
                   r"WARNING:absl|WARNING:tensorflow|.*cuda_?\w*\.cc|.*oneDNN|.*TF_ENABLE_ONEDNN_OPTS|.*\bUserWarning\b|.*\bwarnings\.warn\(|"
                   r".*Warning:|\s*\d+%\|)")


TMP = re.compile(r"/tmp/tmp[\w-]+")


def scrub(text: str) -> str:
    "`text` without this machine's paths: the home folder as `~`, temporary folders as `/tmp/…`."
    return TMP.sub("/tmp/…", text.replace(str(Path.home()), "~"))


def scrub_outputs(outputs: list) -> list:
    "Outputs with `scrub` applied to their text (streams, plain text, HTML and widget values are left otherwise as they are)."
    def fix(v): return [scrub(x) for x in v] if isinstance(v, list) else scrub(v) if isinstance(v, str) else v
    for o in outputs:
        if "text" in o: o["text"] = fix(o["text"])
        for k in ("text/plain", "text/html", "text/markdown"):
            if k in o.get("data", {}): o["data"][k] = fix(o["data"][k])
    return outputs


def quiet(outputs: list) -> list:
    "Outputs without progress bars (tqdm widgets and text bars), framework log lines and warnings."
    keep = []
    for o in outputs:
        data = o.get("data", {})
        if "application/vnd.jupyter.widget-view+json" in data and re.search(r"HBox|\d+%\|", "".join(data.get("text/plain", ""))):
            continue                                             # a tqdm bar
        if o.get("output_type") == "stream":
            lines = [ln for ln in o["text"].splitlines(True) if not NOISE.match(ln) and "\r" not in ln]
            if o["name"] == "stderr" and not "".join(lines).strip(): continue
            if not lines: continue
            o["text"] = "".join(lines)
        keep.append(o)
    return scrub_outputs(keep)


def execute(path: Path, slow: set[str], timeout: int) -> float:
    nb = nbformat.read(path, as_version=4)
    env_before = dict(os.environ)
    os.environ.update(TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", PYTHONWARNINGS="ignore", TQDM_DISABLE="1")
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    try:
        with client.setup_kernel():
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != "code": continue
                flag = re.match(r"\s*#\|\s*(slow|gpu|notest)\b", cell.source)     # nbdev's test flags (pyproject)
                if flag and not ({"all", cell.get("id")} & slow): continue
                client.execute_cell(cell, i)
                # an exercise's check says "no answer yet" until the learner answers: the page shows it empty
                cell.outputs = [] if "check_exercise_" in cell.source else quiet(cell.outputs)
    finally:
        os.environ.clear(); os.environ.update(env_before)
    nbformat.write(nb, path)
    return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--slow", nargs="*", default=[], help="ids of slow cells to run too ('all' for every one)")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds a cell may run")
    ap.add_argument("--scrub-only", action="store_true", help="only remove this machine's paths from the saved outputs")
    args = ap.parse_args(argv)
    if args.scrub_only:
        for nb in args.notebooks:
            book = nbformat.read(nb, as_version=4)
            for cell in book.cells:
                if cell.cell_type == "code": cell.outputs = scrub_outputs(cell.outputs)
            nbformat.write(book, nb)
        return
    for nb in args.notebooks:
        print(f"{nb}: executed in {execute(nb, set(args.slow), args.timeout):.0f} s", flush=True)
    subprocess.run([str(Path(sys.executable).parent / "nbdev-clean")], check=True)


if __name__ == "__main__":
    main()
