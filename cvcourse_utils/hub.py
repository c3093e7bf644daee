"""Teaching on JupyterHub: nbgitpuller links that hand out the course, and collecting labs from students' homes.

- ``hub_link``     the nbgitpuller link that clones or updates a repository in a student's home and opens a file
- ``collect``      each student's lab notebook, copied read-only into one folder that ``cvcourse grade`` reads
- ``find_proxy``   the ``configurable-http-proxy`` that JupyterHub needs (installed from the npm registry)
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

PROXY = "configurable-http-proxy"
_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789*-._")


def find_proxy() -> Path | None:
    """``configurable-http-proxy`` on PATH, else in ``<venv>/node`` (where ``make`` installs it), else None."""
    found = shutil.which(PROXY)
    if found:
        return Path(found)
    course = Path(__file__).resolve().parents[1]
    for prefix in (Path(sys.prefix), course / ".venv"):
        candidate = prefix / "node" / "node_modules" / ".bin" / PROXY
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _form_encode(pairs: list[tuple[str, str]]) -> str:
    """A query string as a browser's URLSearchParams writes it (space as '+', all but ``*-._`` and alphanumerics escaped)."""
    def one(text: str) -> str:
        return "".join(chr(b) if b in _SAFE else "+" if b == 0x20 else f"%{b:02X}" for b in text.encode("utf-8"))

    return "&".join(f"{one(k)}={one(v)}" for k, v in pairs)


def repo_folder(repo: str) -> str:
    """The folder a repository is cloned into: its last path part without ``.git`` (``.../cvcourse.git`` -> ``cvcourse``)."""
    name = urlsplit(repo).path.rstrip("/").split("/")[-1] if "://" in repo else repo.rstrip("/").split("/")[-1]
    name = name.split(":")[-1]  # scp-like git@host:org/repo
    return name[:-4] if name.endswith(".git") else name


def hub_link(hub: str, repo: str, path: str | None = None, branch: str | None = None,
             targetpath: str | None = None) -> str:
    """The nbgitpuller link for ``repo`` on ``hub``, opening ``path`` (inside the repository) in JupyterLab.

    Built as nbgitpuller's own link generator builds it: ``<hub>/hub/user-redirect/git-pull?repo=...&urlpath=
    lab/tree/<folder>/<path>&branch=...``. The folder is the repository's name without ``.git``; when the
    repository URL's last part differs from it (``cvcourse.git``), ``targetpath`` names it, because
    nbgitpuller would otherwise clone into ``cvcourse.git`` while the link opens ``cvcourse/``.
    """
    parts = urlsplit(hub)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"the hub must be an http(s) URL such as https://hub.example.edu, not {hub!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"the hub URL must have no query or fragment: {hub!r}")
    if not repo.strip() or any(c.isspace() for c in repo):
        raise ValueError(f"the repository must be a git URL such as https://github.com/org/cvcourse, not {repo!r}")
    folder = targetpath or repo_folder(repo)
    if not folder or folder in (".", ".."):
        raise ValueError(f"cannot tell which folder {repo!r} is cloned into: give a target path")
    if path is not None and (path.startswith("/") or ".." in Path(path).parts):
        raise ValueError(f"the path is inside the repository, e.g. labs/lab03_....ipynb, not {path!r}")
    base = f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}/hub/user-redirect/git-pull"
    query = [("repo", repo), ("urlpath", "lab/tree/" + folder + ("/" + path.strip("/") if path else ""))]
    if branch:
        query.append(("branch", branch))
    if targetpath or repo.rstrip("/").split("/")[-1] != folder:
        query.append(("targetpath", folder))
    return base + "?" + _form_encode(query)


# --------------------------------------------------------------------------- collecting


class CollectError(ValueError):
    """Collecting cannot start (no such home folder, unknown lab, files in the way); nothing was copied."""


@dataclass
class Collected:
    copied: dict[str, Path] = field(default_factory=dict)   # student -> the notebook copied from their home
    missing: list[str] = field(default_factory=list)        # students whose home holds no such notebook
    notes: list[str] = field(default_factory=list)          # several copies found, unreadable homes


_SKIP = {"node_modules", "__pycache__", "site-packages"}


