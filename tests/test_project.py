"""The project's own promises: README generated from the index notebook and opening with the two commands,
nbdev 3 settings in pyproject.toml, test flags, CI calling the README's test command."""
import re, subprocess, sys, tomllib
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


# The house: modules follow the course, one concern each.
COURSE_ORDER = ["files", "corpus", "notes", "encodings", "sequences", "networks", "classifier", "trust", "generator", "sampling", "judging",
                "export", "studio", "scale", "seed_models", "exercises", "demo", "cli"]

def _module_imports(path: Path) -> set[str]:
    "The maestro_lessons modules a module imports anywhere in it (inside functions too), and `importlib` if it uses it."
    import ast
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 1 and mod: found.add(mod.split(".")[0])
            elif node.level == 1: found.update(a.name for a in node.names)
            elif mod.startswith("maestro_lessons."): found.add(mod.split(".")[1])
            elif mod == "maestro_lessons": found.update(a.name for a in node.names if a.name in COURSE_ORDER)
            elif mod.startswith("importlib"): found.add("importlib")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("maestro_lessons."): found.add(a.name.split(".")[1])
                if a.name.split(".")[0] == "importlib": found.add("importlib")
    return found

def test_every_module_has_its_place_in_the_course():
    mods = {p.stem for p in (ROOT / "maestro_lessons").glob("*.py") if not p.stem.startswith("_")}
    assert mods == set(COURSE_ORDER), f"place these modules in COURSE_ORDER: {sorted(mods ^ set(COURSE_ORDER))}"

def test_imports_follow_the_lessons():
    "A module imports only the ground floor and modules of earlier lessons (or itself, for spawned workers), even inside functions; so no cycle either."
    late = []
    for name in COURSE_ORDER:
        path = ROOT / "maestro_lessons" / f"{name}.py"
        for dep in _module_imports(path) - {"importlib", "__version__"}:
            if dep in COURSE_ORDER and COURSE_ORDER.index(dep) > COURSE_ORDER.index(name): late.append(f"{name} imports {dep}")
    assert not late, "\n".join(sorted(late))

def test_cli_imports_no_module_by_name_at_run_time():
    src = (ROOT / "maestro_lessons" / "cli.py").read_text()
    assert "importlib" not in _module_imports(ROOT / "maestro_lessons" / "cli.py") and "__import__" not in src

def test_no_module_over_500_lines():
    big = {p.name: n for p in (ROOT / "maestro_lessons").glob("*.py") if p.name != "_modidx.py"
           and (n := len(p.read_text().splitlines())) > 500}
    assert not big, big

def _code_cells(nb: Path):
    import json
    return [("".join(c["source"]), c) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]

def test_no_lesson_code_cell_over_40_lines():
    long = [f"{nb.name}: a cell of {n} lines ({src.splitlines()[0][:40]!r}…)" for nb in sorted((ROOT / "nbs").glob("*.ipynb"))
            for src, _ in _code_cells(nb) if (n := len(src.splitlines())) > 40]
    assert not long, "\n".join(long)

def test_every_notebook_opens_in_a_python_kernel():
    import json
    missing = [nb.name for nb in sorted((ROOT / "nbs").glob("*.ipynb"))
               if json.loads(nb.read_text())["metadata"].get("kernelspec", {}).get("name") != "python3"]
    assert not missing, f"no python3 kernelspec: {missing}"

NOISE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d|cuInit|absl::InitializeLog|oneDNN custom operations|cpu_feature_guard|WARNING:(?:tensorflow|absl)"
                   r"|Warning:|/root/|/home/[a-z]|/work/|/tmp/tmp[a-z0-9_]{6}", re.M)

def test_saved_outputs_carry_no_log_lines_warnings_or_local_paths():
    bad = []
    for nb in sorted((ROOT / "nbs").glob("*.ipynb")):
        for i, (_, cell) in enumerate(_code_cells(nb)):
            for out in cell.get("outputs", []):
                text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
                if m := NOISE.search(text): bad.append(f"{nb.name} code cell {i}: {m.group(0)!r}")
    assert not bad, "\n".join(bad)

def test_no_notebook_exports_the_library_from_a_cell():
    "A hidden `nbdev_export()` cell would let a notebook test pass against a library that `make test` finds out of sync."
    found = [nb.name for nb in sorted((ROOT / "nbs").glob("*.ipynb")) for src, _ in _code_cells(nb) if "nbdev_export(" in src]
    assert not found, found
