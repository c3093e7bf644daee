"""The JavaScript that decks and the website ship with them: MathJax 3 and reveal.js, installed locally.

Nothing is loaded from a CDN: ``make setup`` installs both packages from the npm registry into
``.venv/node`` (as it does JupyterHub's proxy), and decks and the website copy or inline them.

    web_asset("mathjax")   # Path to MathJax's tex-svg.js (formulas as SVG: no font files to load)
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

NPM_PACKAGES = ("mathjax@^3.2", "reveal.js@^4.6")
ASSETS = {
    "mathjax": "mathjax/es5/tex-svg.js",
    "reveal_js": "reveal.js/dist/reveal.js",
    "reveal_css": "reveal.js/dist/reveal.css",
    "reveal_theme": "reveal.js/dist/theme/white.css",
}
INSTALL_HINT = ("run `make setup`, or install them by hand: "
                f"npm install --prefix .venv/node {' '.join(NPM_PACKAGES)}")


class AssetsMissing(FileNotFoundError):
    """MathJax or reveal.js is not installed where the course looks for it."""


def node_modules_dirs() -> list[Path]:
    """Where the packages are looked for: ``$CVCOURSE_WEB_ASSETS``, ``<course>/.venv/node``, ``<sys.prefix>/node``."""
    course = Path(__file__).resolve().parents[1]
    dirs = [Path(os.environ["CVCOURSE_WEB_ASSETS"])] if os.environ.get("CVCOURSE_WEB_ASSETS") else []
    dirs += [course / ".venv" / "node" / "node_modules", Path(sys.prefix) / "node" / "node_modules"]
    return dirs


def web_asset(name: str) -> Path:
    """The file of asset ``name`` (a key of ``ASSETS``); raises :class:`AssetsMissing` saying how to install it."""
    if name not in ASSETS:
        raise KeyError(f"unknown web asset {name!r}; known: {', '.join(ASSETS)}")
    for folder in node_modules_dirs():
        if (folder / ASSETS[name]).is_file():
            return folder / ASSETS[name]
    looked = ", ".join(str(d) for d in node_modules_dirs())
    raise AssetsMissing(f"{ASSETS[name].split('/')[0]} is not installed (looked in {looked}): {INSTALL_HINT}")


def missing_assets() -> str | None:
    """None when every asset is installed, else the reason (for a test's skip)."""
    try:
        for name in ASSETS:
            web_asset(name)
    except AssetsMissing as err:
        return str(err)
    return None
