"""Plain data between the grader and its child: one ``.npz`` file, never pickle.

A value is described by JSON that points at arrays stored next to it::

    {"array": "a3"}                  a NumPy array (member a3.npy); {"array": "a3", "as": "tensor" | "complex"}
    {"int": 7}  {"bool": true}  {"float": 0.5}  {"str": "text"}  {"none": true}
    {"list": [...]}  {"tuple": [...]}  {"dict": [["key", value], ...]}

Case arguments (grader to child only) may also hold a few public objects, rebuilt
in the child without running any code the grader did not choose::

    {"rng": {"name": "PCG64", "state": ...}}                       a NumPy Generator
    {"ref": {"module": "cvcourse_utils.labchecks.lab04", "qualname": "f"}}   a function or class
    {"partial": {"func": ref, "args": [...], "kwargs": [[k, v], ...]}}
    {"object": {"class": ref, "state": [[k, v], ...]}}            an instance rebuilt from its __dict__

Only modules of the ``cvcourse_utils`` package (public code) may be referenced;
results (child to grader) may hold none of these. The JSON itself is the member
``__json__`` (UTF-8 bytes). The reader checks every array header before it reads
any data (size and dtype), so a hostile file can neither unpickle anything nor
make the grader allocate more than ``budget`` bytes.
"""
from __future__ import annotations

import functools
import io
import json
import re
import types
import zipfile
from typing import Any

import numpy as np

JSON_MEMBER = "__json__"
ALLOWED_KINDS = "biufcU"  # bool, int, unsigned, float, complex, unicode; never object, void or datetime
MAX_DEPTH = 32
_MEMBER = re.compile(r"^(a[0-9]{1,7}|__json__)\.npy$")


class WireError(ValueError):
    """A file that does not follow the format above."""


def _is_public(module: str | None, extra: tuple[str, ...]) -> bool:
    return bool(module) and (module.startswith("cvcourse_utils.") or module in extra)


class Writer:
    """Collects arrays while values are encoded, then writes one ``.npz``.

    ``modules`` names extra modules (a fixture lab's tasks module) whose functions
    and objects may be sent, besides those of ``cvcourse_utils``.
    """

    def __init__(self, modules: tuple[str, ...] = ()) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.modules = tuple(modules)

    def _store(self, array: np.ndarray) -> str:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = array
        return key

    def _ref(self, obj: Any) -> dict:
        module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "")
        if not _is_public(module, self.modules) or "<" in qualname:
            raise TypeError(f"{obj!r} is not a module-level function or class of cvcourse_utils")
        return {"ref": {"module": module, "qualname": qualname}}

    def encode(self, value: Any, depth: int = 0) -> Any:
        """Describe ``value``: arrays, tensors, numbers, strings, None, lists, tuples, str-keyed dicts (and a few public objects)."""
        if depth > MAX_DEPTH:
            raise TypeError("value is nested too deeply")
        if value is None:
            return {"none": True}
        kind = type(value)
        if kind is str:
            return {"str": value}
        if kind is bool:
            return {"bool": value}
        if kind is int:
            return {"int": value}
        if kind is float:
            return {"float": value}
        if kind is complex:
            return {"array": self._store(np.asarray(value)), "as": "complex"}
        if isinstance(value, np.generic):
            value = np.asarray(value)
        if type(value) is np.ndarray:
            if value.dtype.kind not in ALLOWED_KINDS:
                raise TypeError(f"arrays of dtype {value.dtype} cannot be sent")
            return {"array": self._store(np.array(value, copy=True))}
        if kind in (list, tuple):
            return {kind.__name__: [self.encode(v, depth + 1) for v in value]}
        if kind is dict:
            if not all(type(k) is str for k in value):
                raise TypeError("dicts must have string keys")
            return {"dict": [[k, self.encode(v, depth + 1)] for k, v in value.items()]}
        try:
            import torch

            if kind is torch.Tensor:
                return {"array": self._store(value.detach().cpu().numpy().copy()), "as": "tensor"}
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
        if kind is np.random.Generator:
            state = value.bit_generator.state
            return {"rng": {"name": state["bit_generator"], "state": self.encode(state, depth + 1)}}
        if kind is functools.partial:
            return {"partial": {"func": self._ref(value.func), "args": [self.encode(v, depth + 1) for v in value.args],
                                "kwargs": [[k, self.encode(v, depth + 1)] for k, v in value.keywords.items()]}}
        if isinstance(value, (types.FunctionType, type)):
            return self._ref(value)
        if _is_public(kind.__module__, self.modules) and hasattr(value, "__dict__") and not hasattr(kind, "__slots__"):
            return {"object": {"class": self._ref(kind), "state": [[k, self.encode(v, depth + 1)] for k, v in vars(value).items()]}}
        raise TypeError(f"a {kind.__name__} cannot be sent as plain data")

    def dumps(self, header: dict) -> bytes:
        buffer = io.BytesIO()
        members = dict(self.arrays)
        members[JSON_MEMBER] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
        np.savez(buffer, **members)
        return buffer.getvalue()


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> np.ndarray:
    fmt = np.lib.format
    with zf.open(info) as f:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
        else:
            raise WireError(f"unsupported .npy version {version}")
        if dtype.hasobject or dtype.kind not in ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise WireError(f"{info.filename}: dtype {dtype} is not allowed")
        count = 1
        for n in shape:
            count *= int(n)
        nbytes = count * dtype.itemsize
        if nbytes > budget:
            raise WireError(f"{info.filename}: {nbytes} bytes is more than the {budget} allowed")
        data = f.read(nbytes)
        if len(data) != nbytes:
            raise WireError(f"{info.filename}: truncated")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()


