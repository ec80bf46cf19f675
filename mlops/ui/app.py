"""The web app: ``create_app(backend)`` includes the page routers, serves the static files (Plotly's JS from the
``plotly`` package, nothing from the internet) and turns a user's mistake into a one-line page; ``serve`` runs
it with uvicorn on loopback only, unless told otherwise.
"""

from __future__ import annotations

import importlib
import ipaddress
import secrets
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from mlops.operator import NotFound, identity
from mlops.targets import UsageError
from mlops.ui.csrf import CsrfRefused, CsrfTokens
from mlops.ui.pages import HERE, BadInput, Refused, error_page

if TYPE_CHECKING:
    from mlops.operator import Backend


@dataclass(frozen=True)
class Page:
    """A page module of the navigation: ``mlops.ui.<module>`` exposes ``router``; its index is ``path``."""

    module: str
    title: str
    path: str


PAGES = (
    Page("runs", "Runs", "/runs"),
    Page("models", "Models", "/models"),
    Page("lineage", "Lineage", "/lineage"),
    Page("features", "Features", "/features"),
    Page("monitoring", "Monitoring", "/monitoring"),
)


def plotly_js() -> Path:
    """Plotly's minified bundle as the ``plotly`` package ships it (its version pinned in requirements.txt)."""
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


# Names a loopback UI answers to. A page of another site whose name resolves to 127.0.0.1 (DNS rebinding) sends its
# own name as Host and is refused (400), so it can neither read a page nor post a form with a token it read.
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
# Every page: scripts and styles from the app only (Plotly draws with inline styles), no framing by another site
# (the approval forms cannot be clickjacked), forms post back to the app only.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'self'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def create_app(
    backend: Backend,
    *,
    secret: bytes | None = None,
    who: Callable[[], str] | None = None,
    hosts: Sequence[str] = LOOPBACK_NAMES,
) -> FastAPI:
    """The UI over ``backend``. ``secret`` signs the CSRF tokens (default: a fresh random key, so a restart
    invalidates open forms); ``who`` says whom the pages show as acting (default: STS, asked once); ``hosts``:
    the Host names it answers to (``"*"``: any)."""
    app = FastAPI(title="mlops ui", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)  # a page may set a stricter policy of its own
        return response

    app.state.backend = backend
    app.state.csrf = CsrfTokens(secret or secrets.token_bytes(32))
    app.state.identity = who or cache(lambda: identity(backend))
    app.state.pages = []
    for page in PAGES:
        try:
            module = importlib.import_module(f"mlops.ui.{page.module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"mlops.ui.{page.module}":
                raise  # the page exists but something it imports does not: a real error
            continue  # a page not written yet is left out of the navigation
        app.include_router(module.router)
        app.state.pages.append(page)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_bundle() -> FileResponse:
        # The bundle changes only with the plotly package: a browser keeps it (and its compiled code) for a day.
        return FileResponse(plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/runs")

    _add_error_pages(app)
    return app


def _add_error_pages(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> HTMLResponse:
        return error_page(request, 404, str(exc))

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, exc: BadInput) -> HTMLResponse:
        return error_page(request, 400, str(exc))

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> HTMLResponse:
        return error_page(request, 409, f"refused: {exc}")

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> HTMLResponse:
        return error_page(request, 403, f"refused: {exc}")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> HTMLResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error.get('loc', ())[1:]) or 'request'}: {error.get('msg', 'invalid')}"
            for error in exc.errors()
        )
        return error_page(request, 400, f"bad request: {problems}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> HTMLResponse:
        message = "no such page: the navigation above lists the pages" if exc.status_code == 404 else str(exc.detail)
        return error_page(request, exc.status_code, message)


# -- serving -------------------------------------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address literal (a name other than localhost is not resolved: not loopback)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, *, allow_remote: bool) -> None:
    """``UsageError`` unless ``host`` is a loopback address (or ``localhost``) or ``allow_remote`` is set: the UI
    approves and promotes models under the credentials of whoever runs it."""
    if not allow_remote and not is_loopback(host):
        raise UsageError(
            f"refusing to serve the UI on {host}: it is not a loopback address, and anyone who reaches it can approve "
            "and promote models as you; use --host 127.0.0.1, or pass --allow-remote if you mean it"
        )


def answers_to(host: str) -> tuple[str, ...]:
    """The Host names the UI served on ``host`` answers to: loopback names on an IPv4 loopback address; any name
    on another address (``--allow-remote``: its users reach it by a name this process cannot know) or an IPv6
    literal (Starlette's host check cuts the Host header at its first ":")."""
    try:
        loopback_v4 = host == "localhost" or ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        loopback_v4 = False
    return tuple(dict.fromkeys((*LOOPBACK_NAMES, host))) if loopback_v4 else ("*",)


@dataclass(frozen=True)
class Serving:
    """The UI's server, its socket already bound: ``run`` serves until ``server.should_exit`` (or a signal)."""

    server: uvicorn.Server
    listening: socket.socket
    url: str

    def run(self) -> None:
        self.server.run(sockets=[self.listening])

    @contextmanager
    def in_thread(self) -> Iterator[str]:
        """Serve on a thread of this process until the block ends (the browser tests, the benchmark and the
        screenshots: in-process moto is shared by threads); the block gets the URL once the server listens."""
        thread = threading.Thread(target=self.run, name="ui-server")
        thread.start()
        try:
            started = threading.Event()  # a wait that is not a sleep of the whole thread
            while not self.server.started and thread.is_alive():
                started.wait(0.02)
            if not self.server.started:
                raise RuntimeError("the UI server did not start")
            yield self.url
        finally:
            self.server.should_exit = True
            thread.join()
            self.listening.close()


def bind(backend: Backend, *, host: str, port: int, allow_remote: bool, **app_options: Any) -> Serving:
    """What ``mlops ui`` serves (and the browser tests): the host checked, the socket bound first, so a port in
    use is one line and ``port`` 0 gets a free one, and the app answering to the names ``answers_to`` gives."""
    check_host(host, allow_remote=allow_remote)
    app = create_app(backend, hosts=answers_to(host), **app_options)
    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
    except OSError as exc:
        listening.close()
        raise UsageError(f"cannot serve the UI on {host}:{port}: {exc.strerror or exc} (pick another --port)") from None
    url = f"http://{f'[{host}]' if ':' in host else host}:{listening.getsockname()[1]}"
    return Serving(uvicorn.Server(uvicorn.Config(app, log_level="warning")), listening, url)


def serve(backend: Backend, *, host: str, port: int, allow_remote: bool, description: str) -> int:
    """Serve the UI until interrupted (``mlops ui``)."""
    serving = bind(backend, host=host, port=port, allow_remote=allow_remote)
    app = serving.server.config.app
    print(f"mlops ui: {description}, acting as {app.state.identity()}, at {serving.url}/ (Ctrl-C stops it)",
          file=sys.stderr)  # fmt: skip
    if not is_loopback(host):
        print(f"warning: the UI answers anyone who reaches {serving.url}: they approve and promote as you",
              file=sys.stderr)  # fmt: skip
    serving.run()
    return 0
