"""The review app's HTTP side: the page, its JSON API, and the images by id.

Safe by default: every /api request needs the session's token (written into the page the server
serves, so another web site cannot post decisions or read the state); the Host header must name
the address served (no DNS rebinding); the page may run only its own script (Content-Security-Policy),
and puts every tag on screen as text.
"""

import html
import secrets
from importlib import resources

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from tagger import runfolder
from tagger.errors import TaggerError
from tagger.review.gallery import Gallery, UnknownImage
from tagger.review.session import ReviewSession, StalePage
from tagger.runlock import run_lock
from tagger.tagtext import visible
from tagger.variants.legend import BOTH_LEGEND, IMAGES_LEGEND, WORDS_LEGEND, evidence_legend
from tagger.variants.review import ReviewChangedOnDisk, RowsRefused, apply_review, review_fingerprint

TOKEN_HEADER = "X-Review-Token"
PAGE_HEADER = "X-Review-Page"  # which page load asks: each page undoes only its own changes
MAX_BODY = 1 << 20  # a change is a few hundred bytes; anything near this is not from the page
ASSETS = {"review.js": "text/javascript", "review.css": "text/css"}  # the only files served besides the page
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class TokenRefused(Exception):
    """An /api request without this session's token."""


class Decision(BaseModel):
    version: str
    row: int
    decision: str


class Decisions(BaseModel):
    version: str
    rows: list[int]
    decision: str


class RowChange(BaseModel):
    version: str
    row: int


class CanonicalChange(BaseModel):
    version: str
    group: str
    canonical: str


class Versioned(BaseModel):
    version: str


class BodyLimit:
    """Refuses a request body over max_bytes with 413: by its Content-Length before reading any of it, and a body
    sent without one (chunked) once it passes the limit. Outermost, so before the token is even looked at."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                return await self.refuse(scope, receive, send)
            return await self.app(scope, receive, send)
        body, more = bytearray(), True  # no length given: read up to the limit, then hand the app what was read
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                return await self.refuse(scope, receive, send)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}
        await self.app(scope, replay, send)

    async def refuse(self, scope, receive, send):
        answer = JSONResponse({"error": f"request body over {self.max_bytes} bytes: refused"}, 413,
                              headers={"Connection": "close"})
        await answer(scope, receive, send)


def validation_message(error: RequestValidationError) -> str:
    """FastAPI's list of validation errors as one line: each field and what is wrong with it."""
    problems = []
    for item in error.errors():
        field = ".".join(part for part in item["loc"] if isinstance(part, str) and part not in ("body", "query"))
        problems.append(f"{field}: {item['msg']}" if field else item["msg"])
    return "; ".join(problems)


def asset_text(name: str) -> str:
    return resources.files("tagger.review").joinpath("assets", name).read_text(encoding="utf-8")


def allowed_hosts(host: str) -> list[str]:
    """Host header values accepted: the loopback names, or anything when serving on every address."""
    if host in ("0.0.0.0", "::", ""):
        return ["*"]
    return sorted({host, "127.0.0.1", "localhost", "[::1]", f"[{host}]"})


def tag_counts(run_dir) -> dict[str, int]:
    """Images per tag from vocabulary.csv, and per rare tag from rare_tags.csv (a typed canonical may be one, `greeen`
    on 3 images); {} without vocabulary.csv: a typed canonical's count is then left blank."""
    try:
        counts = dict(zip(*runfolder.read_vocabulary_counts(run_dir)))
    except TaggerError:
        return {}
    rare = runfolder.read_rare_tags(run_dir) or {}
    return {**{tag: len(images) for tag, images in rare.items()}, **counts}


