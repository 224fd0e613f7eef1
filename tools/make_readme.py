#!/usr/bin/env python
"""README.md from nbs/index.ipynb (offline stand-in for `nbdev-readme`, which needs Quarto).

    python tools/make_readme.py          # write README.md
    python tools/make_readme.py --check  # exit 1 if README.md is out of date
"""
import re, sys
from pathlib import Path
import nbformat

ROOT = Path(__file__).resolve().parents[1]

def render(nb_path=ROOT / "nbs" / "index.ipynb") -> str:
    nb = nbformat.read(nb_path, as_version=4)
    out = []
    for cell in nb.cells:
        src = cell.source
        if re.search(r"^#\|\s*hide", src, re.M): continue
        if cell.cell_type == "markdown":
            src = re.sub(r"\((\w+)\.ipynb\)", r"(nbs/\1.ipynb)", src)     # lesson links work from the repo root
            src = re.sub(r"\]\(\.\./", "](", src)                         # and links to files beside nbs/
            m = re.match(r"# (.+)\n+> (.+)", src)
            if m and not out:
                src = f"# {m[1]}\n\n<!-- WARNING: generated from nbs/index.ipynb by tools/make_readme.py; edit the notebook -->\n\n> {m[2]}" + src[m.end():]
            out.append(src.strip())
        elif cell.cell_type == "code":
            code = "\n".join(l for l in src.splitlines() if not l.startswith("#|")).strip()
            out.append(f"```python\n{code}\n```")
            for o in cell.get("outputs", []):
                text = o.get("text") or o.get("data", {}).get("text/plain")
                if text: out.append("```\n" + ("".join(text) if isinstance(text, list) else text).rstrip() + "\n```")
    return "\n\n".join(out) + "\n"

if __name__ == "__main__":
    text, readme = render(), ROOT / "README.md"
    if "--check" in sys.argv:
        ok = readme.exists() and readme.read_text() == text
        print("README.md is up to date" if ok else "README.md is out of date: run tools/make_readme.py")
        sys.exit(0 if ok else 1)
    readme.write_text(text); print("wrote", readme)
