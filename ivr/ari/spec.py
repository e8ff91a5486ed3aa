"""ARI's own API description (Swagger 1.1 JSON shipped with Asterisk) as a validator.

Every request our client sends, and every request the fake ARI server accepts, goes through `ApiSpec.validate`,
so a typo in a parameter name or a value Asterisk would refuse fails in our process with a message naming the
operation, not as an opaque 400 from Asterisk at 3 a.m. Events the fake emits are checked against the models
in events.json the same way (`validate_event`).

The JSON files are public Asterisk API documentation; a copy ships in `ivr/ari/api_docs/` so an installed
package works without the reference tree (a test checks the copy still matches the reference).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

PACKAGED_DOCS = Path(__file__).parent / "api_docs"
# Relative to the repository root (two levels above this package): ../shared/reference/ari-api-docs.
REFERENCE_DOCS = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "ari-api-docs"
RESOURCE_FILES = ("applications", "asterisk", "bridges", "channels", "deviceStates", "endpoints", "events",
                  "mailboxes", "playbacks", "recordings", "sounds")
PRIMITIVES = {"string", "int", "long", "double", "boolean", "Date", "object", "containers", "binary"}


class SpecError(Exception):
    """The API description itself cannot be loaded (missing file, bad JSON)."""


class SpecViolation(ValueError):
    """A request or event that Asterisk's API description does not allow; str() says exactly why."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status  # what the real ARI answers for this kind of mistake (400, 404, 405)


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # path / query / body
    required: bool
    data_type: str
    allow_multiple: bool
    allowed: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # template, e.g. /channels/{channelId}/play
    nickname: str
    resource: str
    params: tuple[Param, ...]
    error_codes: frozenset[int]
    response_class: str
    upgrade: str = ""
    regex: re.Pattern[str] = field(compare=False, default=re.compile(""))

    @property
    def literal_weight(self) -> tuple[int, int]:
        # Literal paths win over templated ones: /channels/create must not match /channels/{channelId}.
        return (self.path.count("{"), -len(self.path))

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


@dataclass(frozen=True)
class ModelProp:
    name: str
    type: str
    required: bool
    allowed: tuple[str, ...] | None = None


