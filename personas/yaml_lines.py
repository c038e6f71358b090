"""YAML loading that remembers where every value came from, so validation errors can name the line.

Shared by scenario and rubric loading: a teacher editing YAML needs "file, field, line", not a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

Loc = tuple[str | int, ...]


class YamlError(ValueError):
    """A YAML document that does not parse or does not validate; str() names file, field and line."""

    def __init__(self, source: str, problems: list[tuple[str, int | None, str]]):
        self.source = source
        self.problems = problems  # (field path, line, message)
        lines = [f"{source}: {len(problems)} problem(s) / {len(problems)} 处错误"]
        for field, line, msg in problems:
            where = f"line {line} / 第 {line} 行" if line else "line ? / 行号未知"
            lines.append(f"  - {field or '(document)'} ({where}): {msg}")
        super().__init__("\n".join(lines))


def _walk(node: yaml.Node, loc: Loc, out: dict[Loc, int]) -> Any:
    out[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _construct_scalar(key_node)
            result[key] = _walk(value_node, loc + (key,), out)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_walk(child, loc + (i,), out) for i, child in enumerate(node.value)]
    return _construct_scalar(node)


_SCALAR_LOADER = yaml.SafeLoader("")


def _construct_scalar(node: yaml.Node) -> Any:
    return _SCALAR_LOADER.construct_object(node, deep=True)


def load_yaml_with_lines(text: str, source: str = "<string>") -> tuple[Any, dict[Loc, int]]:
    """Parse YAML; return the data and a map from field path to 1-based line number."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise YamlError(source, [("", line, f"YAML syntax error: {getattr(exc, 'problem', exc)}")]) from exc
    if node is None:
        raise YamlError(source, [("", 1, "empty document / 文件为空")])
    lines: dict[Loc, int] = {}
    return _walk(node, (), lines), lines


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int | None:
    # the deepest prefix of the error location that exists in the document
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def validate_yaml(model: type[BaseModel], text: str, source: str, context: dict[str, Any] | None = None) -> Any:
    """Parse and validate YAML into `model`, raising YamlError that names file, field and line."""
    data, lines = load_yaml_with_lines(text, source)
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            field = ".".join(str(p) for p in loc)
            problems.append((field, _line_for(loc, lines), err["msg"]))
        raise YamlError(source, problems) from None


def validate_yaml_file(model: type[BaseModel], path: Path, context: dict[str, Any] | None = None) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlError(str(path), [("", None, f"cannot read file: {exc}")]) from exc
    return validate_yaml(model, text, str(path), context)
