"""The project's own promises: README generated from the index notebook and opening with the two commands,
nbdev 3 settings in pyproject.toml, test flags, CI calling the README's test command."""
import subprocess, sys, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_readme_is_generated_from_index_notebook():
    r = subprocess.run([sys.executable, "tools/make_readme.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

def test_readme_opens_with_the_two_commands():
    head = "\n".join((ROOT / "README.md").read_text().splitlines()[:15])
    assert "make demo" in head and "make test" in head

def test_nbdev3_settings_live_in_pyproject():
    assert not (ROOT / "settings.ini").exists()
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    flags = cfg["tool"]["nbdev"]["tst_flags"].split()
    assert {"slow", "gpu"} <= set(flags)
    assert "cuda" in cfg["project"]["optional-dependencies"]
    assert all("==" in d for d in cfg["project"]["dependencies"]), "dependencies are pinned"

def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()

def test_package_never_reads_shared_folder():
    for py in (ROOT / "maestro_lessons").glob("*.py"):
        assert "../shared" not in py.read_text() and "/shared/" not in py.read_text(), py

def test_import_cells_hold_only_imports():
    "nbdev's docs processing runs import cells on their own, so a cell mixing `import x` with other code breaks the docs."
    import json
    bad = []
    for nb in sorted((ROOT / "nbs").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(nb.read_text())["cells"]):
            if cell["cell_type"] != "code": continue
            lines = [l for l in "".join(cell["source"]).splitlines() if l.strip() and not l.lstrip().startswith("#")]
            imports = [l for l in lines if l.startswith(("import ", "from "))]
            if imports and len(imports) < len(lines) and "#| export" not in "".join(cell["source"]):
                bad.append(f"{nb.name} cell {i}: {imports[0]}")
    assert not bad, "put these imports in a cell of their own:\n" + "\n".join(bad)

def _star_names(module):
    import importlib
    mod = importlib.import_module(module)
    return set(getattr(mod, "__all__", None) or [n for n in vars(mod) if not n.startswith("_")])

def _names_in_cells(sources):
    "Names a notebook reads and names it binds anywhere (order and scope ignored: this looks for missing imports)."
    import ast, builtins
    loads, binds, stars = set(), set(dir(builtins)) | {"display", "get_ipython", "In", "Out", "_"}, set()
    for src in sources:
        code = "\n".join(l for l in src.splitlines() if not l.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Name):
                (loads if isinstance(node.ctx, ast.Load) else binds).add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): binds.add(node.name)
            elif isinstance(node, ast.arg): binds.add(node.arg)
            elif isinstance(node, (ast.Global, ast.Nonlocal)): binds.update(node.names)
            elif isinstance(node, ast.ExceptHandler) and node.name: binds.add(node.name)
            elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name: binds.add(node.name)
            elif isinstance(node, ast.Import): binds.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                for a in node.names:
                    if a.name == "*": stars.add(node.module)
                    else: binds.add(a.asname or a.name)
    return loads, binds, stars

def test_notebooks_import_every_name_they_use():
    """A name a lesson uses but never imports works while an exported module happens to leak it through
    `from … import *`, and breaks the lesson when that module changes (the classifier lesson once used `shutil` this way)."""
    import json
    missing = []
    for nb in sorted((ROOT / "nbs").glob("*.ipynb")):
        cells = ["".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
        loads, binds, stars = _names_in_cells(cells)
        star_names = set().union(*(_star_names(m) for m in stars)) if stars else set()
        undefined = sorted(loads - binds - star_names)
        if undefined: missing.append(f"{nb.name}: {', '.join(undefined)}")
    assert not missing, "names used but never imported or defined:\n" + "\n".join(missing)
