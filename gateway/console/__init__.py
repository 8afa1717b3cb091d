"""The web console: server-rendered pages for operators, on the admin listener under
``/console``, behind the admin token (docs/console.md). No build step and nothing fetched from
elsewhere: HTML written here, one stylesheet and one small script served from this package."""

from gateway.console.app import console_app
from gateway.console.pages import PREFIX

__all__ = ["PREFIX", "console_app"]
