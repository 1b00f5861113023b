"""review.py: serve the review page on this machine until Ctrl-C."""

import errno
import ipaddress
import logging
import socket
import webbrowser

from tagger import interrupt, runfolder
from tagger.errors import TaggerError
from tagger.logs import RESULT
from tagger.result import StepResult
from tagger.review.server import create_app

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bound_socket(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one), or a one-line error naming the setting."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: without it, Nagle's algorithm and delayed ACKs add ~40 ms per answer.
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        listener.bind((host, port))
        listener.listen(128)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise TaggerError(f"review.port {port} is in use on {host}; choose another, or 0 for a free one") from None
        raise TaggerError(f"review.host {host!r}: cannot serve there ({error.strerror or error})") from None
    return listener


def page_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    return f"http://[{shown}]:{port}/" if ":" in shown and not shown.startswith("[") else f"http://{shown}:{port}/"


def review(settings) -> StepResult:
    """The documented command (review.py): serve the review page for the run folder, until Ctrl-C.

    Only reads the run folder while it serves (the step takes no lock); its Apply button takes the run
    folder's lock for as long as it writes aliases.txt."""
    import uvicorn

    options = settings.review
    app = create_app(settings)
    listener = bound_socket(options.host, options.port)
    url = page_url(options.host, listener.getsockname()[1])
    if not is_loopback(options.host):
        log.warning(f"serving on {options.host}, not only this machine: anyone who can reach it can see the "
                    "images; decisions still need the page's session token")
    # The address is what the person ran the command for: shown under --quiet too.
    log.log(RESULT, f"review: {url}  (decisions go to {settings.paths.run_dir / runfolder.REVIEW} at once; "
            "Ctrl-C stops)")
    if options.open:
        webbrowser.open(url)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2))
    try:
        server.run(sockets=[listener])
    except KeyboardInterrupt:  # newer uvicorn re-raises the Ctrl-C it handled
        pass
    interrupt.clear()  # Ctrl-C is how this step ends (uvicorn handled it): exit 0, not 130
    log.info("review: stopped; every decision made is in review.csv")
    return StepResult([settings.paths.run_dir / runfolder.REVIEW])
