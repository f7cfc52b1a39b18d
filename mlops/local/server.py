"""The local cloud on a loopback port: moto's backends for AWS clients, and the `/_mlops/` control API.

Everything an AWS client sends (`AWS_ENDPOINT_URL=http://127.0.0.1:<port>`: the AWS CLI, boto3)
goes to moto's own WSGI dispatcher, which picks the service from the request's signature and host
as `moto.server` does; the adapters installed in this process run behind it. Paths under
`/_mlops/` are the local cloud's own API, which AWS does not have: no AWS request can take such a
path (S3 bucket names start with a letter or a digit, and the other services post to `/` or to
their own versioned paths). Requests and answers are JSON; `call` is the client side. The
scheduler serves its clock there (`GET /_mlops/clock`, `POST /_mlops/tick`, see
`mlops.local.scheduler`).

Access lines go to the `mlops.local.access` logger, which prints nothing unless a handler is
attached (`mlops local up --verbose` attaches one); werkzeug's own logger keeps only its errors.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

__all__ = ["ACCESS_LOG", "CONTROL_PREFIX", "ControlError", "ControlHandler", "LocalServer", "call"]

CONTROL_PREFIX = "/_mlops/"
ACCESS_LOG = logging.getLogger("mlops.local.access")
_LOG = logging.getLogger(__name__)

# A control route: the request's JSON object in, (HTTP status, JSON object) out.
ControlHandler = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


class ControlError(RuntimeError):
    """A control request failed: the server is unreachable or answered with an error."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _RequestHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        ACCESS_LOG.info('%s "%s %s" %s %s', self.address_string(), self.command, self.path, code, size)


class _Dispatcher:
    """`/_mlops/<name>` to the control routes, everything else to moto."""

    def __init__(self, aws: Any, routes: dict[tuple[str, str], ControlHandler]) -> None:
        self._aws = aws
        self._routes = routes

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not environ.get("PATH_INFO", "").startswith(CONTROL_PREFIX):
            return self._aws(environ, start_response)
        request = Request(environ)
        status, body = self._control(request.method, request.path[len(CONTROL_PREFIX) :].strip("/"), request)
        response = Response(json.dumps(body, indent=1, default=str) + "\n", status=status, mimetype="application/json")
        return response(environ, start_response)

    def _control(self, method: str, name: str, request: Request) -> tuple[int, dict[str, Any]]:
        handler = self._routes.get((method, name))
        if handler is None:
            known = sorted(f"{m} {CONTROL_PREFIX}{n}" for m, n in self._routes)
            status = 405 if any(n == name for _, n in self._routes) else 404
            return status, {"error": f"no route {method} {CONTROL_PREFIX}{name}", "routes": known}
        raw = request.get_data()
        try:
            payload = json.loads(raw) if raw.strip() else {}
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            return 400, {"error": f"the request body is not JSON: {error}"}
        if not isinstance(payload, dict):
            return 400, {"error": "the request body must be a JSON object"}
        try:
            return handler(payload)
        except Exception as error:  # the server keeps serving; the caller gets the reason
            _LOG.exception("control request %s %s failed", method, name)
            return 500, {"error": f"{type(error).__name__}: {error}"}


class LocalServer:
    """moto's backends and the control routes on a loopback port (0: any free port)."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self._host = host
        self._requested_port = port
        self._routes: dict[tuple[str, str], ControlHandler] = {}
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def route(self, method: str, name: str, handler: ControlHandler) -> None:
        """Serve `handler` at `<method> /_mlops/<name>` (routes may be added while serving)."""
        self._routes[(method.upper(), name.strip("/"))] = handler

    def start(self) -> None:
        aws = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            self._host,
            self._requested_port,
            _Dispatcher(aws, self._routes),
            threaded=True,
            request_handler=_RequestHandler,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-cloud-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    @property
    def port(self) -> int:
        """The port it listens on (the one the system chose when asked for 0)."""
        if self._server is None:
            raise RuntimeError("the server is not running")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"


def call(
    endpoint_url: str, method: str, name: str, body: dict[str, Any] | None = None, *, timeout: float = 3600.0
) -> dict[str, Any]:
    """One control request to a served local cloud; a ControlError says why it did not succeed."""
    url = f"{endpoint_url.rstrip('/')}{CONTROL_PREFIX}{name}"
    if not url.startswith(("http://", "https://")):
        raise ControlError(f"not an http(s) endpoint: {endpoint_url}")
    data = json.dumps(body).encode("utf-8") if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return _json_object(response.read())
    except urllib.error.HTTPError as error:
        answer = _json_object(error.read(), missing={})
        raise ControlError(f"{method} {url}: {error.code} {answer.get('error') or error.reason}", error.code) from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ControlError(
            f"cannot reach the local cloud at {endpoint_url} ({reason}): is `mlops local up` running?"
        ) from error


def _json_object(raw: bytes, missing: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        if missing is not None:
            return missing
        raise ControlError(f"the local cloud answered with something that is not JSON: {raw[:200]!r}") from None
    return value if isinstance(value, dict) else {"value": value}
