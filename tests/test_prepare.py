"""cvcourse prepare: which module needs which model, and training them ahead of class (a fake model set: no real training)."""
import json
import re

import pytest

from cvcourse_utils import prepare as P
from cvcourse_utils.cli import main
from cvcourse_utils.notebooks import cell_source, read_notebook


class FakeModel:
    """A model whose 'training' writes a file; it counts how often it was trained."""

    def __init__(self, name, folder, minutes=1.0):
        self.name, self.what, self.minutes, self.file, self.trained = name, f"the fake {name}", minutes, folder / name, 0

    def cached(self):
        return self.file.exists()

    def prepare(self):
        self.trained += 1
        self.file.write_text("weights")


@pytest.fixture
def fakes(tmp_path):
    models = {name: FakeModel(name, tmp_path, minutes) for name, minutes in (("a", 1.0), ("b", 2.5), ("c", 4.0))}
    module_map = {"01": (), "02": ("a", "b"), "03": ("b", "c")}
    return models, module_map


def run(modules, fakes, **options):
    lines = []
    missing = P.prepare(modules, registry=fakes[0], module_map=fakes[1], out=lines.append, **options)
    return missing, "\n".join(lines)


def test_prepare_trains_what_is_missing_once_and_says_what_is_cached(fakes, capsys):
    models, _ = fakes
    models["b"].prepare()  # already in the cache
    missing, text = run(["2", "03"], fakes)
    assert missing == 0
    assert [m.trained for m in models.values()] == [1, 1, 1]  # b was not trained again; each model once
    assert "cached       b: the fake b" in text
    assert "Training 2 models in " in text and "about 5 min on a 2-core CPU" in text  # a (1) + c (4)
    assert re.search(r"ready        a \(\d+\.\d min\)", text) and "Done: 2 models trained" in text
    assert "prepare: 100%" in capsys.readouterr().err  # the overall bar, in estimated minutes
    missing, text = run(["02", "03"], fakes)
    assert missing == 0 and "All 3 models are ready" in text and [m.trained for m in models.values()] == [1, 1, 1]


def test_prepare_check_only_reports(fakes):
    missing, text = run([], fakes, check=True)  # no modules named: every module
    assert missing == 3 and all(m.trained == 0 for m in fakes[0].values())
    assert "missing     c: the fake c (about 4 min)" in text and "3 of 3 models are not cached" in text
    assert "about 7.5 min" in text
    missing, text = run(["01"], fakes)
    assert missing == 0 and "need no trained model" in text


def test_an_unknown_module_is_a_clear_error(fakes):
    with pytest.raises(ValueError, match="no module '12': the modules are 01, 02, 03"):
        run(["12"], fakes)
    assert main(["prepare", "--check", "99"]) == 2


def test_the_registry_names_every_model_the_notebooks_load():
    """Each module's notebooks and lab checks load only models its MODULES entry lists (the one place to keep it)."""
    loaders = {"course_backbone(": "course_backbone_resnet14_shapes", "load_toy_clip(": "toy_clip",
               "load_tiny_vit(": "tiny_vit", "load_judge(": "judge_digits", "judge_fid(": "judge_digits",
               "load_digits_diffusion(": "digits_diffusion", "load_text_to_image(": "shapes_text_to_image",
               "evaluate_text_to_image(": "captions_shape_judge", "load_simclr(": "simclr_shapes",
               "load_dino(": "dino_shapes", "load_dino(collapsed_dino_config()": "dino_shapes_without_centring",
               "load_mae(": "mae_shapes", "get_or_train(": None}
    for module, names in P.MODULES.items():
        files = sorted(P.ROOT.glob(f"lectures/{module}_*.ipynb")) + sorted(P.ROOT.glob(f"solutions/lab{module}_*.ipynb"))
        code = "\n".join(cell_source(c) for f in files for c in read_notebook(f)["cells"] if c["cell_type"] == "code")
        code += (P.ROOT / f"cvcourse_utils/labchecks/lab{module}.py").read_text()
        assert files, f"module {module} has no lecture or lab"
        for call, name in loaders.items():
            if call in code:
                wanted = name or f"lecture{module}"
                assert wanted in names, f"module {module} calls {call}...) but MODULES[{module!r}] lacks {wanted!r}"
        assert all(name in P.MODELS for name in names)
    assert P.expected_minutes("digits_diffusion") > 0 and P.expected_minutes("nothing") is None
    # A second configuration of a model is its own entry, filed under the model's name in its own file.
    centred, collapsed = P.MODELS["dino_shapes"].path(), P.MODELS["dino_shapes_without_centring"].path()
    assert centred != collapsed and collapsed.name.startswith("dino_shapes-")
    assert P.modules_needing("judge_digits") == ["10", "11"]


def test_a_lecture_that_trains_its_own_models_is_prepared_by_running_it_to_its_last_model(cache, tmp_path):
    lecture = P.LectureModels("lecture99", "a fake lecture's model", "99.ipynb", 0.1, root=tmp_path)
    cells = ["x = 1\n", "print('training \\'m\\' (cached for next time as models/m-abc.pt in the course cache): ...')\n"
             "def get_or_train(*a): pass\nget_or_train('m')\n", "raise RuntimeError('after the last model: not run')\n"]
    nb = {"cells": [{"cell_type": "code", "source": s, "metadata": {}, "outputs": [], "execution_count": None}
                    for s in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "99.ipynb").write_text(json.dumps(nb))
    assert not lecture.cached()
    lecture.prepare()
    stamp = json.loads(lecture.stamp().read_text())
    assert stamp["models"] == ["models/m-abc.pt"] and stamp["notebook"] == "99.ipynb"
    assert not lecture.cached()  # the model file it named is not in the cache
    (cache / "models").mkdir(parents=True, exist_ok=True)
    (cache / "models" / "m-abc.pt").write_bytes(b"weights")
    assert lecture.cached()
    nb["cells"][0]["source"] = "x = 2\n"  # the lecture changed: prepare it again
    (tmp_path / "99.ipynb").write_text(json.dumps(nb))
    assert not lecture.cached()


def test_each_lecture_that_needs_trained_models_says_so_up_front():
    for path in sorted(P.ROOT.glob("lectures/*.ipynb")):
        module = path.name[:2]
        assert module in P.MODULES, f"{path.name}: add module {module} to prepare.MODULES (an empty tuple if it needs no model)"
        title = cell_source(read_notebook(path)["cells"][0])
        if P.MODULES[module]:
            assert title.rstrip().endswith("> " + P.prepare_note(module)), f"{path.name}: the title cell lacks the prepare note"
            assert f"about {P.module_minutes(module)} min on a 2-core CPU" in title
        else:
            assert "cvcourse prepare" not in title, path.name
