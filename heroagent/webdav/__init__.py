"""The WebDAV share where users keep the scripts that jobs run."""

from heroagent.webdav.server import SCRIPTS_FOLDER, WebDAVServer

__all__ = ["SCRIPTS_FOLDER", "WebDAVServer"]
