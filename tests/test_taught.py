"""A task earns points only for the code it teaches (``cvcourse_utils.taught``): the reading, ``check``, the grader
and the lint."""
from __future__ import annotations

import json

import pytest

from cvcourse_utils import checking
from cvcourse_utils.checking import Case, CheckFailed, Task, check, close
from cvcourse_utils.lint import lint_taught
from cvcourse_utils.taught import TAUGHT_CASE, delegation_message, find_delegations

FORBIDDEN = ("torchvision.ops.box_iou", "cvcourse_utils.segmentation.iou_from_confusion",
             "torch.nn.functional.scaled_dot_product_attention", "torch.nn.MultiheadAttention",
             "cvcourse_utils.models.BasicBlock", ".unfold")

DELEGATED = {  # name: (cells, what the finding names)
    "from M import f as g": (["from torchvision.ops import box_iou as bi", "def f(a, b):\n    return bi(a, b)"], "torchvision.ops.box_iou"),
    "import M as m; m.f": (["import torchvision.ops as O", "def f(a, b):\n    return O.box_iou(a, b)"], "torchvision.ops.box_iou"),
    "a re-export": (["import torchvision.ops.boxes as B", "def f(a, b):\n    return B.box_iou(a, b)"], "which is `torchvision.ops.box_iou`"),
    "getattr with a constant": (["import torchvision", "def f(a, b):\n    return getattr(torchvision.ops, 'box_iou')(a, b)"], "torchvision.ops.box_iou"),
    "getattr with a computed name": (["import torchvision", "def f(a, b):\n    return getattr(torchvision.ops, 'box' + '_iou')(a, b)"], "getattr() with a computed name"),
    "importlib": (["import importlib", "def f(a, b):\n    return importlib.import_module('torchvision.ops').box_iou(a, b)"], "`importlib`"),
    "__import__": (["def f(a, b):\n    return __import__('torchvision.ops').ops.box_iou(a, b)"], "`__import__`"),
    "exec of a string": (["def f(a, b):\n    exec('import torchvision; r = torchvision.ops.box_iou(a, b)')\n    return a"], "`exec`"),
    "eval of a string": (["def f(a, b):\n    return eval('__import__(\"torchvision\").ops.box_iou')(a, b)"], "`eval`"),
    "a helper the student wrote": (["from cvcourse_utils import segmentation as S", "def helper(c):\n    return S.iou_from_confusion(c)",
                                    "def f(c):\n    return helper(c) * 1"], "line 2 of helper"),
    "a module-level container": (["import torchvision", "tools = {'iou': torchvision.ops.box_iou}", "def f(a, b):\n    return tools['iou'](a, b)"], "line 1 of tools"),
    "a chain of aliases": (["import torch", "F = torch.nn.functional", "sdpa = F.scaled_dot_product_attention",
                            "def f(q, k, v):\n    return sdpa(q, k, v)"], "scaled_dot_product_attention"),
    "an import inside the function": (["def f(q, k, v):\n    from torch.nn.functional import scaled_dot_product_attention as a\n    return a(q, k, v)"], "scaled_dot_product_attention"),
    "a subclass of a forbidden class": (["from cvcourse_utils.models import BasicBlock", "class MyBlock(BasicBlock):\n    pass",
                                         "def f(x):\n    return MyBlock(4, 4)(x)"], "line 1 of MyBlock"),
    "the task's class subclasses it": (["import torch.nn as nn", "class f(nn.MultiheadAttention):\n    pass"], "torch.nn.MultiheadAttention"),
    "a forbidden method": (["def f(x):\n    return x.unfold(2, 4, 4)"], ".unfold"),
    "a module passed on as a value": (["import torchvision", "def f(a, b):\n    return [torchvision.ops][0].box_iou(a, b)"], "passed on as a value"),
    "a name a nested scope shadows": (["from cvcourse_utils import segmentation", "def f(c):\n    def g():\n        segmentation = 1\n"
                                       "    return segmentation.iou_from_confusion(c)"], "iou_from_confusion"),
    "the name bound to the reference": (["from cvcourse_utils import segmentation", "f = segmentation.iou_from_confusion"], "the definition of f"),
    "the reference imported as the task": (["from cvcourse_utils.segmentation import iou_from_confusion as f"], "the definition of f"),
    "a star import": (["from torchvision.ops import *", "def f(a, b):\n    return box_iou(a, b)"], "torchvision.ops.box_iou"),
    "a global set in another function": (["import torchvision", "def setup():\n    global h\n    h = torchvision.ops.box_iou",
                                          "def f(a, b):\n    return h(a, b)"], "line 1 of h"),
    "a default argument": (["import torchvision", "def f(a, b, g=torchvision.ops.box_iou):\n    return g(a, b)"], "torchvision.ops.box_iou"),
    "a lambda": (["import torchvision", "g = lambda a, b: torchvision.ops.box_iou(a, b)", "def f(a, b):\n    return g(a, b)"], "line 1 of g"),
    "__dict__": (["import torchvision", "def f(a, b):\n    return torchvision.ops.__dict__['box_iou'](a, b)"], "`.__dict__`"),
    "sys.modules": (["import sys", "def f(a, b):\n    return sys.modules['torchvision.ops'].box_iou(a, b)"], "`sys.modules`"),
    "the course's checks": (["from cvcourse_utils.labchecks import lab08", "def f(a, b):\n    return lab08.TASKS[0].reference(a, b)"], "cvcourse_utils.labchecks"),
    "PyTorch's back doors": (["import torch", "def f(q, k, v):\n    return torch._C._nn.scaled_dot_product_attention(q, k, v)"], "torch._C"),
    "no definition at all": (["x = 1"], "no definition of `f`"),
}

