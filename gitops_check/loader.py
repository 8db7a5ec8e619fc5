"""Parse YAML streams into Documents, strictly and safely: every bad input is an InputError (exit 2) of one
line that names the file and line.

What a document means is what Kubernetes tooling sees: kubectl and Argo CD read YAML with
sigs.k8s.io/yaml (Go's yaml.v2, YAML 1.1 scalars), then hand the JSON to the API server. So:

- timestamps and dates (`2024-01-01`) stay the strings they are written as, and so does anything that is
  not a Go integer or float (`1:30`, `0o8`, `1e400`); `yes`/`no`/`on`/`off`/`y`/`n` are booleans and `0x1F`,
  `0o17`, `1_000` integers, as in YAML 1.1; a whole float (`3.0`, `1e3`) is the integer JSON carries;
- mapping keys are strings (`1:` is "1", `true:` is "true"); a null, a sequence or a mapping as a key is an
  error, and so is a duplicate key, and a `.inf`/`.nan` value (JSON has no such number);
- merge keys (`<<: *base`) follow YAML's override semantics: a key written in the mapping overrides the
  merged one (that is no duplicate), and of several merged mappings the first wins.

Hostile input is refused before it costs anything: a file larger than MAX_FILE_BYTES, nesting deeper than
MAX_DEPTH, more than MAX_ALIAS_NODES nodes produced through aliases in one file (a 582-byte "billion laughs"
expands to 387 million), more than MAX_NODES nodes in one file, and aliases that refer to themselves. The
stream is built from libyaml's parse events by an iterative builder: no recursion, so no depth crashes the
process (libyaml's own composer is recursive and overflows the C stack at about 100,000 levels).
"""

from __future__ import annotations

import base64
import binascii
import errno
import math
from decimal import Decimal
import os
import re
import stat
import struct
from pathlib import Path
from typing import Any

import yaml
from yaml import events as ev

from .errors import InputError
from .model import Document

try:  # libyaml's parser is several times faster on large rendered streams
    _Base = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Base = yaml.SafeLoader

MAX_FILE_BYTES = 64 * 1024 * 1024  # one manifest file or one rendered overlay
MAX_DEPTH = 100  # nested mappings and sequences; the deepest locked upstream CRD has 38
MAX_ALIAS_NODES = 100_000  # nodes produced through aliases in one file (each alias counts its whole value)
MAX_NODES = 5_000_000  # nodes in one file, aliases expanded (a 50 MB stream of 50,000 objects has ~2 million)
# Characters the substitutions of one template may add: an ApplicationSet's list elements, an AnalysisTemplate's
# args, a dashboard's variables. A 100 kB value (one YAML alias, used by 300 elements) in 1,000 placeholders made
# gigabytes; the real templates here expand to a few kilobytes.
MAX_EXPANDED = 1 << 20


class Expansion:
    """The characters WHAT's placeholder substitutions may still produce; past MAX_EXPANDED, an InputError naming it."""

    def __init__(self, what: str, limit: int = MAX_EXPANDED):
        self.what, self.left = what, limit

    def sub(self, pattern: re.Pattern, text: str, value_of) -> str:
        """pattern.sub(value_of, text), what the substitutions add counted against what is left (what the template
        holds as written is the input's, bounded by the loader: 150 elements of a template with 6.5 kB of Helm
        values are 1 MB of it, and fine)."""
        def replace(match: re.Match) -> str:
            value = value_of(match)
            self.left -= len(value) - len(match.group(0))
            if self.left < 0:
                raise InputError(f"{self.what}: its placeholders add more than {MAX_EXPANDED:,} characters: refused")
            return value

        return pattern.sub(replace, text)


class _StrictLoader(_Base):  # type: ignore[misc, valid-type]
    """PyYAML's loader for the small files that want PyYAML's nodes and values (waivers.yaml: entry lines,
    dates). The text is first read by parse()'s builder, so the limits, duplicate keys (merge keys with YAML's
    override rule) and key types are judged as for manifests, and PyYAML's recursive composer, which overflows
    the C stack on deep nesting, only sees what passed. A refusal is a yaml.YAMLError at its line (`_where`)."""

    def __init__(self, stream: str) -> None:
        _precheck(stream)
        super().__init__(stream)


