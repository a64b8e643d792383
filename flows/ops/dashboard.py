"""optuna-dashboard over the study storage: `python -m flows.ops.dashboard --host H --port P`.

It opens the storage through flows.storage.make_storage with `$OPTUNA_STORAGE`, exactly as a sweep whose
`storage` parameter is empty does: the journal file under the state directory for `make up`, PostgreSQL in
the docker stack (with the driver named, and its tables created if no sweep has run yet). So the dashboard
shows the studies the sweeps write, whichever stack it belongs to. The dashboard has no authentication of
its own and can create, rename and delete studies: the stacks bind it to loopback only.
"""

from __future__ import annotations

import argparse
import os

import optuna_dashboard

from ..names import STORAGE_ENV
from ..storage import make_storage


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m flows.ops.dashboard", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    args = p.parse_args(argv)
    optuna_dashboard.run_server(make_storage(os.environ.get(STORAGE_ENV, "")), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
