"""The container recipe for Zero to JupyterHub, checked without a container engine.

deploy/docker/Dockerfile must parse into known instructions, start from a Jupyter docker-stacks image
pinned by a date tag, and copy only files that exist and that .dockerignore lets into the build; the
values.yaml snippet must be valid YAML naming that image. .ci/run builds the image where a container
engine works (it does not on the course's CI machine, so this static check is what runs there).
"""
import fnmatch
import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
VALUES = ROOT / "deploy" / "jupyterhub" / "values.yaml"
KNOWN = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
         "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
IMAGE = "cvcourse-hub"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments and blank lines dropped, continued lines joined."""
    out, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if pending and line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word, rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build (last matching pattern wins; ``!`` lets in again)."""
    result = False
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        regex = fnmatch.translate(body.replace("**/", "")) if body.startswith("**/") else None
        hit = any(fnmatch.fnmatchcase(p, body) for p in prefixes) or (
            regex is not None and any(re.match(regex, part) for part in parts))
        if hit:
            result = not negate
    return result


def test_the_dockerfile_uses_known_instructions_and_a_pinned_docker_stacks_base():
    steps = instructions(DOCKERFILE.read_text())
    assert steps and all(word in KNOWN for word, _ in steps), [w for w, _ in steps if w not in KNOWN]
    first = next((word, args) for word, args in steps if word != "ARG")
    assert first[0] == "FROM"
    image, _, tag = first[1].partition(":")
    assert image.startswith("quay.io/jupyter/") and image.endswith("-notebook"), image
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", tag), f"pin the base image by a date tag, not {tag!r}"
    runs = " ".join(args for word, args in steps if word == "RUN")
    assert '"/opt/cvcourse[hub]"' in runs, "the image installs the course with its hub extra"
    assert f'title="{IMAGE}"' in DOCKERFILE.read_text()


def test_the_files_the_dockerfile_copies_exist_and_reach_the_build():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    copies = [shlex.split(args) for word, args in instructions(DOCKERFILE.read_text()) if word in ("COPY", "ADD")]
    assert copies
    for args in copies:
        sources = [a for a in args if not a.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is not in the course"
            assert not ignored(source, patterns), f".dockerignore keeps {source} out of the build"
    for private in ("solutions", ".venv", "solutions/grading/lab01.py"):
        assert ignored(private, patterns), f"{private} must not reach the students' image"


def test_the_values_snippet_is_yaml_that_points_at_the_image():
    values = yaml.safe_load(VALUES.read_text())
    image = values["singleuser"]["image"]
    assert image["name"].rsplit("/", 1)[-1] == IMAGE
    assert isinstance(image["tag"], str) and image["tag"] not in ("", "latest")
    assert values["singleuser"]["defaultUrl"] == "/lab"
    assert values["hub"]["config"]["JupyterHub"]["authenticator_class"] not in ("dummy", "null"), \
        "a deployment's snippet must not let anyone in"
    readme = (ROOT / "README.md").read_text()
    assert f"docker build -f deploy/docker/Dockerfile -t {IMAGE}:{image['tag']} ." in readme
