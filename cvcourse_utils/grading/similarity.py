"""Similarity of the students' task code: normalised tokens, k-gram winnowing, Jaccard of fingerprints.

What is compared: each student's task cells only, without the lines the generated lab gives
(the ``def`` line, docstring and stub lines every student starts from). Each cell becomes a
list of tokens with comments, docstrings and whitespace gone, every name the student could
rename turned into ``N`` (names after a dot, keyword arguments and Python's built-ins stay: they
are the library calls the code makes), every number into ``L`` and every string into ``S``. Every
run of ``K`` tokens is hashed and winnowing (Schleimer, Wilkerson and Aiken, SIGMOD 2003: the
smallest hash of every ``WINDOW`` consecutive ones) keeps a few of them as the cell's fingerprints;
a match of at least ``K + WINDOW - 1`` tokens always shares one.

A pair's score is the Jaccard index of the two submissions' fingerprints over all tasks
(shared / all distinct). Code that many submissions share (more than ``COMMON_SHARE`` of them, at
least 2) is the obvious way to write it, not evidence, and is left out of every score. A pair is
flagged at ``threshold`` or above with at least ``MIN_SHARED`` fingerprints in common. It flags;
it never changes a grade.

Hand-written rather than a library (``copydetect`` does the same winnowing): it compares files,
not notebook cells, needs Pygments for its tokens and its own way of removing boilerplate, and
this is about 150 lines on the standard library.
"""
from __future__ import annotations

import builtins
import hashlib
import io
import keyword
import math
import re
import tokenize
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations

K = 5                # tokens per k-gram
WINDOW = 4           # k-grams per winnowing window
THRESHOLD = 0.5      # default score from which a pair is flagged
MIN_SHARED = 3       # fingerprints a flagged pair has in common, at least
COMMON_SHARE = 0.25  # fingerprints in more than this share of the submissions are common code

_KEPT_NAMES = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset(getattr(keyword, "softkwlist", ()))
_SKIPPED = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER}
_FSTRING = tuple(getattr(tokenize, n) for n in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END") if hasattr(tokenize, n))
_WORD = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|'[^']*'|\"[^\"]*\"|\S")

Token = tuple[str, int]   # (normalised text, source line, 1-based)


def given_lines(stub: str) -> set[str]:
    """The stripped, non-empty lines of a stub cell: a student's line equal to one of them is the lab's, not theirs."""
    return {line.strip() for line in stub.splitlines() if line.strip()}


def _fallback_tokens(lines: list[str], skip: set[int]) -> list[Token]:
    """Tokens of code Python cannot tokenize (a syntax error): word by word, comments cut at ``#``."""
    out: list[Token] = []
    for number, line in enumerate(lines, 1):
        if number in skip:
            continue
        code = line.split("#", 1)[0] if "'" not in line and '"' not in line else line
        words = _WORD.findall(code)
        for i, word in enumerate(words):
            after_dot = i > 0 and words[i - 1] == "."
            if word[0].isdigit():
                out.append(("L", number))
            elif word[0] in "'\"":
                out.append(("S", number))
            elif word[0].isalpha() or word[0] == "_":
                out.append((word if word in _KEPT_NAMES or after_dot else "N", number))
            else:
                out.append((word, number))
        if words:
            out.append((";", number))
    return out


