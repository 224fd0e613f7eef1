#!/usr/bin/env python
"""Build the docs site into _docs/, offline.

With Quarto on the PATH (and NO_QUARTO unset) this is nbdev's own `nbdev-docs`. Without it (these machines:
Quarto's PyPI package downloads a binary at build time) it is nbdev's notebook processing
(`tools/proc_docs.py` -> _proc/, show_doc cells run, `#| hide` and export cells dropped) rendered by
smalldocs, a pure-Python renderer that reads the same `_quarto.yml`, `nbdev.yml` and `sidebar.yml`.

smalldocs ignores a page's `output-file`, so `01_corpus.ipynb` would become `01_corpus.html` while nbdev's
doc links (`_modidx.py`, backticked names in prose) point at `corpus.html`. Here each processed notebook is
renamed to its `output-file` stem before rendering, and the links and the sidebar are rewritten to match.

A live ipywidget needs a kernel: a static renderer can only print its text form (`VBox(children=(HTML(…` ).
Such outputs become a one-line note instead; the lessons follow each widget demo with a `snapshot` of what it
produced (pictures, audio players, messages as plain HTML), which the page shows.
"""
import json, os, re, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def output_stem(nb: dict) -> str | None:
    "The `output-file` of a processed notebook's front matter (its first raw cell), without `.html`."
    for cell in nb["cells"][:2]:
        if cell["cell_type"] == "raw":
            m = re.search(r"^output-file:\s*(\S+)\.html\s*$", "".join(cell["source"]), re.M)
            if m: return m.group(1)
    return None


def rename_pages(proc: Path) -> dict[str, str]:
    "Rename every notebook in `proc` to its output-file name; return {old file name: new file name}."
    renames = {}
    for f in sorted(proc.glob("*.ipynb")):
        stem = output_stem(json.loads(f.read_text()))
        if stem and stem != f.stem:
            renames[f.name] = f"{stem}.ipynb"
    for old, new in renames.items():
        if (proc / new).exists() and new not in renames: sys.exit(f"build_docs: {old} and {new} would both be {new}")
    for old, new in renames.items(): (proc / old).rename(proc / f"{new}.tmp")
    for new in renames.values(): (proc / f"{new}.tmp").rename(proc / new)
    return renames


def rewrite_links(proc: Path, renames: dict[str, str]):
    "Point links in markdown cells and in sidebar.yml at the renamed pages."
    if not renames: return
    pat = re.compile(r"(?<![\w/.-])(" + "|".join(map(re.escape, renames)) + r")(?=[#)\s\"']|$)", re.M)
    sub = lambda s: pat.sub(lambda m: renames[m.group(1)], s)
    for f in proc.glob("*.ipynb"):
        nb = json.loads(f.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                cell["source"] = sub("".join(cell["source"]))
        f.write_text(json.dumps(nb, indent=1))
    side = proc / "sidebar.yml"
    if side.exists(): side.write_text(sub(side.read_text()))


WIDGET = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ('<div class="maestro-widget-note"><em>An interactive widget: run the notebook in JupyterLab '
               '(<code>make lab</code>) to use it.</em></div>')


def widgets_as_notes(proc: Path):
    "Replace every live widget output (useless without a kernel) by a short note saying where to use it."
    for f in proc.glob("*.ipynb"):
        nb, changed = json.loads(f.read_text()), False
        for cell in nb["cells"]:
            for out in cell.get("outputs", []):
                if WIDGET in out.get("data", {}):
                    out["data"], changed = {"text/html": WIDGET_NOTE}, True
        if changed: f.write_text(json.dumps(nb, indent=1))


def run(*cmd):
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run(list(map(str, cmd)), cwd=ROOT, check=True)


def main():
    docs = ROOT / "_docs"
    if shutil.which("quarto") and not os.environ.get("NO_QUARTO"):
        run(BIN / "nbdev-docs")
    else:
        run(sys.executable, ROOT / "tools/proc_docs.py", "--force")
        proc = ROOT / "_proc"
        shutil.copy(ROOT / "nbs/styles.css", proc / "styles.css")
        renames = rename_pages(proc)
        rewrite_links(proc, renames)
        widgets_as_notes(proc)
        out = proc / "_docs"
        shutil.rmtree(out, ignore_errors=True)
        run(BIN / "smalldocs", "render", "-q", proc)
        shutil.rmtree(docs, ignore_errors=True)
        shutil.move(out, docs)
    pages = sorted(p.name for p in docs.glob("*.html"))
    print(f"docs: {len(pages)} pages in {docs}: {', '.join(pages)}")


if __name__ == "__main__":
    main()
