"""Run the app's `@app.schedule` handlers now, against the running local stack.

    python -m local.run_schedule --list
    python -m local.run_schedule maintenance_purge [more names ...]
    python -m local.run_schedule --all

The handler runs in this process, exactly as Lambda would call it (an EventBridge
"Scheduled Event" payload and a context), on the stack's emulator, which this finds
through `runtime.json` in the state directory. Exit status 1 if any handler raised.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from local import config as stack_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.run_schedule", description="Run schedule handlers now.")
    parser.add_argument("names", nargs="*", help="schedule (handler) names; see --list")
    parser.add_argument("--all", action="store_true", help="run every schedule, in registration order")
    parser.add_argument("--list", action="store_true", help="list the schedules and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    config = stack_config.load_config()
    cfg = stack_config.running_stack(config)
    if cfg is None:
        print(
            f"the local stack is not running (no {stack_config.RUNTIME_FILE} in {config.state_dir}); "
            "start it with `make run`",
            file=sys.stderr,
        )
        return 2
    stack_config.apply_app_environment(cfg)

    from local import discovery
    from local.appload import load_app
    from local.scheduler import scheduled_event

    app, _ = load_app()
    schedules = {s.name: s for s in discovery.schedules(app)}
    if args.list or not (args.names or args.all):
        for s in schedules.values():
            print(f"{s.name}\t{s.expression}\t{s.description}")
        return 0
    unknown = [n for n in args.names if n not in schedules]
    if unknown:
        print(f"unknown schedule(s): {', '.join(unknown)}; known: {', '.join(schedules)}", file=sys.stderr)
        return 2
    failed = False
    for name in list(schedules) if args.all else args.names:
        try:
            result = discovery.invoke(app, name, scheduled_event(app.app_name, name))
        except Exception as exc:  # report and go on with the next one
            failed = True
            print(f"{name}: failed: {exc!r}", file=sys.stderr)
            continue
        print(json.dumps({"schedule": name, "result": result}, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
