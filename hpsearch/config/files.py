"""Config files: YAML read with the line of every key, ``--set`` overrides applied to what was
read, and config data written back as a file whose paths are relative to it.

What is read is plain YAML data (mappings that remember their lines); `hpsearch.config.checks`
turns it into a `Config`. Files are read with `yaml.safe_load`'s rules: no Python object is ever
built from a config.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hpsearch.errors import ConfigError

__all__ = ["YamlMapping", "parse_yaml", "read_yaml", "plain", "apply_override", "as_sections",
           "relocated", "write_config", "edits", "MAX_BYTES", "MAX_DEPTH"]


class YamlMapping(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers the line of each key, or the override that set it."""

    line: int | None = None
    lines: dict[Any, int]
    origin: str | None = None  # all of it came from this override (--set key=value)
    origins: dict[Any, str]  # the override that set a key

    def where(self, name: Any) -> tuple[int | None, str | None]:
        """The line a key is on, or the override that set it."""
        origin = self.origin or getattr(self, "origins", {}).get(name)
        if origin is not None:
            return None, origin
        return (self.lines.get(name, self.line) if name is not None else self.line), None


class _Loader(yaml.SafeLoader):
    """Safe loading, plus: 1e-4 reads as a number, mappings remember lines, duplicate keys fail."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> YamlMapping:
    loader.flatten_mapping(node)
    mapping = YamlMapping()
    mapping.line = node.start_mark.line + 1
    mapping.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            duplicate = key in mapping
        except TypeError:
            raise ConfigError(f"a key must be a plain value, got {key!r}", line=line) from None
        if duplicate:
            raise ConfigError(
                f"duplicate key {key!r} (first on line {mapping.lines[key]}); keep one", line=line
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = line
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


MAX_BYTES = 1 << 20  # a config file is a few lines; beyond this it is not one
MAX_DEPTH = 64  # nesting of a config's mappings and lists


def parse_yaml(text: str, file: str | None) -> Any:
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except ConfigError as error:
        error.file = file
        raise
    except RecursionError:
        raise ConfigError(f"nested deeper than a config ever is (at most {MAX_DEPTH} levels)",
                          file=file) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = " ".join(str(error.problem or "").split())
        raise ConfigError(
            f"YAML syntax error: {problem}; check brackets, quotes and indentation",
            file=file,
            line=None if mark is None else mark.line + 1,
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"YAML error: {error}", file=file) from None
    if _depth(data) > MAX_DEPTH:
        raise ConfigError(f"nested deeper than a config ever is (at most {MAX_DEPTH} levels)",
                          file=file)
    return data


def _depth(value: Any, limit: int = MAX_DEPTH + 1) -> int:
    """How deep mappings and lists nest (counted up to `limit`)."""
    if limit <= 0 or not isinstance(value, (Mapping, list)):
        return 0
    inner = value.values() if isinstance(value, Mapping) else value
    return 1 + max((_depth(v, limit - 1) for v in inner), default=0)


def plain(value: Any) -> Any:
    """YAML data as plain dicts and lists (what yaml.safe_dump writes back)."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value



def read_yaml(path: str | Path) -> Any:
    """A YAML file's data, read with the config's rules; what keeps it from being read is a
    ConfigError naming the file (and the line): missing, too large, not text, not YAML."""
    path = Path(path)
    shown = str(path)
    if not path.is_file():
        why = "is a folder" if path.is_dir() else "no such file"
        raise ConfigError(f"{why}; give the path of a YAML config such as configs/quickstart.yaml",
                          file=shown)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(f"{size:,} bytes is not a config (at most {MAX_BYTES:,}); is it "
                              "the right file?", file=shown)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read: {error}", file=shown) from None
    return parse_yaml(text, shown)


