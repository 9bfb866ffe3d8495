"""The package's version, in one place: the wheel's metadata (pyproject's `[tool.hatch.version]`), the
package root's `__version__`, `heroagent --version`, the banner and the OpenAPI document read it here."""

__version__ = "0.1.0"
