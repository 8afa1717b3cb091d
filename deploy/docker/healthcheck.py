"""The image's HEALTHCHECK: GET /healthz on the local listener, exit 0 when it answers 200.

Standard library only (the image has no curl). The port is $PORTCULLIS_PORT, else 8787; the
request goes to 127.0.0.1, a loopback name the gateway's Host check always accepts."""

import os
import sys
import urllib.request


def main() -> int:
    port = int(os.environ.get("PORTCULLIS_PORT", "8787"))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:  # refused, timed out, or an HTTP error status (503: every server failed)
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