def _find(home: Path, filename: str, unreadable: list[str], max_depth: int = 5) -> list[Path]:
    """Files named ``filename`` under ``home``, not in hidden folders (``.ipynb_checkpoints``, caches), no symlinks."""
    found = []
    for folder, dirs, files in os.walk(home, onerror=lambda err: unreadable.append(str(err.filename))):
        depth = len(Path(folder).relative_to(home).parts)
        dirs[:] = [] if depth >= max_depth else sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP)
        path = Path(folder) / filename
        if filename in files and path.is_file() and not path.is_symlink():
            found.append(path)
    return found


def lab_filename(lab: str, root: Path) -> str:
    """``lab03`` -> ``lab03_backprop_and_neural_networks.ipynb``, the name of the lab in the course's ``labs/``."""
    matches = sorted(Path(root, "labs").glob(f"{lab}_*.ipynb")) if len(lab) == 5 and lab[:3] == "lab" and lab[3:].isdigit() else []
    if len(matches) != 1:
        known = sorted(p.name[:5] for p in Path(root, "labs").glob("lab[0-9][0-9]_*.ipynb"))
        raise CollectError(f"unknown lab {lab!r}; the labs in {Path(root, 'labs').resolve()} are: "
                           + (", ".join(known) or "none (run from the course folder or give --root)"))
    return matches[0].name


def collect(hub_home: Path, filename: str, out: Path, *, force: bool = False, strip_prefix: str = "") -> Collected:
    """Copy each student's ``filename`` from ``hub_home/<student>/...`` to ``out/<student>.ipynb``, read-only.

    Every folder in ``hub_home`` is a student (``strip_prefix`` removes e.g. The Littlest JupyterHub's
    ``jupyter-``). The notebook is looked for anywhere in the home but hidden folders; with several
    copies the newest is taken and a note says so. Files already in ``out`` are replaced only with
    ``force``; otherwise nothing is copied and CollectError lists them.
    """
    hub_home, out = Path(hub_home), Path(out)
    if not hub_home.exists():
        raise CollectError(f"the hub's home folder {hub_home} does not exist (on The Littlest JupyterHub it is /home)")
    if not hub_home.is_dir():
        raise CollectError(f"{hub_home} is not a folder")
    try:
        homes = sorted(p for p in hub_home.iterdir() if p.is_dir() and not p.name.startswith("."))
    except PermissionError:
        raise CollectError(f"cannot list {hub_home}: permission denied (collect as a user who can read the homes)") from None
    result = Collected()
    chosen: dict[str, Path] = {}
    for home in homes:
        student = home.name[len(strip_prefix):] if strip_prefix and home.name.startswith(strip_prefix) else home.name
        unreadable: list[str] = []
        found = _find(home, filename, unreadable)
        if unreadable:
            result.notes.append(f"{student}: cannot read {', '.join(unreadable[:3])}")
        if not found:
            result.missing.append(student)
            continue
        newest = max(found, key=lambda p: p.stat().st_mtime)
        if len(found) > 1:
            others = ", ".join(str(p.relative_to(home)) for p in found if p != newest)
            result.notes.append(f"{student}: {len(found)} copies; took the newest, {newest.relative_to(home)} (not {others})")
        chosen[student] = newest
    targets = {student: out / f"{student}.ipynb" for student in chosen}
    in_the_way = [str(t) for t in targets.values() if t.exists() or t.is_symlink()]
    if in_the_way and not force:
        raise CollectError(f"{len(in_the_way)} file(s) already in {out}: {', '.join(in_the_way[:5])}"
                           + (" ..." if len(in_the_way) > 5 else "") + "; pass --force to replace them")
    out.mkdir(parents=True, exist_ok=True)
    for student, source in chosen.items():
        try:
            data, stat = source.read_bytes(), source.stat()
        except OSError as err:
            result.notes.append(f"{student}: cannot read {source}: {err.strerror or err}")
            result.missing.append(student)
            continue
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{student}-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as dst:
                dst.write(data)
            os.utime(tmp, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            os.chmod(tmp, 0o444)
            os.replace(tmp, targets[student])  # replaces a read-only file too: the folder is what must be writable
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        result.copied[student] = source
    result.missing.sort()
    return result
