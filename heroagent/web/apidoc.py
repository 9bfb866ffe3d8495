"""Each API route declares its OpenAPI operation next to itself (`documented`); `paths` builds the document's
`paths` from an app's url_map, so the routes and their documentation cannot drift apart.

A route of the documented blueprint without a declaration is an error (`UndocumentedRouteError`), not a gap in
the document: a client generator or API tester would never learn of it. Path parameters come from the route's
rule (`<int:job_id>` is `{job_id}`, an integer); a declaration gives only what the rule cannot say (a pattern,
an enum) by naming the parameter again, and its query parameters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from werkzeug.routing import Map, Rule

View = TypeVar("View", bound=Callable[..., Any])
ErrorResponse = Callable[[int], dict[str, Any]]

OPERATION = "openapi_operation"  # the view function's attribute holding its declaration
UNDOCUMENTED_METHODS = frozenset({"HEAD", "OPTIONS"})  # Flask answers these for every route itself
# <name>, <int:name>, <int(min=1):name>: the converter (absent = default) and the variable's name
VARIABLE = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
CONVERTER_SCHEMAS: dict[str, dict[str, Any]] = {
    "default": {"type": "string"},
    "string": {"type": "string"},
    "path": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "uuid": {"type": "string", "format": "uuid"},
}


class UndocumentedRouteError(LookupError):
    """A route of the documented blueprint that `paths` cannot describe (no declaration, or an ambiguous one)."""


@dataclass(frozen=True)
class Operation:
    """One route's OpenAPI operation as declared: `responses` by status; `errors`, the error statuses, whose
    responses the document supplies; `params`, query parameters and path parameters the rule's converter does
    not describe well enough; `body`, the JSON request body's schema; `security` None for the document's."""

    summary: str
    responses: Mapping[int, dict[str, Any]]
    errors: tuple[int, ...] = ()
    params: tuple[dict[str, Any], ...] = ()
    body: dict[str, Any] | None = None
    body_required: bool = True
    security: list[dict[str, list[str]]] | None = None

    def __post_init__(self) -> None:
        twice = sorted(set(self.responses) & set(self.errors))
        if twice:
            raise ValueError(f"{self.summary!r}: status {twice} is both a response and an error")

    def render(self, path_params: list[dict[str, Any]], error_response: ErrorResponse) -> dict[str, Any]:
        """The OpenAPI operation object, its path parameters (from the rule) first."""
        operation: dict[str, Any] = {"summary": self.summary}
        if self.security is not None:
            operation["security"] = self.security
        parameters = path_params + [p for p in self.params if p["in"] != "path"]
        if parameters:
            operation["parameters"] = parameters
        if self.body is not None:
            content = {"application/json": {"schema": self.body}}
            operation["requestBody"] = {"required": self.body_required, "content": content}
        operation["responses"] = {
            **{str(status): response for status, response in self.responses.items()},
            **{str(status): error_response(status) for status in self.errors},
        }
        return operation


def documented(
    summary: str,
    *,
    responses: Mapping[int, dict[str, Any]],
    errors: Iterable[int] = (),
    params: Iterable[dict[str, Any]] = (),
    body: dict[str, Any] | None = None,
    body_required: bool = True,
    security: list[dict[str, list[str]]] | None = None,
) -> Callable[[View], View]:
    """Declare the view's OpenAPI operation (stack it under the `@bp.get(...)`); see `Operation`."""
    operation = Operation(summary, responses, tuple(errors), tuple(params), body, body_required, security)

    def declare(view: View) -> View:
        setattr(view, OPERATION, operation)
        return view

    return declare


def _declaration(view: Callable[..., Any]) -> Operation | None:
    """The operation `documented` gave the view, or None."""
    found = getattr(view, OPERATION, None)
    return found if isinstance(found, Operation) else None


def paths(
    url_map: Map, views: Mapping[str, Callable[..., Any]], blueprint: str, error_response: ErrorResponse
) -> dict[str, dict[str, Any]]:
    """The OpenAPI `paths` of every route of `blueprint` (its nested blueprints too), in the map's order.
    Raise UndocumentedRouteError naming the route when one has no declaration."""
    found: dict[str, dict[str, Any]] = {}
    for rule in url_map.iter_rules():
        if rule.endpoint.split(".")[0] != blueprint:
            continue
        operation = _operation_of(rule, views)
        path, path_params = openapi_path(rule.rule, operation.params)
        for method in sorted((rule.methods or set()) - UNDOCUMENTED_METHODS):
            ops = found.setdefault(path, {})
            if method.lower() in ops:
                raise UndocumentedRouteError(f"{method} {rule.rule}: a second route for the same operation")
            ops[method.lower()] = operation.render(path_params, error_response)
    return found


def _operation_of(rule: Rule, views: Mapping[str, Callable[..., Any]]) -> Operation:
    """The rule's declaration; one view serves one method, since one declaration describes one operation."""
    methods = sorted((rule.methods or set()) - UNDOCUMENTED_METHODS)
    view = views.get(rule.endpoint)
    operation = _declaration(view) if view is not None else None
    if operation is None:
        raise UndocumentedRouteError(
            f"{'/'.join(methods)} {rule.rule} (endpoint {rule.endpoint}) has no OpenAPI declaration: "
            "add @documented(...) under its route decorator"
        )
    if len(methods) > 1:
        raise UndocumentedRouteError(
            f"{'/'.join(methods)} {rule.rule} (endpoint {rule.endpoint}): one declaration for several methods; "
            "give each method its own view"
        )
    return operation


def openapi_path(rule: str, declared: Iterable[dict[str, Any]] = ()) -> tuple[str, list[dict[str, Any]]]:
    """A werkzeug rule as an OpenAPI path and its path parameters, in the rule's order: `/jobs/<int:job_id>`
    is `/jobs/{job_id}` with an integer `job_id`. A declared path parameter of the same name replaces the
    one the converter gives; one the rule does not have is an error (a typo would document nothing)."""
    overrides = {p["name"]: p for p in declared if p["in"] == "path"}
    params: list[dict[str, Any]] = []
    for match in VARIABLE.finditer(rule):
        name, converter = match["name"], match["converter"] or "default"
        if converter not in CONVERTER_SCHEMAS:
            raise UndocumentedRouteError(f"{rule}: no OpenAPI schema for the converter {converter!r} of {name}")
        params.append(overrides.pop(name) if name in overrides else _path_param(name, CONVERTER_SCHEMAS[converter]))
    if overrides:
        raise UndocumentedRouteError(f"{rule}: declared path parameter(s) {sorted(overrides)} not in the route")
    return VARIABLE.sub(lambda m: "{" + m["name"] + "}", rule), params


def _path_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": dict(schema)}
