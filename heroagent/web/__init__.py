"""The web layer (Flask): the only part of HeroAgent that knows about HTTP pages and JSON routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, jsonify, render_template

from heroagent.resources import resource_dir

if TYPE_CHECKING:
    from heroagent.factory import HeroAgent


def create_app(agent: HeroAgent) -> Flask:
    """The app factory: one app per agent, no module-level state."""
    app = Flask(
        "heroagent",
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
    )
    app.extensions["heroagent"] = agent

    @app.get("/api/health")
    def health():  # type: ignore[no-untyped-def]
        states = agent.service_states()
        healthy = all(state != "stopped" for state in states.values())
        return jsonify({"status": "ok" if healthy else "degraded", "services": states}), 200 if healthy else 503

    @app.get("/")
    def index():  # type: ignore[no-untyped-def]
        return render_template("index.html", addresses=agent.addresses(), states=agent.service_states())

    return app
