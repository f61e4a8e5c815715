"""``python -m devtools.stripe_emulator``: run in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from . import start_emulator


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.stripe_emulator",
        description="A stateful Stripe API emulator for tests and demos (loopback only).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", help="POST every event here, signed like Stripe")
    parser.add_argument("--webhook-secret", help="whsec_... secret for the signatures")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument(
        "--state", help="load the state saved in this file at start (if it exists); save it on exit"
    )
    args = parser.parse_args(argv)

    handle = start_emulator(
        host=args.host,
        port=args.port,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        verbose=args.verbose,
        state_path=args.state,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    _say(f"Stripe emulator listening on {handle.url} (API keys: any sk_test_...)")
    if args.webhook_url:
        _say(f"Webhooks to {args.webhook_url} signed with {handle.webhook_secret}")
    if args.state:
        _say(f"State: {args.state} (loaded if it existed; saved on exit)")
    stop.wait()
    if args.state:
        handle.save()
    handle.stop()
    _say("Stripe emulator stopped.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