def _bounded(tag: str, construct):
    """PyYAML's constructor for TAG, refusing what it cannot or should not build: an integer of more than 100
    characters (a 1 MB base-60 `1:59:59:...` took 47 s, 5,000 digits are a ValueError), a date that does not exist
    (`2024-02-30`). The refusal names the line, never the value (it can be a secret)."""
    what = {"int": "an integer", "float": "a number", "timestamp": "a date"}[tag]

    def constructor(loader, node):
        if len(str(node.value)) > 100 and tag in ("int", "float"):
            raise yaml.constructor.ConstructorError(None, None, f"{what} longer than 100 characters: refused", node.start_mark)
        try:
            return construct(loader, node)
        except (ValueError, OverflowError):
            raise yaml.constructor.ConstructorError(None, None, f"not a valid {what.split()[1]} (not shown)", node.start_mark) from None
    return constructor


for _tag in ("int", "float", "timestamp"):
    _StrictLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _bounded(_tag, _Base.yaml_constructors[f"tag:yaml.org,2002:{_tag}"]))


def data_file(path: Path) -> Any:
    """The first document of one of the repository's data files (policies/data/params.yaml, the ingress
    annotations) as yaml.safe_load reads it, with libyaml's speed (the pure-Python parser took 50 ms a run over
    these files). A pull request can replace them: the file is read as read_text() reads any file (regular files
    only, never blocking, size-capped, UTF-8) and gets parse()'s limits before libyaml's recursive composer, which
    kills the process on deep nesting; an InputError naming it and the line otherwise. FileNotFoundError passes
    through, for the caller to say how the file is made."""
    if not os.path.lexists(path):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
    try:
        return yaml.load(read_text(path, str(path)), Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise InputError(_where(str(path), exc)) from None


def _precheck(text: str) -> None:
    if len(text) > MAX_FILE_BYTES:
        raise yaml.constructor.ConstructorError(None, None, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB: refused", None)
    parser = _Base(text)
    try:
        _Builder().documents(parser)
    except _Refused as exc:
        mark = yaml.Mark("<text>", 0, exc.line - 1, 0, None, None)
        raise yaml.constructor.ConstructorError(None, None, exc.message.removeprefix("invalid YAML: "), mark) from None
    finally:
        parser.dispose()


def _where(source: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = f":{mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None and context_mark is not mark:
        problem += f" ({context} started at line {context_mark.line + 1})"
    return f"{source}{line}: invalid YAML: {problem}"


# --------------------------------------------------------------------------------------------- scalars
# Go's yaml.v2 resolve(), which sigs.k8s.io/yaml (kubectl, Argo CD) decodes with.

_TAG = "tag:yaml.org,2002:"
_SPECIAL: dict[str, Any] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_DIGITS = {16: frozenset("0123456789abcdefABCDEF"), 10: frozenset("0123456789"), 8: frozenset("01234567"), 2: frozenset("01")}
_PREFIX = {"0x": 16, "0X": 16, "0o": 8, "0O": 8, "0b": 2, "0B": 2}
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")  # yaml.v2's yamlStyleFloat
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")  # what Go's ParseFloat takes of a value starting with "."
_INT64 = 1 << 63
_NOT = object()  # "not a number"


def _go_int(text: str) -> Any:
    """strconv.ParseInt(text, 0, 64), falling back to ParseUint: an int, or _NOT."""
    sign, body = (-1, text[1:]) if text[:1] == "-" else (1, text[1:] if text[:1] == "+" else text)
    base = _PREFIX.get(body[:2], 0)
    if base:
        digits = body[2:]
    elif body[:1] == "0" and len(body) > 1:
        base, digits = 8, body[1:]
    else:
        base, digits = 10, body
    if not digits or not set(digits) <= _DIGITS[base] or len(digits.lstrip("0")) > 64:
        return _NOT  # (more than 64 digits is out of range in any base, and int() of 4,300 raises)
    value = sign * int(digits, base)
    if -_INT64 <= value < _INT64 or (text[:1] not in "+-" and value < 2 * _INT64):
        return value
    return _NOT


def _number(value: float) -> Any:
    """A float as JSON carries it after Go: a whole one (3.0, 1e3) is the integer it prints as. Go prints the
    shortest digits that read back as the same float, then zeros (1.8446744073709552e+19 is 18446744073709552000,
    not the float's exact 18446744073709551616): what sigs.k8s.io/yaml, and so Argo CD, sends."""
    if not value.is_integer() or abs(value) >= 1e21:
        return value
    return int(value) if abs(value) <= 2**53 else int(Decimal(repr(value)))


def _plain(text: str) -> Any:
    """The value of an untagged plain scalar."""
    if text in _SPECIAL:
        return _SPECIAL[text]
    first = text[0]
    if first == ".":
        return _number(float(text)) if _DOT_FLOAT.fullmatch(text) else text
    if first.isdigit() and first.isascii() or first in "+-":
        plain = text.replace("_", "")
        number = _go_int(plain)
        if number is not _NOT:
            return number
        if _FLOAT.fullmatch(plain):
            value = float(plain)
            if not math.isinf(value):  # Go's ParseFloat fails on overflow: the text stays a string
                return _number(value)
        # timestamps and dates (2024-01-01) land here: into an interface{} yaml.v2 keeps them as strings
    return text


def _go_float_key(value: float) -> str:
    """strconv.FormatFloat(value, 'g', -1, 32), as sigs.k8s.io/yaml spells a float mapping key."""
    if math.isnan(value):
        return ".nan"
    try:
        f32 = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        f32 = math.copysign(math.inf, value)
    if math.isinf(f32):
        return ".inf" if f32 > 0 else "-.inf"
    if f32 == 0:
        return "0" if math.copysign(1, f32) > 0 else "-0"
    for digits in range(1, 10):
        shortest = f"{f32:.{digits - 1}e}"
        if struct.unpack("f", struct.pack("f", float(shortest)))[0] == f32:
            break
    mantissa, exponent = shortest.split("e")
    exp = int(exponent)
    if exp < -4 or exp >= 6:
        return f"{mantissa.rstrip('0').rstrip('.') if '.' in mantissa else mantissa}e{exp:+03d}"
    return f"{f32:.{max(digits - 1 - exp, 0)}f}"


class _Refused(Exception):
    """Raised inside the builder; parse() turns it into an InputError naming the file and line."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line, self.message = line, message


def _line(event: ev.Event) -> int:
    return event.start_mark.line + 1


def _scalar(event: ev.ScalarEvent) -> Any:
    tag, text = event.tag, event.value
    if tag is None:
        return text if event.style else _plain(text)  # plain scalars only (libyaml: style "")
    if tag == "!" or not tag.startswith(_TAG):
        return text  # a non-specific or a custom tag: yaml.v2 keeps the text
    kind = tag[len(_TAG):]
    if kind in ("str", "timestamp"):
        return text
    if kind == "binary":
        try:
            return base64.b64decode("".join(text.split()), validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            raise _Refused(_line(event), "invalid YAML: the !!binary value is not base64 (not shown: it may be a secret)") from None
    if kind not in ("int", "float", "bool", "null"):
        return text
    value = _plain(text)
    if kind == "float" and type(value) is int:
        return value  # !!float 3: the number 3
    wanted = {"int": (int,), "float": (float, int), "bool": (bool,), "null": (type(None),)}[kind]
    if type(value) not in wanted:
        raise _Refused(_line(event), f"invalid YAML: the value is not a !!{kind} (not shown: it may be a secret)")
    return value


def _key(value: Any, line: int) -> str:
    """A mapping key as sigs.k8s.io/yaml writes it into JSON."""
    if type(value) is str:
        return value
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is float:
        return _go_float_key(value)
    if value is None:
        raise _Refused(line, "invalid YAML: a mapping key is null: Kubernetes objects have string keys")
    raise _Refused(line, f"invalid YAML: a {_kind(value)} as a mapping key: Kubernetes objects have string keys")


def _kind(value: Any) -> str:
    """What a value is, in YAML's words."""
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "sequence"
    return {bool: "boolean", int: "number", float: "number", str: "string", type(None): "null"}.get(type(value), type(value).__name__)


_MERGE = object()  # the key `<<`
_OPEN = object()  # an anchor whose collection is still being built: an alias to it is a cycle


class _Frame:
    __slots__ = ("obj", "line", "anchor", "size", "height", "key", "key_line", "lines", "merges", "is_map")

    def __init__(self, obj: Any, line: int, anchor: str | None):
        self.obj, self.line, self.anchor = obj, line, anchor
        self.size, self.height = 1, 0
        self.is_map = isinstance(obj, dict)
        self.key: Any = None  # the pending key of a mapping (None: the next node is a key)
        self.key_line = 0
        self.lines: dict[str, int] = {}  # key -> line, for duplicate keys
        self.merges: list[tuple[Any, int]] = []


class _Builder:
    """Builds documents from parse events, with the budgets. One per stream."""

    def __init__(self) -> None:
        self.alias_nodes = 0
        self.nodes = 0
        self.anchors: dict[str, tuple[Any, int, int]] = {}  # name -> (value, size, height)

    def documents(self, parser: Any) -> list[tuple[int, Any]]:
        """(line, value) of every document of the stream."""
        docs: list[tuple[int, Any]] = []
        stack: list[_Frame] = []
        root: list[tuple[int, Any]] = []
        while True:
            event = parser.get_event()
            cls = type(event)
            if cls is ev.ScalarEvent:
                if (
                    stack and stack[-1].is_map and stack[-1].key is None
                    and event.tag is None and not event.style and event.value == "<<"
                ):
                    value: Any = _MERGE
                else:
                    value = _scalar(event)
                if event.anchor is not None:  # an alias of `<<` is the text: only the key itself merges
                    self.anchors[event.anchor] = ("<<" if value is _MERGE else value, 1, 0)
                self._add(stack, root, value, 1, 0, _line(event))
            elif cls is ev.AliasEvent:
                target = self.anchors.get(event.anchor)
                if target is None:
                    raise _Refused(_line(event), f"invalid YAML: found undefined alias {event.anchor!r}")
                value, size, height = target
                if value is _OPEN:
                    raise _Refused(_line(event), f"invalid YAML: alias *{event.anchor} refers to the node that contains it")
                self.alias_nodes += size
                if self.alias_nodes > MAX_ALIAS_NODES:
                    raise _Refused(
                        _line(event),
                        f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes (*{event.anchor} alone is {size:,}): "
                        "refused as a YAML alias bomb",
                    )
                if len(stack) + height > MAX_DEPTH:
                    raise _Refused(_line(event), f"alias *{event.anchor} nests deeper than {MAX_DEPTH} levels: refused")
                self._add(stack, root, value, size, height, _line(event), new=size)
            elif cls is ev.MappingStartEvent or cls is ev.SequenceStartEvent:
                if len(stack) >= MAX_DEPTH:
                    raise _Refused(_line(event), f"nesting deeper than {MAX_DEPTH} levels: refused")
                if stack and stack[-1].is_map and stack[-1].key is None:
                    kind = "mapping" if cls is ev.MappingStartEvent else "sequence"
                    raise _Refused(_line(event), f"invalid YAML: a {kind} as a mapping key: Kubernetes objects have string keys")
                if event.anchor is not None:
                    self.anchors[event.anchor] = (_OPEN, 0, 0)
                stack.append(_Frame({} if cls is ev.MappingStartEvent else [], _line(event), event.anchor))
            elif cls is ev.MappingEndEvent or cls is ev.SequenceEndEvent:
                frame = stack.pop()
                if frame.merges:
                    self._merge(frame)
                if frame.anchor is not None:
                    self.anchors[frame.anchor] = (frame.obj, frame.size, frame.height)
                self._add(stack, root, frame.obj, frame.size, frame.height, frame.line)
            elif cls is ev.DocumentStartEvent:
                self.anchors = {}  # anchors do not cross documents
                root.clear()
            elif cls is ev.DocumentEndEvent:
                docs.extend(root)
            elif cls is ev.StreamEndEvent:
                return docs

    def _add(self, stack: list[_Frame], root: list[tuple[int, Any]], value: Any, size: int, height: int, line: int,
             new: int = 1) -> None:
        """Put a finished node into its parent (or make it the document). `size` is the nodes it stands for,
        aliases expanded; `new` the ones not counted yet (a finished collection's children already are)."""
        self.nodes += new
        if self.nodes > MAX_NODES:
            raise _Refused(line, f"more than {MAX_NODES:,} nodes in one file: refused")
        if not stack:
            root.append((line, "<<" if value is _MERGE else value))
            return
        parent = stack[-1]
        parent.size += size
        if height >= parent.height:
            parent.height = height + 1
        if not parent.is_map:
            parent.obj.append(value)
            return
        if parent.key is None:  # a key
            if value is _MERGE:
                if parent.merges:
                    raise _Refused(line, "invalid YAML: duplicate key '<<'")
                parent.key, parent.key_line = _MERGE, line
                return
            key = _key(value, line)
            first = parent.lines.get(key)
            if first is not None:
                raise _Refused(line, f"invalid YAML: duplicate key {key!r} (first at line {first})")
            parent.lines[key] = line
            parent.key, parent.key_line = key, line
            return
        key, parent.key = parent.key, None
        if key is _MERGE:
            parent.merges.append((value, parent.key_line))
        else:
            parent.obj[key] = value

    @staticmethod
    def _merge(frame: _Frame) -> None:
        """`<<`: merged keys fill what the mapping does not set itself; the first merged mapping wins."""
        value, line = frame.merges[0]
        sources = value if isinstance(value, list) else [value]
        if not sources or not all(isinstance(s, dict) for s in sources):
            raise _Refused(line, "invalid YAML: a merge key (<<) needs a mapping or a sequence of mappings")
        obj = frame.obj
        for merged in sources:
            for key, item in merged.items():
                if key not in obj:
                    obj[key] = item


def load_all(text: str, source: str) -> list[tuple[int, Any]]:
    """(line, value) of every non-empty document of a YAML (or JSON) stream, within the limits above;
    InputError naming `source` and the line otherwise."""
    if len(text) > MAX_FILE_BYTES:
        raise InputError(f"{source}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB: refused")
    parser = _Base(text)
    try:
        return [(line, value) for line, value in _Builder().documents(parser) if value is not None]
    except yaml.YAMLError as exc:
        raise InputError(_where(source, exc)) from None
    except _Refused as exc:
        raise InputError(f"{source}:{exc.line}: {exc.message}") from None
    except RecursionError:  # pragma: no cover - the builder does not recurse; a last line of defence
        raise InputError(f"{source}: nesting too deep: refused") from None
    finally:
        parser.dispose()


def safe_load(text: str, source: str) -> Any:
    """The first document of `text` (None when empty), with parse()'s meaning and limits: for YAML that
    manifests embed (a ConfigMap value). InputError on anything parse() refuses."""
    docs = load_all(text, source)
    return docs[0][1] if docs else None


def parse(text: str, source: str, *, require_kind: bool = True) -> list[Document]:
    """Every non-empty document of a YAML stream, with the line it starts on.

    `source` names the file or overlay in error messages. Lists (`kind: List` or a bare list) are
    flattened into their items.
    """
    docs: list[Document] = []
    for line, obj in load_all(text, source):
        items = obj.get("items") if isinstance(obj, dict) and obj.get("kind") == "List" else None
        for item in items if isinstance(items, list) else [obj]:
            docs.append(_document(item, source, line, require_kind))
    if not docs:
        raise InputError(f"{source}: no Kubernetes objects found (empty file or only comments)")
    return docs


def _document(obj: object, source: str, line: int, require_kind: bool) -> Document:
    if not isinstance(obj, dict):
        raise InputError(f"{source}:{line}: document is a {_kind(obj)}, expected a Kubernetes object (mapping)")
    _json_numbers(obj, source, line)
    if require_kind:
        missing = [k for k in ("apiVersion", "kind") if not obj.get(k)]
        if missing:
            name = (obj.get("metadata") or {}).get("name") if isinstance(obj.get("metadata"), dict) else None
            what = f" ({name})" if isinstance(name, str) and name else ""
            raise InputError(f"{source}:{line}: document{what} has no {' and no '.join(missing)}")
        if not isinstance(obj["kind"], str) or not isinstance(obj["apiVersion"], str):
            raise InputError(f"{source}:{line}: apiVersion and kind must be strings")  # kubectl cannot read it either
        meta = obj.get("metadata")
        if not isinstance(meta, dict) or not (meta.get("name") or meta.get("generateName")):
            raise InputError(f"{source}:{line}: {obj['kind']} has no metadata.name: every object needs a name")
        for field in ("name", "namespace", "generateName"):
            if meta.get(field) is not None and not isinstance(meta[field], str):
                raise InputError(f"{source}:{line}: {obj['kind']} metadata.{field} is a {_kind(meta[field])}, not a string")
        spec = obj.get("spec")
        if spec is not None and not isinstance(spec, dict):  # every kind's spec is an object; stages read it as one
            raise InputError(f"{source}:{line}: {obj['kind']} {meta.get('name') or ''}: spec is a {_kind(spec)}, not a mapping")
    return Document(obj=obj, source=source, line=line)


def _json_numbers(obj: Any, source: str, line: int) -> None:
    """JSON, which the API server reads, has no NaN or infinity (kubectl fails on them the same way)."""
    seen: set[int] = set()
    pending = [obj]
    while pending:
        value = pending.pop()
        if type(value) is float and not math.isfinite(value):
            raise InputError(f"{source}:{line}: the document holds {value!r}, which is not a JSON number: refused")
        if isinstance(value, (dict, list)) and id(value) not in seen:
            seen.add(id(value))  # shared (aliased) values are looked at once
            pending.extend(value.values() if isinstance(value, dict) else value)


def read_file(path: Path, source: str | None = None) -> list[Document]:
    """parse() of a regular file (FIFOs and devices are refused: reading one could block or never end)."""
    source = source or str(path)
    return parse(read_text(path, source), source)


def read_text(path: Path, source: str | None = None) -> str:
    """The UTF-8 text of a regular file no larger than MAX_FILE_BYTES; InputError naming `source` otherwise."""
    source = source or str(path)
    data = read_bytes(path, source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: cannot read: not UTF-8 (byte {exc.start})") from None


def read_bytes(path: Path | str, source: str | None = None) -> bytes:
    """The bytes of a regular file no larger than MAX_FILE_BYTES, read without blocking: a FIFO, a device or a
    /proc file a pull request names (directly or through a symbolic link) is refused, never waited on.
    InputError naming `source` otherwise."""
    source = source or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        what = "a broken symbolic link" if os.path.islink(path) else "no such file or directory"
        raise InputError(f"{source}: {what}") from None
    except OSError as exc:
        raise InputError(f"{source}: cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise InputError(f"{source}: {what}: expected a YAML or JSON manifest file")
        if info.st_size > MAX_FILE_BYTES:
            raise InputError(f"{source}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB: refused")
        with os.fdopen(fd, "rb", closefd=True) as handle:
            fd = -1
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{source}: cannot read: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if data is None:  # a regular file only in name (/proc/kmsg): nothing to read now, and it would wait
        raise InputError(f"{source}: cannot read: it would block (not a file on disk): refused")
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"{source}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB: refused")
    return data
