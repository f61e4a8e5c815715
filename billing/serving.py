"""gunicorn's access log in JSON (gunicorn.conf.py): one line per request as the server saw
it, with the app's request id. Path only: a query string may hold a searched email."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from gunicorn.glogging import Logger


class JsonAccessLogger(Logger):
    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not (self.cfg.accesslog or self.cfg.logconfig or self.cfg.syslog):
            return
        atoms = self.atoms(resp, req, environ, request_time)
        line = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "level": "INFO",
            "logger": "gunicorn.access",
            "event": "access",
            "request_id": atoms.get("{x-request-id}o") or None,
            "remote": atoms["h"],
            "method": atoms["m"],
            "path": atoms["U"],
            "status": int(atoms["s"]) if str(atoms["s"]).isdigit() else atoms["s"],
            "bytes": atoms["B"],
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
        }
        try:
            self.access_log.info(json.dumps(line, default=str))
        except Exception:
            self.error("Failed to write an access log line")
