"""Read every input file one way: the run config, platform and model files (YAML or a Hugging Face
``config.json``), calibration files and an export's ``design.json``.

Hostile input is refused with one :class:`UserError` naming the file, where and why, before it
can cost time or memory:

- only a regular file is read (a FIFO would block for ever, ``/dev/zero`` never ends, a folder
  has no text), and at most :data:`MAX_FILE_BYTES` of it;
- the text must be UTF-8;
- YAML goes through the safe loader, bounded while it is composed: nesting
  (:data:`MAX_DEPTH`), the node count once aliases are expanded (:data:`MAX_NODES`: an alias
  bomb is a few lines that expand to billions of nodes) and recursive aliases;
- a mapping key may appear once (YAML and JSON alike: with "last one wins" an appended
  ``cameras: 64`` silently replaced the first);
- numbers are read as YAML 1.2 reads them: a leading zero (``012``, octal 10 in YAML 1.1, 12 in
  YAML 1.2), ``0b``, ``1_000`` and base-60 ``1:30`` are refused rather than read one way or the
  other, and an integer has at most :data:`MAX_INT_DIGITS` digits (Python refuses to convert
  more than 4,300 digits, with an exception rather than a message).
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from dse.errors import UserError

#: Largest input file read, in bytes. Assumption: the largest shipped input (a platform file)
#: is about 20 KB and an export's design.json under 100 KB; 8 MiB leaves a wide margin.
MAX_FILE_BYTES = 8 * 2**20
#: Deepest nesting of mappings and lists. Assumption: the shipped files nest at most 6 levels.
MAX_DEPTH = 64
#: Most YAML nodes once aliases are expanded. Assumption: the largest shipped file has about
#: 1,000 nodes; an alias bomb of 9 levels of 9 has 9^9 = 387 M.
MAX_NODES = 200_000
#: Most digits of an integer literal: int64 has 19; nothing in a config needs more.
MAX_INT_DIGITS = 64


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def read_bytes(path: str | os.PathLike[str], *, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    Opened without blocking (a FIFO with no writer would block the open) and checked with
    ``fstat`` on the open file, so what is read is what was checked.

    Raises:
        UserError: a missing or unreadable file, a folder, FIFO, device or socket, or more than
            ``limit`` bytes.
    """
    p = str(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UserError("file does not exist", file=p) from None
    except OSError as exc:
        raise UserError(f"cannot read file ({exc.strerror})", file=p) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UserError(
                f"cannot read it: it is {_kind(st.st_mode)}", file=p, allowed="a regular file"
            )
        if st.st_size > limit:
            raise UserError(
                f"file too large ({st.st_size:,} bytes)", file=p, allowed=f"at most {limit:,} bytes"
            )
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # it grew while being read
                raise UserError("file too large", file=p, allowed=f"at most {limit:,} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise UserError(f"cannot read file ({exc.strerror})", file=p) from None
    finally:
        os.close(fd)


def decode_utf8(raw: bytes, *, file: str) -> str:
    """Bytes of a text file -> str; a byte that is not UTF-8 is a UserError naming its line."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UserError(
            f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line} ({exc.reason})",
            file=file,
            allowed="a UTF-8 text file",
        ) from None


def read_text(path: str | os.PathLike[str], *, limit: int = MAX_FILE_BYTES) -> str:
    """A regular file's UTF-8 text (:func:`read_bytes`, :func:`decode_utf8`)."""
    return decode_utf8(read_bytes(path, limit=limit), file=str(path))


# ---- YAML -----------------------------------------------------------------------------------

#: YAML 1.1 integer forms that YAML 1.2 reads otherwise (or not as numbers): binary, a leading
#: zero (octal in 1.1, decimal in 1.2), digit separators, base 60.
_INT_11_ONLY = re.compile(r"[-+]?(0b[01_]+|0[0-7_]+|[0-9][0-9_]*(:[0-5]?[0-9])+|.*_.*)")
_FLOAT_11_ONLY = re.compile(r"[-+]?([0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*|.*_.*)")


class _Refused(yaml.YAMLError):
    """A limit of this loader, reported like a syntax error (with its line)."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem, self.problem_mark = problem, mark


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with the bounds and YAML 1.2 numbers of this module."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(
                    f"nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` then keys that override it: the point of a merge
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _Refused(
                        "a mapping key must be a plain value", key_node.start_mark
                    ) from None
                key = self.construct_object(key_node)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:
                    raise _Refused(
                        "a mapping key must be a plain value", key_node.start_mark
                    ) from None
                if first is not key_node:
                    raise _Refused(
                        f"duplicate key {key!r} (first at line {first.start_mark.line + 1}); "
                        "each key may appear once",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


def _construct_int(loader: _Loader, node: Any) -> int:
    text = str(loader.construct_scalar(node))
    if _INT_11_ONLY.fullmatch(text):
        raise _Refused(
            f"number {text!r} is read differently by YAML 1.1 and 1.2 (leading zero, 0b, "
            "'_' or ':'); write it in plain decimal digits",
            node.start_mark,
        )
    digits = len(text.lstrip("+-"))
    if digits > MAX_INT_DIGITS:
        raise _Refused(
            f"integer of {digits:,} digits (at most {MAX_INT_DIGITS})", node.start_mark
        )
    return int(yaml.SafeLoader.construct_yaml_int(loader, node))


def _construct_float(loader: _Loader, node: Any) -> float:
    text = str(loader.construct_scalar(node))
    if _FLOAT_11_ONLY.fullmatch(text):
        raise _Refused(
            f"number {text!r} is YAML 1.1 only ('_' or ':'); write it in plain digits",
            node.start_mark,
        )
    return float(yaml.SafeLoader.construct_yaml_float(loader, node))


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def _expanded_size(root: Any) -> None:
    """Refuse a node graph that expands (aliases followed) past MAX_NODES or into itself.

    Nodes are visited in document order and their sizes remembered, so an alias (which always
    names an earlier anchor) costs one look-up; the recursion is as deep as the composed
    document (at most MAX_DEPTH).
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: Any) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise _Refused("a recursive alias (a node that contains itself)", node.start_mark)
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        open_nodes.discard(key)
        if total > MAX_NODES:
            raise _Refused(
                f"expands to more than {MAX_NODES:,} values (aliases followed)", node.start_mark
            )
        sizes[key] = total
        return total

    size(root)


def parse_yaml(text: str, *, file: str) -> Any:
    """Parse YAML text with the bounded safe loader; None for an empty document.

    Raises:
        UserError: naming the file, the line and column, and the problem.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise UserError(f"malformed YAML{where}: {problem}", file=file) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. !!int "x", a bad timestamp
        raise UserError(f"malformed YAML: {str(exc).splitlines()[0][:200]}", file=file) from None
    except RecursionError:
        raise UserError("malformed YAML: nested too deeply", file=file) from None
    finally:
        loader.dispose()


def load_yaml(path: str | os.PathLike[str]) -> Any:
    """A YAML file, read (:func:`read_text`) and parsed (:func:`parse_yaml`)."""
    return parse_yaml(read_text(path), file=str(path))


# ---- JSON -----------------------------------------------------------------------------------

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON text (strings skipped)."""
    depth = deepest = 0
    for m in _JSON_BRACKET.finditer(_JSON_STRING.sub('""', text)):
        depth += 1 if m.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def parse_json(text: str, *, file: str) -> Any:
    """Parse JSON text: duplicate keys, NaN and Infinity, over-long integers and nesting deeper
    than MAX_DEPTH are refused.

    Raises:
        UserError: naming the file and the problem (with line and column for syntax errors).
    """
    if _json_depth(text) > MAX_DEPTH:
        raise UserError(f"malformed JSON: nested more than {MAX_DEPTH} levels deep", file=file)

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise UserError(
                    "malformed JSON: duplicate key; each key may appear once", file=file, key=k
                )
            out[k] = v
        return out

    def integer(s: str) -> int:
        if len(s.lstrip("-")) > MAX_INT_DIGITS:
            raise UserError(
                f"malformed JSON: integer of {len(s.lstrip('-')):,} digits "
                f"(at most {MAX_INT_DIGITS})",
                file=file,
            )
        return int(s)

    def constant(s: str) -> Any:
        raise UserError(f"malformed JSON: {s} is not a JSON number", file=file)

    try:
        return json.loads(
            text, object_pairs_hook=pairs, parse_int=integer, parse_constant=constant
        )
    except json.JSONDecodeError as exc:
        raise UserError(
            f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", file=file
        ) from None
    except RecursionError:
        raise UserError("malformed JSON: nested too deeply", file=file) from None


def load_json(path: str | os.PathLike[str]) -> Any:
    """A JSON file, read (:func:`read_text`) and parsed (:func:`parse_json`)."""
    return parse_json(read_text(path), file=str(path))


def load_any(path: str | os.PathLike[str]) -> Any:
    """A ``.json`` file as JSON, anything else as YAML."""
    return load_json(path) if Path(path).suffix.lower() == ".json" else load_yaml(path)


__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_INT_DIGITS",
    "MAX_NODES",
    "decode_utf8",
    "load_any",
    "load_json",
    "load_yaml",
    "parse_json",
    "parse_yaml",
    "read_bytes",
    "read_text",
]