def loads(blob: bytes, budget: int = 256 << 20) -> tuple[Any, dict[str, np.ndarray]]:
    """Read a file written by :meth:`Writer.dumps`: ``(header, arrays)``, checking everything."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise WireError(f"not an npz file ({err})") from None
    if len(infos) > 100_000:
        raise WireError("too many members")
    arrays: dict[str, np.ndarray] = {}
    header = None
    left = budget
    for info in infos:
        if not _MEMBER.match(info.filename):
            raise WireError(f"unexpected member {info.filename!r}")
        try:
            array = _read_member(zf, info, left)
        except WireError:
            raise
        except Exception as err:  # malformed zip or npy data of any kind
            raise WireError(f"{info.filename}: unreadable ({type(err).__name__}: {err})") from None
        left -= array.nbytes
        name = info.filename[:-4]
        if name == JSON_MEMBER:
            if array.dtype != np.uint8 or array.ndim != 1:
                raise WireError("malformed header")
            try:
                header = json.loads(array.tobytes().decode("utf-8"))
            except (ValueError, RecursionError) as err:
                raise WireError(f"malformed header ({type(err).__name__})") from None
        else:
            arrays[name] = array
    if header is None:
        raise WireError("no header")
    return header, arrays


def _resolve(ref: Any, modules: tuple[str, ...]) -> Any:
    if not (isinstance(ref, dict) and set(ref) == {"ref"} and isinstance(ref["ref"], dict)):
        raise WireError("malformed reference")
    module, qualname = ref["ref"].get("module"), ref["ref"].get("qualname")
    if not (isinstance(module, str) and isinstance(qualname, str) and _is_public(module, modules)) or "<" in qualname:
        raise WireError(f"reference to {module}.{qualname} is not allowed")
    import importlib
    import sys

    obj = sys.modules.get(module) or importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def decode(description: Any, arrays: dict[str, np.ndarray], depth: int = 0, objects: tuple[str, ...] | None = None) -> Any:
    """Rebuild a value from its description.

    ``objects=None`` (the grader reading results) allows plain data only; in the
    child, ``objects`` is the tuple of extra modules whose objects may be rebuilt
    (tensors and public objects are rebuilt there).
    """
    if depth > MAX_DEPTH:
        raise WireError("value is nested too deeply")
    if not isinstance(description, dict) or len(description) not in (1, 2):
        raise WireError("malformed value")
    if "array" in description:
        key, kind = description["array"], description.get("as")
        if not isinstance(key, str) or key not in arrays or (len(description) == 2 and kind not in ("tensor", "complex")):
            raise WireError("malformed array reference")
        array = arrays[key]
        if kind == "complex":
            if array.size != 1:
                raise WireError("malformed scalar")
            return complex(array.item())
        if kind == "tensor" and objects is not None:
            import torch

            return torch.from_numpy(array)
        return array
    if len(description) != 1:
        raise WireError("malformed value")
    (tag, body), = description.items()
    again = functools.partial(decode, arrays=arrays, depth=depth + 1, objects=objects)
    if tag == "none" and body is True:
        return None
    if (tag == "str" and isinstance(body, str)) or (tag == "bool" and isinstance(body, bool)):
        return body
    if tag == "int" and type(body) is int:
        return body
    if tag == "float" and type(body) in (int, float):
        return float(body)
    if tag in ("list", "tuple") and isinstance(body, list):
        items = [again(v) for v in body]
        return items if tag == "list" else tuple(items)
    if tag == "dict" and isinstance(body, list):
        return _pairs(body, again)
    if objects is not None and isinstance(body, dict):
        if tag == "rng":
            generator = np.random.Generator(getattr(np.random, body["name"])())
            generator.bit_generator.state = again(body["state"])
            return generator
        if tag == "ref":
            return _resolve(description, objects)
        if tag == "partial":
            return functools.partial(_resolve(body["func"], objects), *[again(v) for v in body["args"]], **_pairs(body["kwargs"], again))
        if tag == "object":
            cls = _resolve(body["class"], objects)
            obj = cls.__new__(cls)
            obj.__dict__.update(_pairs(body["state"], again))
            return obj
    raise WireError(f"malformed value (tag {tag!r})")


def _pairs(body: Any, again) -> dict:
    out = {}
    if not isinstance(body, list):
        raise WireError("malformed dict")
    for pair in body:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
            raise WireError("malformed dict")
        out[pair[0]] = again(pair[1])
    return out
