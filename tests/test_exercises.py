"""Every lesson's exercises: each folded solution passes its check, and a wrong answer does not."""
import json, re
from pathlib import Path

import pytest

from maestro_lessons import exercises

ROOT = Path(__file__).resolve().parents[1]
EX_RE = re.compile(r"\*\*Exercise ([A-Z]?\d+\.\d+)\.\*\*")
SOL_RE = re.compile(r"<details><summary>Solution</summary>\s*```python\n(.*?)```\s*</details>", re.S)


def lesson_exercises():
    "(notebook, key, solution code) for every exercise in nbs/, in order."
    found = []
    for nb in sorted((ROOT / "nbs").glob("[0-9A]*.ipynb")):
        key = None
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] != "markdown": continue
            src = "".join(cell["source"])
            if m := EX_RE.search(src): key = m.group(1)
            if (m := SOL_RE.search(src)) and key: found.append((nb.name, key, m.group(1))); key = None
    return found


FOUND = lesson_exercises()


def test_every_lesson_has_two_to_four_exercises():
    lessons = {p.name for p in (ROOT / "nbs").glob("[0-9]*.ipynb")}
    per = {nb: sum(1 for n, _, _ in FOUND if n == nb) for nb in lessons}
    assert all(2 <= n <= 4 for n in per.values()), per


def test_every_exercise_has_a_check_and_every_check_an_exercise():
    assert sorted(k for _, k, _ in FOUND) == sorted(exercises.EXERCISES)


@pytest.mark.parametrize("nb,key,code", FOUND, ids=[k for _, k, _ in FOUND])
def test_solution_passes_its_check(nb, key, code, capsys):
    ns = {}
    exec(compile(code, f"{nb} solution {key}", "exec"), ns)
    check = getattr(exercises, f"check_exercise_{key.replace('.', '_')}")
    assert check(ns["answer"]), capsys.readouterr().out


@pytest.mark.parametrize("key", sorted(exercises.EXERCISES))
def test_check_rejects_a_wrong_answer(key, capsys):
    check = getattr(exercises, f"check_exercise_{key.replace('.', '_')}")
    for wrong in (None, -1, lambda *a: None):
        assert check(wrong) is False
    out = capsys.readouterr().out
    assert f"Exercise {key}" in out and "Traceback" not in out