def create_app(settings, session: ReviewSession | None = None, gallery: Gallery | None = None) -> FastAPI:
    """The review app for settings.paths.run_dir; session and gallery are read from it when not given."""
    run_dir = settings.paths.run_dir
    session = session or ReviewSession(run_dir / runfolder.REVIEW, tag_counts(run_dir))
    gallery = gallery or Gallery(run_dir, settings.review.thumbnails)
    token = secrets.token_urlsafe(32)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.token, app.state.session, app.state.gallery = token, session, gallery
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings.review.host))
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY)
    page = asset_text("index.html").replace("{{token}}", html.escape(token, quote=True)).replace(
        "{{run_dir}}", html.escape(str(run_dir)))
    every_legend = {**evidence_legend(True), **WORDS_LEGEND}

    def legend(names) -> dict:
        """The legend of the evidence review.csv has (the text cosine, the probe's answer and the spelling link
        only where it has them)."""
        return {"evidence": {name: every_legend[name] for name in names}, "images": IMAGES_LEGEND, "both": BOTH_LEGEND}

    async def require_token(x_review_token: str = Header("", alias=TOKEN_HEADER)) -> None:
        if not secrets.compare_digest(x_review_token.encode(), token.encode()):
            raise TokenRefused()

    def page_id(x_review_page: str = Header("", alias=PAGE_HEADER)) -> str:
        return x_review_page

    @app.exception_handler(TokenRefused)
    def token_refused(request: Request, error: TokenRefused):
        # A page served before review.py was restarted holds the old token: it has to be loaded again (restarted).
        return JSONResponse({"error": "missing or wrong session token: open the page from review.py's URL",
                             "restarted": True}, 403)

    @app.exception_handler(RequestValidationError)
    def invalid_request(request: Request, error: RequestValidationError):
        return JSONResponse({"error": f"invalid request: {validation_message(error)}"}, 422)

    @app.exception_handler(HTTPException)
    def http_error(request: Request, error: HTTPException):
        return JSONResponse({"error": str(error.detail)}, error.status_code, headers=error.headers)

    @app.exception_handler(TaggerError)
    def user_error(request: Request, error: TaggerError):
        if isinstance(error, UnknownImage):
            return JSONResponse({"error": str(error)}, 404)
        stale = isinstance(error, (StalePage, ReviewChangedOnDisk))
        return JSONResponse({"error": str(error), "reload": stale}, 409 if stale else 400)

    @app.get("/", response_class=HTMLResponse)
    def index():
        return HTMLResponse(page, headers=SECURITY_HEADERS)

    @app.get("/favicon.ico")
    def no_icon():  # browsers ask for one: no content, rather than a 404 in the page's console
        return Response(status_code=204, headers=SECURITY_HEADERS)

    @app.get("/assets/{name}")
    def asset(name: str):
        if name not in ASSETS:
            return JSONResponse({"error": "not found"}, 404)
        return Response(asset_text(name), media_type=ASSETS[name], headers=SECURITY_HEADERS)

    # Quick, CPU-only answers run on the event loop (async): a thread hop would cost more than the work.
    @app.get("/api/image")
    async def image(id: str, size: str = "thumb"):
        # Not behind the token: an <img> cannot send a header. The Host check and the id lookup guard it.
        return Response(gallery.image_bytes(id, size), media_type="image/jpeg",
                        headers={**SECURITY_HEADERS, "Cache-Control": "private, max-age=3600"})

    # Answers are JSONResponse objects: FastAPI then skips its generic encoder, far too slow for 5,000 pairs.
    api = [Depends(require_token)]

    @app.get("/api/state", dependencies=api)
    def state(first: int | None = Query(None, ge=0)):
        state = session.state(first)
        return JSONResponse({**state, "legend": legend(state["evidence"]), "run_dir": str(run_dir)})

    @app.get("/api/samples", dependencies=api)
    async def samples(group: str):
        canonical, variants = session.tags_of_group(group)
        return JSONResponse({"group": group, "tags": gallery.group_samples(canonical, variants)})

    @app.post("/api/decide", dependencies=api)
    def decide(change: Decision, page: str = Depends(page_id)):
        return JSONResponse(session.decide(change.version, change.row, change.decision, page))

    @app.post("/api/decide_many", dependencies=api)
    def decide_many(change: Decisions, page: str = Depends(page_id)):
        return JSONResponse(session.decide_many(change.version, change.rows, change.decision, page))

    @app.post("/api/split", dependencies=api)
    def split(change: RowChange, page: str = Depends(page_id)):
        return JSONResponse(session.split(change.version, change.row, page))

    @app.post("/api/canonical", dependencies=api)
    def canonical(change: CanonicalChange, page: str = Depends(page_id)):
        return JSONResponse(session.set_canonical(change.version, change.group, change.canonical, page))

    @app.post("/api/undo", dependencies=api)
    def undo(change: Versioned, page: str = Depends(page_id)):
        return JSONResponse(session.undo(change.version, page))

    @app.post("/api/reload", dependencies=api)
    def reload(first: int | None = Query(None, ge=0)):
        session.reload()
        return state(first)

    @app.post("/api/apply", dependencies=api)
    def apply(change: Versioned):
        if change.version != session.version:
            raise StalePage()
        if review_fingerprint(session.path) != session.version:  # apply reads the file: it must be what was shown
            raise ReviewChangedOnDisk(session.path)
        with run_lock(run_dir):  # apply_review.py's own lock: never beside another step
            try:
                aliases, commands = apply_review(settings).product  # a conflict or cycle stops it before any write
            except RowsRefused as error:  # one line per row, naming its pair: the page never shows line numbers
                problems = [f"{visible(row.get('variant', '') + ' → ' + row.get('canonical', ''))} (line {line}): "
                            f"{why}" for line, row, why in error.problems]
                return JSONResponse({"error": error.head, "problems": problems}, 400)
        return JSONResponse({"aliases": [[variant, target] for variant, target in sorted(aliases.items())],
                             "path": str(run_dir / runfolder.ALIASES),
                             "next": commands})

    return app

