"""`cvcourse hub-link` and `cvcourse collect` without a hub (tests/test_hub.py runs both on a real one)."""
import json
import os
import shutil
import stat
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from cvcourse_utils import cli
from cvcourse_utils.hub import CollectError, collect, hub_link, lab_filename, repo_folder

ROOT = Path(__file__).resolve().parents[1]
LAB03 = "labs/lab03_backprop_and_neural_networks.ipynb"


# --------------------------------------------------------------------------- hub-link


def test_the_link_is_the_one_nbgitpullers_link_generator_writes():
    link = hub_link("https://hub.example.edu", "https://github.com/example/cvcourse", LAB03, "main")
    assert link == ("https://hub.example.edu/hub/user-redirect/git-pull?repo=https%3A%2F%2Fgithub.com%2Fexample%2Fcvcourse"
                    "&urlpath=lab%2Ftree%2Fcvcourse%2Flabs%2Flab03_backprop_and_neural_networks.ipynb&branch=main")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("hub, repo, path, branch", [
    ("https://hub.example.edu", "https://github.com/example/cvcourse", LAB03, "main"),
    ("https://Example.edu/jhub/", "https://gitlab.example.edu/course_team/cv~course+x", "labs/lab 01 & more.ipynb", "fall-2026"),
    ("http://127.0.0.1:8000", "file:///srv/course/cvcourse", None, None),
])
def test_the_encoding_is_a_browsers_as_in_nbgitpullers_generator(hub, repo, path, branch):
    """nbgitpuller's generator builds its link with the browser's URL and URLSearchParams; node has the same API."""
    folder = repo_folder(repo)
    urlpath = f"lab/tree/{folder}" + (f"/{path}" if path else "")
    script = ("const [hub, repo, urlpath, branch] = process.argv.slice(1); const url = new URL(hub);"
              "url.searchParams.set('repo', repo); url.searchParams.set('urlpath', urlpath);"
              "if (branch) url.searchParams.set('branch', branch);"
              "url.pathname += 'hub/user-redirect/git-pull'; console.log(url.toString());")
    expected = subprocess.run(["node", "-e", script, hub, repo, urlpath, branch or ""],
                              capture_output=True, text=True, check=True).stdout.strip()
    assert hub_link(hub, repo, path, branch) == expected


def test_the_link_says_where_the_repository_is_cloned_when_its_url_ends_in_git():
    # nbgitpuller clones .../cvcourse.git into cvcourse.git/ unless told: the link names the folder it opens.
    link = hub_link("https://hub.example.edu", "https://github.com/example/cvcourse.git", LAB03)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query))
    assert query == {"repo": "https://github.com/example/cvcourse.git", "targetpath": "cvcourse",
                     "urlpath": f"lab/tree/cvcourse/{LAB03}"}
    assert repo_folder("git@github.com:example/cvcourse.git") == "cvcourse"


@pytest.mark.parametrize("hub, repo, path, problem", [
    ("hub.example.edu", "https://github.com/x/cvcourse", None, "http"),
    ("ftp://hub.example.edu", "https://github.com/x/cvcourse", None, "http"),
    ("https://hub.example.edu/?x=1", "https://github.com/x/cvcourse", None, "no query"),
    ("https://hub.example.edu", "", None, "git URL"),
    ("https://hub.example.edu", "https://github.com/x/cv course", None, "git URL"),
    ("https://hub.example.edu", "https://github.com/x/cvcourse", "/etc/passwd", "inside the repository"),
    ("https://hub.example.edu", "https://github.com/x/cvcourse", "../elsewhere.ipynb", "inside the repository"),
])
def test_bad_link_arguments_are_clear_errors(hub, repo, path, problem):
    with pytest.raises(ValueError, match=problem):
        hub_link(hub, repo, path)


