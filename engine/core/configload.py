"""Loading the configuration tree with provenance: config/ramp.yaml (or ``-c FILE``), then
``RAMP_SECTION__KEY`` environment variables, then command-line flags, each leaf remembering which
of them set it, so that every error names the file, variable or flag, the field and what was
expected.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .config import Settings, shipped
from .errors import ConfigError
from .yamlfile import check_expansion, read_yaml

DEFAULT_CONFIG = Path("config/ramp.yaml")


class _Layers:
    """Merged config data plus, for every leaf path, the source that set it."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.origin: dict[tuple[str, ...], str] = {}

    def add(self, data: dict[str, Any], source: str, prefix: tuple[str, ...] = ()) -> None:
        target = self.data
        for key in prefix:
            target = target.setdefault(key, {})
        self._merge(target, data, source, prefix)

    def _merge(self, target: dict[str, Any], data: dict[str, Any], source: str, path: tuple[str, ...]) -> None:
        """Merge leaf by leaf, remembering each leaf's source. A section keeps the source that
        introduced it, so an error inside a file's section names the file, not a flag that later
        set a sibling key."""
        for key, value in data.items():
            here = (*path, str(key))
            if isinstance(value, dict):
                if key not in target:
                    target[key] = {}
                    self.origin[here] = source
                elif not isinstance(target[key], dict):
                    raise ConfigError(
                        f"{self.source_of(here)}: {'.'.join(here)}: expected a mapping of settings "
                        f"(it is extended by {source}), got {target[key]!r}"
                    )
                self._merge(target[key], value, source, here)
            else:
                target[key] = value
                self.origin[here] = source

    def source_of(self, loc: tuple[Any, ...]) -> str:
        path = tuple(str(p) for p in loc)
        while path:
            if path in self.origin:
                return self.origin[path]
            path = path[:-1]
        return "defaults"


def _read_yaml(path: Path) -> dict[str, Any]:
    data = read_yaml(
        path, missing=f"pass an existing file with -c/--config, or omit it to use {DEFAULT_CONFIG}"
    )
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping of sections at the top, got {type(data).__name__}", file=str(path))
    return data


def _env_layer(environ: dict[str, str]) -> dict[tuple[str, ...], Any]:
    values: dict[tuple[str, ...], Any] = {}
    for name, raw in environ.items():
        if name == "RAMP_RUNS_DIR":
            values[("paths", "runs_dir")] = raw
        elif name.startswith("RAMP_") and "__" in name:
            path = tuple(part.lower() for part in name[len("RAMP_"):].split("__"))
            try:
                value = yaml.safe_load(raw) if raw.strip() else raw
            except yaml.YAMLError:
                value = raw  # not YAML: the plain string
            values[path] = check_expansion(value, f"environment variable {name}")
    return values


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cur = out
    for key in path[:-1]:
        cur = cur.setdefault(key, {})
    cur[path[-1]] = value
    return out


def _describe_error(err: Any, layers: _Layers) -> str:
    loc = tuple(err["loc"])
    field = ".".join(str(p) for p in loc)
    source = layers.source_of(loc)
    if err["type"] == "extra_forbidden":
        parent: type[BaseModel] | None = Settings
        for part in loc[:-1]:
            info = getattr(parent, "model_fields", {}).get(str(part))
            annotation = getattr(info, "annotation", None) if info else None
            parent = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
            if parent is None:
                break
        allowed = list(parent.model_fields) if parent is not None else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{source}: {field}: unknown key{hint}; allowed keys here: {', '.join(allowed)}"
    given = err.get("input")
    given_text = "" if isinstance(given, dict) or err["type"] == "value_error" else f", got {given!r}"
    info = _field_info(loc)
    expected = err["msg"][0].lower() + err["msg"][1:]
    doc = f" ({info})" if info else ""
    return f"{source}: {field}: expected: {expected}{given_text}{doc}"


def _field_info(loc: tuple[Any, ...]) -> str:
    model: Any = Settings
    info = None
    for part in loc:
        fields = getattr(model, "model_fields", None)
        if not fields or str(part) not in fields:
            return info.description if info is not None and info.description else ""
        info = fields[str(part)]
        model = info.annotation
    return info.description if info is not None and info.description else ""


def load_settings(
    config_path: Path | None = None,
    *,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Build Settings from the YAML file, the environment and flag overrides (dotted keys).

    Raises ConfigError (exit code 2) naming the source, the field and what was expected.
    """
    environ = dict(os.environ if environ is None else environ)
    layers = _Layers()
    if config_path is None and environ.get("RAMP_CONFIG"):
        config_path = Path(environ["RAMP_CONFIG"])
    if config_path is not None:
        layers.add(_read_yaml(config_path), str(config_path))
    elif shipped(DEFAULT_CONFIG).exists():
        layers.add(_read_yaml(shipped(DEFAULT_CONFIG)), str(shipped(DEFAULT_CONFIG)))
    for path, value in _env_layer(environ).items():
        var = "RAMP_RUNS_DIR" if path == ("paths", "runs_dir") else "RAMP_" + "__".join(p.upper() for p in path)
        layers.add(_nest(path, value), f"environment variable {var}")
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        path = tuple(dotted.split("."))
        layers.add(_nest(path, value), f"command-line flag for {dotted}")
    try:
        settings = Settings.model_validate(layers.data)
        settings._origin = dict(layers.origin)
        return settings
    except ValidationError as exc:
        lines = [_describe_error(e, layers) for e in exc.errors()]
        first, *rest = lines
        message = first + "".join(f"\n  {line}" for line in rest)
        raise ConfigError(message) from None
