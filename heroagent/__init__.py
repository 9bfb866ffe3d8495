"""HeroAgent: `agent = HeroAgent(config); agent.start(); jm = agent.get_job_manager()`.

The names below are loaded on first use (PEP 562 module `__getattr__`), so `import heroagent.ourdb`,
`heroagent.heroscript` or `heroagent.client` (and `heroagent job submit`) load neither Flask nor
wsgidav nor cheroot: only the part asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from heroagent._version import __version__
from heroagent.lazy import lazy_exports

# public name -> the module that defines it
_LAZY = {
    "Config": "heroagent.config",
    "default_config": "heroagent.config",
    "load_config": "heroagent.config",
    "ConfigError": "heroagent.errors",
    "HeroAgentError": "heroagent.errors",
    "ServiceError": "heroagent.errors",
    "HeroAgent": "heroagent.factory",
    "PermanentError": "heroagent.jobs.errors",
    "New": "heroagent.factory",
    "Job": "heroagent.jobs.model",
    "JobStatus": "heroagent.jobs.model",
    "actor": "heroagent.jobs.run.actors",
    "handler": "heroagent.jobs.run.actors",
}

__all__ = [
    "Config",
    "ConfigError",
    "HeroAgent",
    "HeroAgentError",
    "Job",
    "JobStatus",
    "New",
    "PermanentError",
    "ServiceError",
    "__version__",
    "actor",
    "default_config",
    "handler",
    "load_config",
]

if TYPE_CHECKING:
    from heroagent.config import Config, default_config, load_config
    from heroagent.errors import ConfigError, HeroAgentError, ServiceError
    from heroagent.factory import HeroAgent, New
    from heroagent.jobs.errors import PermanentError
    from heroagent.jobs.model import Job, JobStatus
    from heroagent.jobs.run.actors import actor, handler


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
