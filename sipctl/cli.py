"""Command line entry point: ``sipctl [--version] COMMAND ...``."""
from __future__ import annotations

import argparse
from typing import Sequence

from sipctl._version import __version__

DEFAULT_API_HOST = "127.0.0.1"
DEFAULT_API_PORT = 18620  # the reference SDK's TCP API port


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sipctl",
        description="Open SIP client SDK: a softphone engine driven over a local TCP text API "
                    "(wire-compatible with the Mizu VoIP SDK) or from asyncio.",
    )
    p.add_argument("--version", action="version", version=f"sipctl {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    s = sub.add_parser("serve", help="run the TCP API service (default 127.0.0.1:18620)")
    s.add_argument("--host", default=DEFAULT_API_HOST, help="address to listen on (default %(default)s)")
    s.add_argument("--port", type=int, default=DEFAULT_API_PORT, help="TCP port (default %(default)s)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        from sipctl.service import serve

        return serve(args.host, args.port)
    parser.print_help()
    return 0