def apply_override(raw: Any, setting: str) -> None:
    """Apply one ``key.path=value`` to a parsed config, in place; the value reads as YAML
    (1e-2 as a number) and remembers the override, so an error in it names it."""
    origin = f"--set {setting}"
    key, sep, text = setting.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise ConfigError("give key.path=value, such as search.trials=200 or "
                          "space.lr.high=1e-2", origin=origin)
    value = parse_yaml(text, None) if text.strip() else None
    if isinstance(value, YamlMapping):
        _mark(value, origin)
    node = raw
    for depth, part in enumerate(parts[:-1], start=1):
        child = node.get(part)
        if child is None:
            child = node[part] = YamlMapping()
            child.lines, child.origin = {}, origin
        elif not isinstance(child, YamlMapping):
            raise ConfigError(f"{'.'.join(parts[:depth])} is {child!r}, not a section to set "
                              f"{parts[depth]} in", origin=origin)
        node = child
    node[parts[-1]] = value
    node.__dict__.setdefault("origins", {})[parts[-1]] = origin


def as_sections(value: Any) -> Any:
    """A mapping given in Python, its nested mappings made ones that overrides can set keys
    in (their other values, arrays or functions, as they are)."""
    if not isinstance(value, Mapping):
        return value
    out = YamlMapping({k: as_sections(v) for k, v in value.items()})
    out.lines = {}
    return out


def _mark(mapping: YamlMapping, origin: str) -> None:
    mapping.origin = origin
    for value in mapping.values():
        if isinstance(value, YamlMapping):
            _mark(value, origin)


def relocated(raw: Mapping[str, Any], folder: str | Path) -> dict[str, Any]:
    """Config data (as `Config.to_dict` gives it, with absolute paths) with its paths written
    relative to `folder`, for a config file written there: the file then travels with its
    project. The paths are objective.path, objective.cwd, data.path and search.warm_start's
    run folders."""
    import copy
    import os

    out = copy.deepcopy(dict(raw))
    where = Path(folder).resolve()

    def relative(path: str) -> str:
        try:
            return Path(os.path.relpath(path, where)).as_posix()
        except ValueError:  # another drive: there is no relative path
            return path

    objective, data = out.get("objective") or {}, out.get("data") or {}
    if isinstance(objective.get("path"), list):
        objective["path"] = [relative(p) for p in objective["path"]]
    elif isinstance(objective.get("path"), str):
        objective["path"] = relative(objective["path"])
    for section, key in ((objective, "cwd"), (data, "path")):
        if isinstance(section.get(key), str):
            section[key] = relative(section[key])
    search = out.get("search") or {}
    if isinstance(search.get("warm_start"), list):
        search["warm_start"] = [relative(r) if Path(r).is_absolute() else r
                                for r in search["warm_start"]]
    return out


def write_config(path: Path, data: Mapping[str, Any], header: str = "", *,
                 overwrite: bool = False) -> None:
    """Config data written as a YAML file, its paths relative to the file (`relocated`), after
    `header`'s comment lines; an existing file is kept unless `overwrite`.

    Raises:
        FileExistsError: when the file exists and `overwrite` is false.
        OSError: when it cannot be written.
    """
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    text = comment + yaml.safe_dump(relocated(data, path.parent), sort_keys=False)
    with open(path, "w" if overwrite else "x", encoding="utf-8") as handle:
        handle.write(text)


def edits(old: Any, new: Any, where: str = "") -> list[str]:
    """What differs between two configs' data, each as `key.path: old → new` (or added, or
    removed), in key order."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        found = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{where}.{key}" if where else str(key)
            if key not in new:
                found.append(f"{path} removed")
            elif key not in old:
                found.append(f"{path} added: {_short(new[key])}")
            else:
                found += edits(old[key], new[key], path)
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [e for i, (a, b) in enumerate(zip(old, new)) for e in edits(a, b, f"{where}[{i}]")]
    return [] if old == new and type(old) is type(new) else \
        [f"{where}: {_short(old)} → {_short(new)}"]


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"