def _compile(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", path)
    rx = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{rx}$")


def _allowed(spec: Mapping[str, Any] | None) -> tuple[tuple[str, ...] | None, float | None, float | None]:
    if not spec:
        return None, None, None
    if spec.get("valueType") == "LIST":
        return tuple(str(v) for v in spec.get("values", ())), None, None
    if spec.get("valueType") == "RANGE":
        return None, spec.get("min"), spec.get("max")
    return None, None, None


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ApiSpec:
    def __init__(self, operations: Iterable[Operation], models: Mapping[str, dict[str, ModelProp]],
                 subtypes: Mapping[str, tuple[str, ...]], source: Path) -> None:
        self.operations = sorted(operations, key=lambda o: o.literal_weight)
        self.models = dict(models)
        self.subtypes = dict(subtypes)
        self.source = source
        self.event_types = frozenset(self._all_subtypes("Message"))

    # --- loading -----------------------------------------------------------------------------------------

    @classmethod
    def load(cls, docs_dir: str | Path | None = None) -> "ApiSpec":
        """Load from `docs_dir`, else the reference tree next to the repository, else the packaged copy."""
        directory = Path(docs_dir) if docs_dir is not None else default_docs_dir()
        operations: list[Operation] = []
        models: dict[str, dict[str, ModelProp]] = {}
        subtypes: dict[str, tuple[str, ...]] = {}
        for name in RESOURCE_FILES:
            path = directory / f"{name}.json"
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise SpecError(f"ARI API description {path} is missing") from None
            except (OSError, ValueError) as exc:
                raise SpecError(f"ARI API description {path} cannot be read: {exc}") from None
            for api in doc.get("apis", ()):
                for op in api.get("operations", ()):
                    operations.append(_operation(name, api["path"], op))
            for model_name, model in doc.get("models", {}).items():
                props = {}
                for prop_name, prop in model.get("properties", {}).items():
                    allowed, _, _ = _allowed(prop.get("allowableValues"))
                    props[prop_name] = ModelProp(prop_name, str(prop.get("type", "object")),
                                                 bool(prop.get("required", False)), allowed)
                models[model_name] = props
                if model.get("subTypes"):
                    subtypes[model_name] = tuple(model["subTypes"])
        return cls(operations, models, subtypes, directory)

    def _all_subtypes(self, name: str) -> list[str]:
        out = []
        for sub in self.subtypes.get(name, ()):
            out.append(sub)
            out.extend(self._all_subtypes(sub))
        return out

    # --- requests ----------------------------------------------------------------------------------------

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        """The operation for `method path` (path relative to /ari); SpecViolation 404/405 when there is none."""
        path = "/" + path.strip("/")
        found_path = False
        for op in self.operations:
            m = op.regex.match(path)
            if m is None:
                continue
            found_path = True
            if op.method == method.upper():
                return op, m.groupdict()
        if found_path:
            raise SpecViolation(f"{method.upper()} {path}: method not allowed by the ARI API", status=405)
        raise SpecViolation(f"{method.upper()} {path}: no such ARI resource", status=404)

    def validate(self, method: str, path: str, params: Mapping[str, Any] | None = None,
                 body: Any = None) -> Operation:
        """Check one request against the API description; return the matched operation."""
        op, path_values = self.match(method, path)
        params = dict(params or {})
        where = f"{op.method} {op.path} ({op.nickname})"
        for name, value in path_values.items():
            p = op.param(name)
            if p is not None:
                self._check_value(where, p, value)
        declared = {p.name for p in op.params if p.kind == "query"}
        for name in params:
            if name not in declared:
                known = ", ".join(sorted(declared)) or "none"
                raise SpecViolation(f"{where}: unknown parameter {name!r} (allowed: {known})")
        for p in op.params:
            if p.kind == "query":
                if p.name not in params or params[p.name] is None:
                    if p.required:
                        raise SpecViolation(f"{where}: missing required parameter {p.name!r}")
                    continue
                self._check_value(where, p, params[p.name])
            elif p.kind == "body":
                if p.required and body is None:
                    raise SpecViolation(f"{where}: missing required body {p.name!r}")
                if body is not None and not isinstance(body, Mapping):
                    raise SpecViolation(f"{where}: body must be a JSON object")
        if body is not None and not any(p.kind == "body" for p in op.params):
            raise SpecViolation(f"{where}: takes no request body")
        return op

    def _check_value(self, where: str, p: Param, value: Any) -> None:
        values: list[Any]
        if isinstance(value, (list, tuple)):
            if not p.allow_multiple:
                raise SpecViolation(f"{where}: parameter {p.name!r} takes one value, got {len(value)}")
            values = list(value)
            if not values:
                raise SpecViolation(f"{where}: parameter {p.name!r} needs at least one value")
        elif p.allow_multiple and isinstance(value, str):
            values = value.split(",")
        else:
            values = [value]
        for v in values:
            self._check_scalar(where, p, v)

    def _check_scalar(self, where: str, p: Param, v: Any) -> None:
        text = _render(v)
        t = p.data_type
        if t in ("int", "long"):
            if isinstance(v, bool) or not re.fullmatch(r"-?\d+", text):
                raise SpecViolation(f"{where}: parameter {p.name!r} must be an integer, got {text!r}")
            num: float = int(text)
        elif t == "double":
            try:
                num = float(text)
            except ValueError:
                raise SpecViolation(f"{where}: parameter {p.name!r} must be a number, got {text!r}") from None
        elif t == "boolean":
            if text not in ("true", "false"):
                raise SpecViolation(f"{where}: parameter {p.name!r} must be true or false, got {text!r}")
            num = 0
        else:
            num = 0
            if p.kind == "path" and text == "":
                raise SpecViolation(f"{where}: empty path parameter {p.name!r}")
        if p.allowed is not None and text not in p.allowed:
            raise SpecViolation(f"{where}: parameter {p.name!r} = {text!r} is not one of {', '.join(p.allowed)}")
        if p.minimum is not None and num < p.minimum:
            raise SpecViolation(f"{where}: parameter {p.name!r} = {text} is below the minimum {p.minimum}")
        if p.maximum is not None and num > p.maximum:
            raise SpecViolation(f"{where}: parameter {p.name!r} = {text} is above the maximum {p.maximum}")

    @staticmethod
    def encode_params(params: Mapping[str, Any]) -> dict[str, str]:
        """Query parameters as ARI reads them: booleans lower-case, multiple values comma-joined."""
        out: dict[str, str] = {}
        for k, v in params.items():
            if v is None:
                continue
            out[k] = ",".join(_render(x) for x in v) if isinstance(v, (list, tuple)) else _render(v)
        return out

    # --- events and models -------------------------------------------------------------------------------

    def model_props(self, model: str) -> dict[str, ModelProp]:
        """All properties of a model including those it inherits (Event -> Message)."""
        props: dict[str, ModelProp] = {}
        for parent, subs in self.subtypes.items():
            if model in subs:
                props.update(self.model_props(parent))
        props.update(self.models.get(model, {}))
        return props

    def validate_model(self, model: str, data: Any, where: str = "") -> None:
        where = where or model
        if model in PRIMITIVES or model.startswith("List["):
            return
        if not isinstance(data, Mapping):
            raise SpecViolation(f"{where}: a {model} must be a JSON object")
        props = self.model_props(model)
        if not props:
            raise SpecViolation(f"{where}: unknown model {model!r}")
        for name, prop in props.items():
            if name not in data:
                if prop.required:
                    raise SpecViolation(f"{where}: missing required field {name!r}")
                continue
            value = data[name]
            if prop.allowed is not None and str(value) not in prop.allowed:
                raise SpecViolation(f"{where}.{name}: {value!r} is not one of {', '.join(prop.allowed)}")
            inner = prop.type
            if inner.startswith("List[") and inner.endswith("]"):
                if not isinstance(value, list):
                    raise SpecViolation(f"{where}.{name}: must be a list")
                for i, item in enumerate(value):
                    self.validate_model(inner[5:-1], item, f"{where}.{name}[{i}]")
            elif inner in self.models:
                self.validate_model(inner, value, f"{where}.{name}")
            elif inner in ("int", "long") and (isinstance(value, bool) or not isinstance(value, int)):
                raise SpecViolation(f"{where}.{name}: must be an integer")
            elif inner == "string" and not isinstance(value, str):
                raise SpecViolation(f"{where}.{name}: must be a string")
            elif inner == "boolean" and not isinstance(value, bool):
                raise SpecViolation(f"{where}.{name}: must be a boolean")
        unknown = set(data) - set(props)
        if unknown:
            raise SpecViolation(f"{where}: fields not in the API description: {', '.join(sorted(unknown))}")

    def validate_event(self, data: Mapping[str, Any]) -> None:
        kind = data.get("type")
        if kind not in self.event_types:
            raise SpecViolation(f"event type {kind!r} is not in events.json")
        self.validate_model(str(kind), data, str(kind))


def _operation(resource: str, path: str, op: Mapping[str, Any]) -> Operation:
    params = []
    for p in op.get("parameters", ()):
        allowed, lo, hi = _allowed(p.get("allowableValues"))
        # endpoints.json leaves `required` unset on its path parameters; a path parameter is always required.
        required = bool(p.get("required")) or p.get("paramType") == "path"
        params.append(Param(p["name"], p["paramType"], required, str(p.get("dataType", "string")),
                            bool(p.get("allowMultiple", False)), allowed, lo, hi))
    codes = frozenset(int(e["code"]) for e in op.get("errorResponses", ()))
    return Operation(op["httpMethod"].upper(), path, op["nickname"], resource, tuple(params), codes,
                     str(op.get("responseClass", "void")), str(op.get("upgrade", "")), _compile(path))


def default_docs_dir() -> Path:
    """The reference docs when the repository sits next to ../shared, else the copy inside the package."""
    if (REFERENCE_DOCS / "channels.json").is_file():
        return REFERENCE_DOCS
    return PACKAGED_DOCS
