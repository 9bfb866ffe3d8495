"""HeroAgent: `agent = HeroAgent(config); agent.start(); jm = agent.get_job_manager()`."""

__version__ = "0.1.0"

from heroagent.config import Config, default_config, load_config
from heroagent.errors import ConfigError, HeroAgentError, ServiceError
from heroagent.factory import HeroAgent, New

__all__ = [
    "Config",
    "ConfigError",
    "HeroAgent",
    "HeroAgentError",
    "New",
    "ServiceError",
    "__version__",
    "default_config",
    "load_config",
]

from heroagent.jobs import Job, JobStatus, actor

__all__ += ["Job", "JobStatus", "actor"]