def test_hub_link_command_prints_the_link_and_warns_about_a_path_not_in_the_course(capsys):
    assert cli.main(["hub-link", "--hub", "https://hub.example.edu", "--repo", "https://github.com/x/cvcourse",
                     "--path", LAB03, "--root", str(ROOT)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("https://hub.example.edu/hub/user-redirect/git-pull?repo=") and err == ""
    assert cli.main(["hub-link", "--hub", "https://hub.example.edu", "--repo", "https://github.com/x/cvcourse",
                     "--path", "labs/lab3.ipynb", "--root", str(ROOT)]) == 0
    assert "not in the course folder" in capsys.readouterr().err
    assert cli.main(["hub-link", "--hub", "example", "--repo", "https://github.com/x/cvcourse"]) == 2
    assert "error: the hub must be an http(s) URL" in capsys.readouterr().err


# --------------------------------------------------------------------------- the hub's configuration

CONFIG = ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"


def _load_config(monkeypatch, **env):
    import runpy

    from traitlets.config import Config

    for key in [k for k in os.environ if k.startswith("CVCOURSE_HUB_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = Config()
    runpy.run_path(str(CONFIG), init_globals={"get_config": lambda: config})
    return config


def test_the_hub_config_refuses_to_start_without_the_students_password(monkeypatch):
    for password in ({}, {"CVCOURSE_HUB_PASSWORD": "short"}):
        with pytest.raises(SystemExit, match="set CVCOURSE_HUB_PASSWORD"):
            _load_config(monkeypatch, **password)


def test_the_hub_config_lets_in_the_named_students_and_runs_their_servers_with_the_course(monkeypatch, tmp_path):
    import sys

    c = _load_config(monkeypatch, CVCOURSE_HUB_PASSWORD="a-long-password", CVCOURSE_HUB_STUDENTS="alice, bob",
                     CVCOURSE_HUB_HOME=str(tmp_path), CVCOURSE_HUB_ADMIN_TOKEN="t0ken")
    assert c.Authenticator.allowed_users == {"alice", "bob"} and "allow_all" not in c.Authenticator
    assert c.SimpleLocalProcessSpawner.home_dir_template == str(tmp_path / "{username}")
    assert c.Spawner.cmd == [sys.executable, "-m", "jupyterhub.singleuser"]
    assert c.JupyterHub.bind_url.startswith("http://127.0.0.1:")
    assert c.JupyterHub.services == [{"name": "cvcourse-admin", "api_token": "t0ken"}]
    c = _load_config(monkeypatch, CVCOURSE_HUB_PASSWORD="a-long-password")
    assert c.Authenticator.allow_all is True and "services" not in c.JupyterHub


# --------------------------------------------------------------------------- collect

NAME = "lab01_images_and_arrays.ipynb"


def _notebook(text: str) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": "a", "metadata": {}, "execution_count": None, "outputs": [], "source": text}]})


def _homes(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    for student, where in (("alice", "cvcourse/labs"), ("jupyter-bob", "work/cvcourse/labs")):
        folder = home / student / where
        folder.mkdir(parents=True)
        (folder / NAME).write_text(_notebook(f"# {student}'s work"))
        (folder / ".ipynb_checkpoints").mkdir()
        (folder / ".ipynb_checkpoints" / NAME).write_text(_notebook("a checkpoint"))  # same name: still skipped
    (home / "carol" / "cvcourse" / "labs").mkdir(parents=True)  # logged in, never opened the lab
    (home / "dave" / ".cache").mkdir(parents=True)
    (home / "dave" / ".cache" / NAME).write_text(_notebook("hidden folder: skipped"))
    return home


def test_collect_copies_each_students_lab_read_only_and_names_who_has_none(tmp_path):
    home, out = _homes(tmp_path), tmp_path / "submissions" / "lab01"
    got = collect(home, NAME, out, strip_prefix="jupyter-")
    assert sorted(got.copied) == ["alice", "bob"] and got.missing == ["carol", "dave"] and got.notes == []
    assert sorted(p.name for p in out.iterdir()) == ["alice.ipynb", "bob.ipynb"]
    assert "bob's work" in (out / "bob.ipynb").read_text() and got.copied["bob"].parent.name == "labs"
    for p in out.iterdir():
        assert not p.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), f"{p.name} is writable"
    assert (home / "alice" / "cvcourse" / "labs" / NAME).stat().st_mode & stat.S_IWUSR, "the student's file is untouched"


def test_collect_refuses_to_overwrite_unless_forced_and_loses_nothing(tmp_path):
    home, out = _homes(tmp_path), tmp_path / "out"
    collect(home, NAME, out, strip_prefix="jupyter-")
    (home / "alice" / "cvcourse" / "labs" / NAME).write_text(_notebook("alice, later"))
    with pytest.raises(CollectError, match="already in .*--force"):
        collect(home, NAME, out, strip_prefix="jupyter-")
    assert "alice's work" in (out / "alice.ipynb").read_text(), "a refused collect changes nothing"
    collect(home, NAME, out, strip_prefix="jupyter-", force=True)
    assert "alice, later" in (out / "alice.ipynb").read_text()
    assert sorted(p.name for p in out.iterdir()) == ["alice.ipynb", "bob.ipynb"], "no temporary files are left"


def test_collect_takes_the_newest_of_several_copies_and_says_so(tmp_path):
    home = _homes(tmp_path)
    older = home / "alice" / "old" / NAME
    older.parent.mkdir()
    older.write_text(_notebook("an old copy"))
    os.utime(older, (1_000_000_000, 1_000_000_000))
    got = collect(home, NAME, tmp_path / "out")
    assert "alice's work" in (tmp_path / "out" / "alice.ipynb").read_text()
    assert any("alice: 2 copies" in note and "old/" in note for note in got.notes), got.notes


def test_collect_errors_are_clear(tmp_path):
    with pytest.raises(CollectError, match="does not exist"):
        collect(tmp_path / "nowhere", NAME, tmp_path / "out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CollectError, match="is not a folder"):
        collect(tmp_path / "file", NAME, tmp_path / "out")
    assert lab_filename("lab01", ROOT) == NAME
    for bad in ("lab42", "lab1", "labs"):
        with pytest.raises(CollectError, match=f"unknown lab '{bad}'.*lab01"):
            lab_filename(bad, ROOT)
    assert not (tmp_path / "out").exists()


def test_collect_command_reports_and_its_folder_grades_as_submissions(tmp_path, capsys):
    from cvcourse_utils.grading.submission import expand

    home, out = _homes(tmp_path), tmp_path / "submissions"
    args = ["collect", "--hub-home", str(home), "--lab", "lab01", "--out", str(out), "--root", str(ROOT)]
    assert cli.main(args + ["--strip-prefix", "jupyter-"]) == 0
    said = capsys.readouterr().out
    assert f"Collected {NAME} from 2 of 4 student(s)" in said and "for 2 student(s): carol, dave" in said
    assert f"cvcourse grade lab01 {out}" in said
    assert [p.name for p in expand([out])] == ["alice.ipynb", "bob.ipynb"], "the grader reads the folder as it is"
    assert cli.main(args + ["--strip-prefix", "jupyter-"]) == 2
    assert "--force" in capsys.readouterr().err
    assert cli.main(["collect", "--hub-home", str(tmp_path / "none"), "--lab", "lab01", "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