ALLOWED = {
    "plain tensor code": ["import torch", "def f(a, b):\n    return torch.minimum(a, b).sum()"],
    "a local that shares a forbidden module's name": ["from cvcourse_utils import segmentation", "def f(c):\n    segmentation = c\n    return segmentation.sum()"],
    "a reference redefined by the student": ["from cvcourse_utils import segmentation", "f = segmentation.iou_from_confusion",
                                             "def f(c):\n    return c.diag() / c.sum()"],
    "building blocks (nn.Linear, matmul, softmax)": [
        "import torch.nn as nn", "class f(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.q = nn.Linear(4, 4)\n"
        "    def forward(self, x):\n        return (self.q(x) @ x.transpose(-1, -2)).softmax(-1)"],
    "an unused forbidden import elsewhere in the notebook": ["from torchvision.ops import box_iou", "def f(a, b):\n    return (a * b).sum()"],
    "a subclass of an allowed library class": ["import torchvision", "class f(torchvision.models.resnet.BasicBlock):\n    pass"],
}


@pytest.mark.parametrize("how", DELEGATED)
def test_every_way_of_reaching_a_forbidden_name_is_found(how):
    cells, named = DELEGATED[how]
    found = find_delegations(cells, "f", FORBIDDEN)
    assert found, f"{how}: not found"
    assert any(named in str(f) for f in found), [str(f) for f in found]


@pytest.mark.parametrize("how", ALLOWED)
def test_answers_built_from_allowed_pieces_are_not_flagged(how):
    assert find_delegations(ALLOWED[how], "f", FORBIDDEN) == []


def test_the_message_names_the_call_and_what_to_write_instead():
    found = find_delegations(DELEGATED["a helper the student wrote"][0], "f", FORBIDDEN)
    message = delegation_message("iou_per_class", "compute IoU from the confusion matrix yourself", found)
    assert message.startswith("`iou_per_class` asks you to compute IoU from the confusion matrix yourself; it uses "
                              "`cvcourse_utils.segmentation.iou_from_confusion` (line 2 of helper)"), message
    assert "earns points only for the code it teaches" in message


DOUBLE = Task("demo_double", "double", (Case("3", lambda rng: (rng.random(3),)),), reference=lambda x: 2 * x, compare=close(),
              forbidden=("numpy.multiply",), by_hand="multiply with *")


@pytest.fixture
def double_task(monkeypatch):
    real = checking.get_task
    monkeypatch.setattr(checking, "get_task", lambda name: DOUBLE if name == DOUBLE.name else real(name))


def _notebook(*cells: str) -> dict:
    """Run cells as a notebook kernel would: IPython keeps each cell's source in ``In``."""
    namespace = {"__name__": "__main__", "In": ["", *cells]}
    for cell in cells:
        exec(compile(cell, "<cell>", "exec"), namespace)
    return namespace


def test_check_refuses_a_delegated_answer_before_running_it(double_task, capsys):
    ns = _notebook("import numpy as np", "def double(x):\n    return np.multiply(x, 2)")
    with pytest.raises(CheckFailed, match="ready-made code"):
        check("demo_double", ns["double"])
    out = capsys.readouterr().out
    assert f"✗ {TAUGHT_CASE}" in out and "`double` asks you to multiply with *; it uses `numpy.multiply` (line 2 of double)" in out
    ns = _notebook("import numpy as np", "def double(x):\n    return np.multiply(x, 2)", "def double(x):\n    return x * 2")
    check("demo_double", ns["double"])  # redefined by hand: the later cell is what runs
    assert "All 1 cases of 'demo_double' pass." in capsys.readouterr().out


