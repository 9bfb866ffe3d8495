"""The OpenAPI document is built from the routes' own declarations (web/apidoc.py): it lists every API route
with every method, a route without a declaration is an error naming it, and the result is valid OpenAPI 3.1."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import requests
from flask import Blueprint, Flask
from openapi_spec_validator import validate

from heroagent import HeroAgent
from heroagent.web import create_app
from heroagent.web.api import bp as api_bp
from heroagent.web.apidoc import UndocumentedRouteError, documented, openapi_path
from heroagent.web.openapi import BLUEPRINT, json_response, openapi_document
from tests.conftest import ui_url

OK = {200: json_response({"type": "object"}, "fine")}


def api_operations(app: Flask) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every route of the API blueprint, read from the url_map on its own."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] != BLUEPRINT:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        found |= {(path, m.lower()) for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}
    return found


def document_of(app: Flask) -> dict[str, Any]:
    with app.test_request_context("/api/openapi.json"):
        return openapi_document()


def without_job_types(document: dict[str, Any]) -> dict[str, Any]:
    """The document without the job types' schemas the served one adds (what the live pools serve)."""
    schemas = {k: v for k, v in document["components"]["schemas"].items() if not k.startswith("JobType.")}
    return {**document, "components": {**document["components"], "schemas": schemas}}


def test_the_served_document_shows_every_published_job_type(web_agent: Callable[..., HeroAgent]) -> None:
    """Each action a live pool serves is in the document with the schema its signature gives (issue 26)."""
    agent = web_agent()
    served = requests.get(ui_url(agent, "/api/openapi.json"), timeout=5).json()
    sleep = served["components"]["schemas"]["JobType.fake.sleep"]
    assert sleep["properties"]["seconds"] == {"type": "string", "default": "1"}
    assert sleep["additionalProperties"] is False and "!!fake.sleep" in sleep["description"]
    assert "JobType.script.run" in served["components"]["schemas"]
    validate(served)


def test_the_served_document_is_the_generated_one_with_every_route(web_agent: Callable[..., HeroAgent]) -> None:
    agent = web_agent()
    served = without_job_types(requests.get(ui_url(agent, "/api/openapi.json"), timeout=5).json())
    app = create_app(agent)
    generated = document_of(app)
    assert served == generated
    assert served == openapi_document()  # outside a request: the API blueprint's routes alone, the same
    documented = {(path, method) for path, ops in generated["paths"].items() for method in ops}
    assert documented == api_operations(app)
    assert len(documented) >= 28
    assert {("/api/health", "get"), ("/api/openapi.json", "get")} <= documented
    assert not any(path.startswith(("/login", "/jobs", "/metrics")) for path, _ in documented)  # other blueprints


def test_path_parameters_come_from_the_rule_and_the_declarations() -> None:
    doc = openapi_document()["paths"]
    assert doc["/api/jobs/{job_id}"]["get"]["parameters"] == [
        {"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    ]
    log_params = doc["/api/jobs/{job_id}/log"]["get"]["parameters"]
    assert [(p["name"], p["in"]) for p in log_params] == [("job_id", "path"), ("offset", "query")]
    topic, action, create = doc["/api/queues/{topic}/{action}"]["post"]["parameters"]
    assert topic["schema"]["pattern"] and "cancel-all" in action["schema"]["enum"]
    assert create == {**create, "name": "create", "in": "query", "schema": {"type": "boolean"}}
    assert {"204", "404", "409"} <= set(doc["/api/queues/{topic}"]["delete"]["responses"])
    assert doc["/api/workers/{worker_id}/drain"]["post"]["parameters"][0]["schema"] == {"type": "string"}
    assert doc["/api/health"]["get"]["security"] == [] and "security" not in doc["/api/jobs"]["get"]


def test_every_link_names_an_operation_of_the_document() -> None:
    doc = openapi_document()
    refs = [
        link["operationRef"]
        for ops in doc["paths"].values()
        for op in ops.values()
        for response in op["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert len(refs) == 22  # a new job (8), a new schedule (6), a schedule run now: its job (8)
    for ref in refs:
        path, method = ref.removeprefix("#/paths/").rsplit("/", 1)
        assert method in doc["paths"][path.replace("~1", "/").replace("~0", "~")], ref


def test_the_document_is_valid_openapi() -> None:
    validate(openapi_document())


def planted_app(*routes: tuple[str, Callable[..., Any]]) -> Flask:
    """A fresh app whose blueprint is named like the API's, with `routes` (rule, view) on it."""
    planted = Blueprint(BLUEPRINT, __name__, url_prefix="/api")
    for rule, view in routes:
        planted.add_url_rule(rule, view_func=view)
    app = Flask(__name__)
    app.register_blueprint(planted)
    other = Blueprint("pages", __name__)
    other.add_url_rule("/page", view_func=lambda: "", endpoint="page")  # not the API's: needs no declaration
    app.register_blueprint(other)
    return app


@documented("Fine", responses=OK)
def fine() -> str:
    return ""


def forgotten() -> str:
    return ""


def test_a_route_without_a_declaration_is_an_error_naming_it() -> None:
    assert set(document_of(planted_app(("/fine", fine)))["paths"]) == {"/api/fine"}
    with pytest.raises(UndocumentedRouteError, match=r"GET /api/planted/<int:n> \(endpoint api.forgotten\)"):
        document_of(planted_app(("/fine", fine), ("/planted/<int:n>", forgotten)))


def test_the_real_api_with_one_route_forgotten_is_an_error() -> None:
    app = Flask(__name__)
    app.register_blueprint(api_bp)
    app.add_url_rule("/api/forgotten", endpoint=f"{BLUEPRINT}.forgotten", view_func=forgotten)
    with pytest.raises(UndocumentedRouteError, match="/api/forgotten"):
        document_of(app)


def test_one_view_for_two_methods_is_refused() -> None:
    both = Blueprint(BLUEPRINT, __name__, url_prefix="/api")
    both.add_url_rule("/both", view_func=fine, methods=["GET", "POST"])
    app = Flask(__name__)
    app.register_blueprint(both)
    with pytest.raises(UndocumentedRouteError, match="GET/POST /api/both"):
        document_of(app)


def test_openapi_path_converts_the_rule() -> None:
    assert openapi_path("/api/jobs/<int:job_id>/log") == (
        "/api/jobs/{job_id}/log",
        [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
    )
    path, params = openapi_path("/a/<path:w>/<b>/<int(min=1):n>")
    assert path == "/a/{w}/{b}/{n}" and [p["schema"]["type"] for p in params] == ["string", "string", "integer"]
    enum = {"name": "b", "in": "path", "required": True, "schema": {"enum": ["x"]}}
    assert openapi_path("/a/<b>", [enum])[1] == [enum]
    with pytest.raises(UndocumentedRouteError, match=r"\['c'\] not in the route"):
        openapi_path("/a/<b>", [{**enum, "name": "c"}])
    with pytest.raises(UndocumentedRouteError, match="converter 'any'"):
        openapi_path("/a/<any(x, y):b>")


def test_a_status_both_answer_and_error_is_refused() -> None:
    with pytest.raises(ValueError, match="status \\[404\\] is both"):
        documented("Twice", responses={404: {"description": "gone"}}, errors=(404,))
