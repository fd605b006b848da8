"""Serve the hello function the way `python -m shared.cli serve` serves ours: werkzeug, threaded.

    python benchmarks/serve_hello.py PORT

Same server kind on both sides, so the warm-latency ratio compares our code, not servers.
"""

import sys
from pathlib import Path

import functions_framework
from werkzeug.serving import make_server

HELLO = Path(__file__).resolve().parent / "hello" / "main.py"


def main() -> None:
    app = functions_framework.create_app(target="hello", source=str(HELLO))
    server = make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
