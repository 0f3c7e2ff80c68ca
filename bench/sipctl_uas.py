"""A sipctl auto-answer UAS for the load benchmarks: ``python -m bench.sipctl_uas --port P``.

Answers every call on loopback (``autoaccept``, enough lines for the load), with media on a
:class:`~sipctl.media.devices.NullDevice` (``--no-media``: signalling only, RTP ignored).
Prints ``READY <port>`` on stdout once the UDP transport listens, then every second
``MEDIA ticks=N late=N overruns=N`` (media clock ticks run, ticks that started more than
5 ms late, ticks dropped); stops on SIGTERM/SIGINT.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import signal
import sys

from sipctl.call_settings import CallSettings
from sipctl.transport import TransportConfig
from sipctl.ua import UserAgent


async def _main(args: argparse.Namespace) -> int:
    params = {"mediatimeout": 0, "rtpport": args.rtpport}
    settings = CallSettings(autoaccept=True, maxlines=args.lines)
    ua = UserAgent(transport_config=TransportConfig(localip="127.0.0.1",
                                                    signalingport=args.port, transport=0),
                   call_settings=settings, params=params,
                   media=False if args.no_media else None)
    await ua.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def drain() -> None:   # keep the event queue from growing without bound
        async for _ in ua.call_events():
            pass

    async def media_stats() -> None:   # for the bench: were audio frames late?
        while ua.media is not None:
            dev = ua.media.device
            print(f"MEDIA ticks={ua.media.ticks} late={dev.late_ticks} "
                  f"overruns={dev.overruns}", flush=True)
            await asyncio.sleep(1.0)

    task = loop.create_task(drain())
    stats = loop.create_task(media_stats())
    print("READY", ua.local_address("UDP")[1], flush=True)
    await stop.wait()
    task.cancel()
    stats.cancel()
    await ua.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="SIP UDP port (0: ephemeral)")
    p.add_argument("--lines", type=int, default=2000, help="maxlines (concurrent calls)")
    p.add_argument("--rtpport", type=int, default=30000,
                   help="RTP port base (default 30000: room for thousands of calls; 0 is the "
                        "reference's random 20000-21000, only 500 pairs)")
    p.add_argument("--no-media", action="store_true", help="signalling only")
    p.add_argument("--log", default="WARNING")
    args = p.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:   # two RTP/RTCP sockets per call
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    logging.basicConfig(level=args.log, stream=sys.stderr)
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