def normalised_tokens(source: str, given: set[str] = frozenset()) -> list[Token]:
    """The cell's tokens as compared: no comments, docstrings or lines in ``given``; renameable names, numbers, strings unified."""
    lines = source.splitlines()
    skip = {n for n, line in enumerate(lines, 1) if line.strip() and line.strip() in given}
    try:
        raw = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type not in _SKIPPED]
    except (tokenize.TokenError, SyntaxError):
        return _fallback_tokens(lines, skip)
    out: list[Token] = []
    depth, fstring = 0, 0
    for i, tok in enumerate(raw):
        line = tok.start[0]
        prev = raw[i - 1] if i else None
        nxt = raw[i + 1] if i + 1 < len(raw) else None
        if _FSTRING and tok.type in _FSTRING:   # Python 3.12+: an f-string is many tokens; keep it one "S"
            if tok.type == _FSTRING[0]:
                fstring += 1
                if fstring == 1 and line not in skip:
                    out.append(("S", line))
            elif tok.type == _FSTRING[2]:
                fstring -= 1
            continue
        if fstring or line in skip:
            continue
        if tok.type == tokenize.OP:
            depth += tok.string in ("(", "[", "{")
            depth -= tok.string in (")", "]", "}")
            out.append((tok.string, line))
        elif tok.type == tokenize.NEWLINE:
            out.append((";", line))
        elif tok.type == tokenize.NUMBER:
            out.append(("L", line))
        elif tok.type == tokenize.STRING:
            alone = (prev is None or prev.type == tokenize.NEWLINE) and (nxt is None or nxt.type == tokenize.NEWLINE)
            if not alone:  # a string that is a statement of its own is a docstring (or a comment)
                out.append(("S", line))
        elif tok.type == tokenize.NAME:
            keyword_argument = depth > 0 and nxt is not None and nxt.string == "=" and prev is not None and prev.string in ("(", ",")
            kept = tok.string in _KEPT_NAMES or (prev is not None and prev.string == ".") or keyword_argument
            out.append((tok.string if kept else "N", line))
        else:
            out.append((tok.string, line))
    return out


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def winnow(tokens: list[Token], label: str = "", k: int = K, window: int = WINDOW) -> dict[int, set[int]]:
    """The fingerprints of a token list: hash -> the source lines its k-gram covers (the smallest hash of each window)."""
    if len(tokens) < k:
        return {}
    grams = [(_hash(label + "\0" + " ".join(t for t, _ in tokens[i:i + k])), i) for i in range(len(tokens) - k + 1)]
    picked: dict[int, set[int]] = {}
    for start in range(max(1, len(grams) - window + 1)):
        h, i = min(grams[start:start + window], key=lambda g: (g[0], -g[1]))  # the rightmost smallest
        picked.setdefault(h, set()).update(line for _, line in tokens[i:i + k])
    return picked


@dataclass
class Pair:
    a: str
    b: str
    score: float      # Jaccard of the two submissions' fingerprints, common code left out
    shared: int       # fingerprints in common


@dataclass
class Similarity:
    names: list[str]                                   # the submissions compared
    fingerprints: dict[str, dict[str, dict[int, set[int]]]]   # name -> task -> hash -> lines
    common: set[int]                                   # fingerprints too many submissions share
    pairs: list[Pair]                                  # every pair with something in common, highest score first
    threshold: float
    common_limit: int                                  # a fingerprint in more submissions than this is common
    settings: dict = field(default_factory=lambda: {"k": K, "window": WINDOW, "min_shared": MIN_SHARED,
                                                    "common_share": COMMON_SHARE})

    @property
    def total_pairs(self) -> int:
        return len(self.names) * (len(self.names) - 1) // 2

    @property
    def flagged(self) -> list[Pair]:
        return [p for p in self.pairs if p.score >= self.threshold and p.shared >= MIN_SHARED]

    def task_scores(self, a: str, b: str) -> dict[str, float]:
        """The Jaccard index per task of one pair (common code left out); tasks neither wrote anything for are absent."""
        scores = {}
        for task in dict.fromkeys([*self.fingerprints[a], *self.fingerprints[b]]):  # in the lab's order
            fa = set(self.fingerprints[a].get(task, {})) - self.common
            fb = set(self.fingerprints[b].get(task, {})) - self.common
            if fa or fb:
                scores[task] = len(fa & fb) / len(fa | fb)
        return scores

    def matching_lines(self, a: str, b: str, task: str) -> tuple[set[int], set[int]]:
        """The lines of ``a``'s and ``b``'s cell for ``task`` that hold a fingerprint the other has too."""
        fa, fb = self.fingerprints[a].get(task, {}), self.fingerprints[b].get(task, {})
        shared = (set(fa) & set(fb)) - self.common
        return ({n for h in shared for n in fa[h]}, {n for h in shared for n in fb[h]})


def compare(cells: dict[str, dict[str, str]], stub_cells: dict[str, str], threshold: float = THRESHOLD) -> Similarity:
    """Compare every pair of submissions: ``cells`` maps each submission to its task cells (task -> source)."""
    prints = {name: {task: winnow(normalised_tokens(source, given_lines(stub_cells.get(task, ""))), task)
                     for task, source in tasks.items()}
              for name, tasks in cells.items()}
    names = list(prints)
    sets = {name: {h for task in prints[name].values() for h in task} for name in names}
    owners: dict[int, list[int]] = defaultdict(list)
    for index, name in enumerate(names):
        for h in sets[name]:
            owners[h].append(index)
    limit = max(2, math.floor(COMMON_SHARE * len(names)))
    common = {h for h, who in owners.items() if len(who) > limit}
    sizes = [len(sets[name] - common) for name in names]
    shared: Counter = Counter()
    for h, who in owners.items():
        if h not in common:
            shared.update(combinations(who, 2))
    pairs = [Pair(names[i], names[j], n / (sizes[i] + sizes[j] - n), n) for (i, j), n in shared.items()]
    pairs.sort(key=lambda p: (-p.score, -p.shared, p.a, p.b))
    return Similarity(names, prints, common, pairs, threshold, limit)