def test_check_reads_functions_outside_notebooks_and_lambdas(double_task):
    import numpy as np

    def double(x):
        return np.multiply(x, 2)

    with pytest.raises(CheckFailed, match="ready-made code"):
        check("demo_double", double)
    with pytest.raises(CheckFailed, match="ready-made code"):
        check("demo_double", lambda x: np.multiply(x, 2))
    check("demo_double", lambda x: x + x)


def test_a_stub_is_still_not_done(double_task):
    ns = _notebook("def double(x):\n    raise NotImplementedError()")
    with pytest.raises(checking.TaskNotDone):
        check("demo_double", ns["double"])


def test_lint_wants_a_declaration_and_a_clean_set_up(tmp_path):
    undeclared = Task("t_a", "a", (), reference=None)
    empty_without_reason = Task("t_b", "b", (), reference=None, forbidden=())
    declared = Task("t_c", "c", (), reference=None, forbidden=("cvcourse_utils.segmentation.iou_from_confusion",), by_hand="x")
    setup = {"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "setup", "locked": True}},
             "source": "from cvcourse_utils.segmentation import iou_from_confusion\nfrom cvcourse_utils import segmentation\nimport torch"}
    problems = [p.message for p in lint_taught({"cells": [setup]}, "lab.ipynb", [undeclared, empty_without_reason, declared], "tasks.py")]
    assert any("'t_a' declares no `forbidden` list" in p for p in problems)
    assert any("'t_b' needs `by_hand`" in p and "why nothing ready-made" in p for p in problems)
    assert any("gives the student `iou_from_confusion`" in p for p in problems)
    assert any("the module `segmentation`" in p for p in problems)
    assert len(problems) == 4, problems


@pytest.mark.slow
def test_the_grader_gives_a_delegated_answer_zero_and_says_why(tmp_path):
    from test_grading import ROOT, fixture_lab, with_source, write

    from cvcourse_utils.grading import grade_batch

    lab = fixture_lab()
    subs = tmp_path / "subs"
    subs.mkdir()
    write(subs, "numpy.ipynb", with_source(lab.reference, "fx_count", "def count_positive(x):\n    return int(np.count_nonzero(x > 0))"))
    write(subs, "hidden.ipynb", with_source(lab.reference, "fx_count",
                                            "def count_positive(x):\n    return int(getattr(np, 'count_' + 'nonzero')(x > 0))"))
    write(subs, "made_by_exec.ipynb", with_source(lab.reference, "fx_count",
                                                  "exec('def count_positive(x):\\n    return int((x > 0).sum())')"))
    grades = grade_batch(lab, [subs], tmp_path / "out", jobs=2, timeout=60, hidden=[ROOT], progress=lambda s: None)
    for g in grades:
        assert g.status == "ok" and g.score == lab.max_score - lab.points["fx_count"], g
        task = g.tasks[2]
        assert task.points == 0 and all(c.passed for c in task.cases if c.name != TAUGHT_CASE), "right, but delegated"
        assert task.cases[-1].name == TAUGHT_CASE and "asks you to count with a comparison and a sum" in task.cases[-1].message
        assert len(task.cases) == 1 + len(lab.tasks[2].cases) + len(lab.hidden["fx_count"])
    feedback = json.loads((tmp_path / "out" / "feedback" / "numpy.json").read_text())
    assert "`numpy.count_nonzero`" in feedback["tasks"][2]["cases"][-1]["message"]


def test_aliases_inside_a_function_resolve_and_are_not_modules_passed_on():
    delegated = ["from cvcourse_utils import segmentation as seg", "def f(c):\n    s = seg\n    t = s\n    return t.iou_from_confusion(c)"]
    assert any("iou_from_confusion" in str(x) for x in find_delegations(delegated, "f", FORBIDDEN))
    honest = ["import torch", "def f(q, k):\n    F = torch.nn.functional\n    return F.softmax(q @ k.T, -1)"]
    assert find_delegations(honest, "f", FORBIDDEN) == []


def test_check_sees_a_library_class_imported_under_the_tasks_name(monkeypatch):
    task = Task("demo_se", "SqueezeExcitation", (), reference=None, forbidden=("torchvision.ops.misc.SqueezeExcitation",), by_hand="x")
    real = checking.get_task
    monkeypatch.setattr(checking, "get_task", lambda name: task if name == task.name else real(name))
    for history in (["", "from torchvision.ops import SqueezeExcitation"], [""]):  # nbval keeps no history
        namespace = {"__name__": "__main__", "In": history, "check": check}
        exec("from torchvision.ops import SqueezeExcitation", namespace)
        with pytest.raises(CheckFailed, match="ready-made code"):
            exec("check('demo_se', SqueezeExcitation)", namespace)

