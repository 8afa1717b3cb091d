"""nginx in front of several gateways, round robin and nothing sticky, as a load balancer runs
them: a private nginx (its own config and prefix directory, a free port) the test starts and
stops. ``tests/tools/ensure-nginx.sh`` installs nginx."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support import RunningGateway, free_port
from tests.test_mrtr_replicas import _listening

CONFIG = """
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format upstreamlog '$request_method $status $upstream_addr';
    access_log {prefix}/access.log upstreamlog;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream gateways {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://gateways;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_read_timeout 300s;
            proxy_next_upstream error timeout http_502;
            proxy_connect_timeout 2s;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    found = os.environ.get("NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(found).exists(), "nginx is needed for this test (tests/tools/ensure-nginx.sh installs it)"
    return found


@dataclass(frozen=True)
class Balancer:
    base: str
    """``http://127.0.0.1:PORT``."""
    access_log: Path

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"

    def served_by(self) -> list[str]:
        """The upstream address that answered each request so far (tried ones first, comma
        separated, when nginx went on to the next)."""
        lines = self.access_log.read_text().splitlines() if self.access_log.exists() else []
        return [line.split(" ", 2)[2] for line in lines if line.count(" ") >= 2]


@contextlib.contextmanager
def round_robin(tmp: Path, gateways: Sequence[RunningGateway]) -> Iterator[Balancer]:
    """nginx over ``gateways``."""
    prefix = tmp / f"nginx-{free_port()}"
    prefix.mkdir()
    port = free_port()
    servers = "\n".join(f"        server 127.0.0.1:{g.port} max_fails=1 fail_timeout=30s;" for g in gateways)
    conf = prefix / "nginx.conf"
    conf.write_text(CONFIG.format(prefix=prefix, servers=servers, port=port))
    process = subprocess.Popen(
        [nginx_binary(), "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while not _listening(port) and time.monotonic() < deadline:
            assert process.poll() is None, (prefix / "error.log").read_text()
            time.sleep(0.05)
        yield Balancer(f"http://127.0.0.1:{port}", prefix / "access.log")
    finally:
        process.terminate()
        process.wait(10)
