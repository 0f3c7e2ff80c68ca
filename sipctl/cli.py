"""Command line entry point: ``sipctl [--version] COMMAND ...``."""
from __future__ import annotations

import argparse
import os
import sys
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
    s.add_argument("--port", type=int, default=DEFAULT_API_PORT,
                   help="TCP port (default %(default)s; 0: any free port, printed at start)")
    s.add_argument("--workdir", help="where wpcfg.ini and the logs live "
                                     "(default $XDG_DATA_HOME/sipctl)")
    s.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="preset a parameter (as API_SetParameter before API_Start); repeatable")
    s.add_argument("--allow-remote", action="store_true",
                   help="allow a non-loopback --host (needs --token)")
    s.add_argument("--token", default=os.environ.get("SIPCTL_API_TOKEN"),
                   help="shared secret clients send first as 'AUTH TOKEN' "
                        "(default $SIPCTL_API_TOKEN)")
    pp = sub.add_parser("params", help="parameter tools")
    pp.add_argument("--check", metavar="FILE", required=True,
                    help="report unknown names and bad values in a wpcfg.ini-style file")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        from sipctl.service import serve

        params = {}
        for item in args.param:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                parser.error(f"--param wants NAME=VALUE, got {item!r}")
            params[name.strip()] = value
        return serve(args.host, args.port, workdir=args.workdir, params=params,
                     allow_remote=args.allow_remote, token=args.token)
    if args.command == "params":
        return _check_params(args.check)
    parser.print_help()
    return 0


def _check_params(path: str) -> int:
    """``sipctl params --check FILE``: 0 clean, 1 problems found, 2 unreadable."""
    from sipctl.params import check_file

    try:
        problems = check_file(path)
    except OSError as e:
        print(f"{path}: {e.strerror or e}", file=sys.stderr)
        return 2
    for p in problems:
        print(f"{path}:{p.line}: {p.name}: {p.message}")
    if not problems:
        print(f"{path}: OK")
    return 1 if problems else 0
