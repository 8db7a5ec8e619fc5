"""Parse YAML streams into Documents, strictly: malformed YAML, duplicate keys, empty files and
documents without apiVersion/kind are InputErrors (exit 2) that name the file and line."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import InputError
from .model import Document

try:  # the C loader is several times faster on large rendered streams
    _Base = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Base = yaml.SafeLoader


class _StrictLoader(_Base):  # type: ignore[misc, valid-type]
    """SafeLoader that refuses duplicate mapping keys (YAML 1.2 forbids them; kubectl keeps the last)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})", mark
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _where(source: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = f":{mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None and context_mark is not mark:
        problem += f" ({context} started at line {context_mark.line + 1})"
    return f"{source}{line}: invalid YAML: {problem}"


def parse(text: str, source: str, *, require_kind: bool = True) -> list[Document]:
    """Every non-empty document of a YAML stream, with the line it starts on.

    `source` names the file or overlay in error messages. Lists (`kind: List` or a bare list) are
    flattened into their items.
    """
    docs: list[Document] = []
    loader = _StrictLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1
            obj = loader.construct_document(node)
            if obj is None:
                continue
            items = obj.get("items") if isinstance(obj, dict) and obj.get("kind") == "List" else None
            for item in items if isinstance(items, list) else [obj]:
                docs.append(_document(item, source, line, require_kind))
    except yaml.YAMLError as exc:
        raise InputError(_where(source, exc)) from None
    finally:
        loader.dispose()
    if not docs:
        raise InputError(f"{source}: no Kubernetes objects found (empty file or only comments)")
    return docs


def _document(obj: object, source: str, line: int, require_kind: bool) -> Document:
    if not isinstance(obj, dict):
        raise InputError(f"{source}:{line}: document is a {type(obj).__name__}, expected a Kubernetes object (mapping)")
    if require_kind:
        missing = [k for k in ("apiVersion", "kind") if not obj.get(k)]
        if missing:
            name = (obj.get("metadata") or {}).get("name") if isinstance(obj.get("metadata"), dict) else None
            what = f" ({name})" if name else ""
            raise InputError(f"{source}:{line}: document{what} has no {' and no '.join(missing)}")
        meta = obj.get("metadata")
        if not isinstance(meta, dict) or not (meta.get("name") or meta.get("generateName")):
            raise InputError(f"{source}:{line}: {obj['kind']} has no metadata.name: every object needs a name")
    return Document(obj=obj, source=source, line=line)


def read_file(path: Path, source: str | None = None) -> list[Document]:
    source = source or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{source}: no such file or directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{source}: cannot read: {exc}") from None
    return parse(text, source)
