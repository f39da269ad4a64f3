"""The `podium ui` web app: Starlette routes over one run database, rendered on the server by Jinja.

Pages: the runs list (`/`), one run (`/runs/RUN`) with its timeline (the trace report, framed),
steps, approvals and event log, one step's calls (`/runs/RUN/steps/STEP`), the trace downloads,
and spend (`/spend`). Two forms change anything, both POSTs with a CSRF token: a decision on an
approval (the same `api.decide` that `podium approve` calls) and a resume (the CLI's own
`podium resume`, in a worker process). Agents' words reach the page only through autoescaped
templates; the page's one script is a static file.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC
from functools import partial
from html import unescape
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from podium import api
from podium.core.errors import BadInput, PodiumError, RunNotFound
from podium.core.store import RunStore, open_store
from podium.ui import charts
from podium.ui.runs import (
    MOST_RUNS,
    STATUSES,
    RunFilter,
    as_text,
    calls_of,
    event_rows,
    list_version,
    money,
    run_lines,
    run_page,
)
from podium.ui.security import (
    SecurityHeaders,
    TokenGate,
    csrf_ok,
    csrf_token,
    safe_next,
    token_matches,
)
from podium.ui.settings import UISettings
from podium.ui.worker import Workers

MOST_FORM_BYTES = 64 * 1024  # a decision's fields and comment; far more is not a person typing
EVENTS_SHOWN = 500  # the run page lists this many events; the event log page has them all
_META_CSP = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">')


class Podium:
    """What the routes share: the settings, the store, the plugins, the price catalog, the workers."""

    def __init__(self, settings: UISettings) -> None:
        self.settings = settings
        self.store: RunStore = open_store(settings.db)
        self.workers = Workers(settings.db)
        self._lock = threading.Lock()
        self._plugins: Any = None
        self._catalog: Any = None
        self._classes: Any = None

    @property
    def plugins(self) -> Any:
        with self._lock:
            if self._plugins is None:
                from podium.plugins.manager import load_plugins

                self._plugins = load_plugins()
            return self._plugins

    @property
    def catalog(self) -> Any:
        with self._lock:
            if self._catalog is None:
                from podium.cost.catalog import default_config, load_catalog

                self._catalog = load_catalog((), config=default_config())
            return self._catalog

    @property
    def classes(self) -> Any:
        with self._lock:
            if self._classes is None:
                from podium.cost.model_classes import process_model_classes

                self._classes = process_model_classes(())
            return self._classes


async def posted_form(request: Request) -> FormData | None:
    """A POSTed form's fields; None if it is not a URL-encoded form of a sane size.

    The page's forms are plain URL-encoded fields (no files), which the standard library parses:
    no multipart parser is needed, nor accepted.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MOST_FORM_BYTES:
            return None
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        return None
    return FormData(pairs)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("podium.ui", "templates"),
        autoescape=True,  # every value is escaped: agents' replies and outputs are untrusted
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["text"] = as_text
    env.filters["money"] = money
    env.filters["when"] = lambda at: (
        "" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    )
    env.filters["share_bar"] = charts.share_bar
    env.filters["colour"] = charts.colour
    return env


def create_app(settings: UISettings) -> Starlette:
    """The ASGI app serving `settings.db` (its routes, guards and static files)."""
    ctx = Podium(settings)
    templates = Jinja2Templates(env=_environment())

    def user(request: Request) -> str:
        if settings.token is None:
            return settings.user
        return str(request.session.get("user") or "")

    def render(request: Request, template: str, status: int = 200, /, **context: Any) -> Response:
        session = request.session
        base = {
            "user": user(request),
            "csrf": csrf_token(session),
            "flash": session.pop("flash", None),
            "login": settings.token is not None,
            "db": str(settings.db),
        }
        return templates.TemplateResponse(request, template, {**base, **context}, status_code=status)

    def problem(request: Request, status: int, title: str, exc: PodiumError | str) -> Response:
        message = exc if isinstance(exc, str) else str(exc)
        fix = None if isinstance(exc, str) else exc.fix
        return render(request, "error.html.j2", status, title=title, message=message, fix=fix)

    def not_found(request: Request, exc: RunNotFound) -> Response:
        return problem(request, 404, "No such run", exc)

    async def blocking(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(partial(fn, *args, **kwargs))

    # --- runs ---------------------------------------------------------------------------------

    async def runs(request: Request) -> Response:
        query = dict(request.query_params)
        try:
            wanted = RunFilter.parse(query)
        except BadInput as exc:
            return problem(request, 400, "Bad filter", exc)
        lines, workflows = await blocking(run_lines, ctx.store, ctx.catalog, wanted)
        version = await blocking(list_version, ctx.store)
        return render(
            request,
            "runs.html.j2",
            lines=lines,
            workflows=workflows,
            statuses=STATUSES,
            wanted=wanted,
            query=query,
            version=version,
            live_url="/live",
            most=MOST_RUNS,
            waiting=sum(1 for line in lines if line.status == "waiting"),
        )

    async def runs_live(request: Request) -> Response:
        return JSONResponse({"version": await blocking(list_version, ctx.store)})

    async def run(
        request: Request,
        error: PodiumError | None = None,
        given: dict[str, Any] | None = None,
        status: int = 200,
    ) -> Response:
        run_id = request.path_params["run_id"]
        try:
            page = await blocking(run_page, ctx.store, ctx.catalog, run_id)
        except RunNotFound as exc:
            return not_found(request, exc)
        downloads = {
            kind: f"/runs/{page.record.run_id}/trace.{kind}" for kind in ("jsonl", "html", "otlp.json")
        }
        return render(
            request,
            "run.html.j2",
            status,
            page=page,
            run=page.run,
            events=event_rows(page.events[:EVENTS_SHOWN]),
            more_events=max(0, len(page.events) - EVENTS_SHOWN),
            downloads=downloads,
            error=error,
            given=given or {},
            version=page.version,
            # every run page follows its run: a resume, a decision or a kill elsewhere shows in seconds
            live_url=f"/runs/{page.record.run_id}/live",
        )

    async def run_live(request: Request) -> Response:
        def version() -> dict[str, str]:
            record = ctx.store.get_run(request.path_params["run_id"])
            status = api.status_of(record, ctx.store)
            return {"version": f"{ctx.store.last_seq(record.run_id)}-{status}", "status": status}

        try:
            return JSONResponse(await blocking(version))
        except RunNotFound:
            return JSONResponse({"error": "no such run"}, status_code=404)

    async def step(request: Request) -> Response:
        run_id, sid = request.path_params["run_id"], request.path_params["step"]
        try:
            page = await blocking(run_page, ctx.store, ctx.catalog, run_id)
        except RunNotFound as exc:
            return not_found(request, exc)
        line = next((s for s in page.steps if s.id == sid), None)
        if line is None:
            return problem(
                request,
                404,
                "No such step",
                BadInput(
                    f"run {page.record.run_id} has no step '{sid}'",
                    fix=f"its steps: {', '.join(s.id for s in page.steps)}",
                ),
            )
        approval = next((a for a in page.approvals if a.step == sid), None)
        return render(
            request,
            "step.html.j2",
            page=page,
            run=page.run,
            line=line,
            s=line.step,
            approval=approval,
            calls=calls_of(page.events, sid),
        )

    async def events(request: Request) -> Response:
        try:
            record = await blocking(ctx.store.get_run, request.path_params["run_id"])
        except RunNotFound as exc:
            return not_found(request, exc)
        all_events = await blocking(ctx.store.events, record.run_id)
        return render(request, "events.html.j2", record=record, events=event_rows(all_events))

    def _spans(run_id: str, content: bool) -> tuple[Any, list[Any]]:
        from podium.trace.export import run_spans

        record = ctx.store.get_run(run_id)
        return record, run_spans(ctx.store, record.run_id, plugins=ctx.plugins, content=content)

    async def timeline(request: Request) -> Response:
        from podium.trace.html import render_html

        try:
            record, spans = await blocking(_spans, request.path_params["run_id"], True)
        except RunNotFound as exc:
            return not_found(request, exc)
        html = await blocking(render_html, spans, title=f"{record.workflow} · {record.run_id}")
        found = _META_CSP.search(html)
        # the report pins its own inline style and script by hash; the page may frame it, no other
        policy = (unescape(found.group(1)) if found else "default-src 'none'") + "; frame-ancestors 'self'"
        return Response(html, media_type="text/html", headers={"Content-Security-Policy": policy})

    async def download(request: Request) -> Response:
        from podium.ui.downloads import KINDS, trace_document

        kind = request.path_params["kind"]
        if kind not in KINDS:
            return problem(
                request,
                404,
                "No such download",
                f"trace.{kind}: the trace downloads are trace.jsonl, trace.html and trace.otlp.json",
            )
        content = request.query_params.get("content") == "1"
        try:
            record, spans = await blocking(_spans, request.path_params["run_id"], content)
            text = await blocking(trace_document, spans, kind, f"{record.workflow} · {record.run_id}")
        except RunNotFound as exc:
            return not_found(request, exc)
        except PodiumError as exc:
            return problem(request, 501 if exc.exit_code == 2 else 500, "Cannot export this trace", exc)
        media, ext = KINDS[kind]
        suffix = "-content" if content else ""
        headers = {"Content-Disposition": f'attachment; filename="{record.run_id}{suffix}.trace.{ext}"'}
        if kind == "html":  # opened from disk later: it carries its own CSP; here it is only saved
            headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return Response(text, media_type=media, headers=headers)

    # --- what changes things: POST, with a CSRF token -------------------------------------------

    async def form_of(request: Request) -> tuple[FormData, Response | None]:
        form = await posted_form(request)
        if form is None:
            return FormData(), problem(
                request,
                400,
                "Bad form",
                "the page's forms send application/x-www-form-urlencoded, of at most"
                f" {MOST_FORM_BYTES // 1024} KB; nothing was changed",
            )
        if not csrf_ok(request.session, form.get("csrf")):
            return form, problem(
                request,
                403,
                "Refused",
                "this form did not carry this page's CSRF token, so it may not come from this page;"
                " nothing was changed",
            )
        return form, None

    async def decide(request: Request) -> Response:
        run_id, sid = request.path_params["run_id"], request.path_params["step"]
        form, refused = await form_of(request)
        if refused is not None:
            return refused
        action = form.get("action")
        if action not in ("approve", "approve-resume", "reject"):
            return problem(
                request, 400, "Bad form", "the form says neither approve nor reject; nothing changed"
            )
        decision = "rejected" if action == "reject" else "approved"
        fields = {
            key.removeprefix("field."): value.strip()
            for key, value in form.multi_items()
            if key.startswith("field.") and isinstance(value, str) and value.strip()
        }
        comment = str(form.get("comment") or "").strip() or None
        by = user(request)
        try:
            record = await blocking(ctx.store.get_run, run_id)
            outcome = await blocking(
                api.decide,
                record.run_id,
                sid,
                decision,
                by=by,
                comment=comment,
                fields=fields,
                store=ctx.store,
                plugins=ctx.plugins,
            )
        except RunNotFound as exc:
            return not_found(request, exc)
        except BadInput as exc:
            given = {"step": sid, "comment": comment or "", "fields": fields}
            status = 409 if "already decided" in str(exc) else 400
            return await run(request, error=exc, given=given, status=status)
        said = f"{decision}: step {sid} by {by}"
        if outcome == "sent":
            said += " (sent to the process that drives the run)"
        elif action == "approve-resume":
            worker = await blocking(ctx.workers.resume, record.run_id)
            said += f"; resuming in a worker process (pid {worker.pid}, log {worker.log})"
        else:
            said += f"; continue with Resume, or: podium resume {record.run_id}"
        request.session["flash"] = said
        return RedirectResponse(f"/runs/{record.run_id}", status_code=303)

    async def resume(request: Request) -> Response:
        form, refused = await form_of(request)
        if refused is not None:
            return refused
        del form
        try:
            record = await blocking(ctx.store.get_run, request.path_params["run_id"])
        except RunNotFound as exc:
            return not_found(request, exc)
        status = await blocking(api.status_of, record, ctx.store)
        lease = await blocking(ctx.store.lease, record.run_id)
        if status == "succeeded":
            said = f"run {record.run_id} already succeeded; nothing to resume"
        elif lease.driven:
            said = f"run {record.run_id} is driven by a live process ({lease.owner}); it needs no resume"
        else:
            worker = await blocking(ctx.workers.resume, record.run_id)
            said = f"resuming run {record.run_id} in a worker process (pid {worker.pid}, log {worker.log})"
        request.session["flash"] = said
        return RedirectResponse(f"/runs/{record.run_id}", status_code=303)

    # --- spend ----------------------------------------------------------------------------------

    async def spend_page(request: Request) -> Response:
        from podium.ui.spend import PERIODS, spend, what_if

        query = dict(request.query_params)
        text = query.get("days") or "30"
        if not text.isdigit() or int(text) not in PERIODS:
            return problem(
                request,
                400,
                "Bad period",
                BadInput(
                    f"days={text}: not a period this page shows",
                    fix=f"use one of {', '.join(map(str, PERIODS))}",
                ),
            )
        days = int(text)
        data = await blocking(spend, ctx.store, ctx.catalog, days, ctx.plugins)
        workflow, targets = query.get("workflow") or "", query.get("as") or ""
        report, error = None, None
        if workflow and targets:
            try:
                report = await blocking(what_if, ctx.store, ctx.catalog, workflow, targets, days, ctx.classes)
            except BadInput as exc:
                error = exc
        chart = charts.daily_bars(data.days, data.workflows, data.daily)
        return render(
            request,
            "spend.html.j2",
            400 if error else 200,
            data=data,
            days=days,
            periods=PERIODS,
            chart=chart,
            workflow=workflow,
            targets=targets,
            whatif=report,
            error=error,
            workflows=sorted({*data.workflows, *(b.workflow for b in data.budgets)}),
        )

    # --- login ----------------------------------------------------------------------------------

    async def login(request: Request) -> Response:
        target = safe_next(request.query_params.get("next"))
        if settings.token is None:
            return RedirectResponse(target, status_code=303)
        if request.method == "GET":
            return render(request, "login.html.j2", target=target, error=None, name="")
        form, refused = await form_of(request)
        if refused is not None:
            return refused
        name = str(form.get("name") or "").strip()
        target = safe_next(str(form.get("next") or "/"))
        if not token_matches(str(form.get("token") or ""), settings.token):
            return render(
                request,
                "login.html.j2",
                401,
                target=target,
                name=name,
                error="that is not this page's token (podium ui --token, or $PODIUM_UI_TOKEN)",
            )
        if not name:
            return render(
                request,
                "login.html.j2",
                400,
                target=target,
                name=name,
                error="give your name: it is recorded on every decision you make",
            )
        request.session.clear()
        request.session["user"] = name[:80]
        csrf_token(request.session)
        return RedirectResponse(target, status_code=303)

    async def logout(request: Request) -> Response:
        _, refused = await form_of(request)
        if refused is not None:
            return refused
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def missing(request: Request, exc: Exception) -> Response:
        return problem(request, 404, "Not found", f"nothing is served at {request.url.path}")

    routes = [
        Route("/", runs),
        Route("/live", runs_live),
        Route("/runs/{run_id}", run),
        Route("/runs/{run_id}/live", run_live),
        Route("/runs/{run_id}/events", events),
        Route("/runs/{run_id}/timeline", timeline),
        Route("/runs/{run_id}/trace.{kind}", download),
        Route("/runs/{run_id}/steps/{step}", step),
        Route("/runs/{run_id}/steps/{step}/decide", decide, methods=["POST"]),
        Route("/runs/{run_id}/resume", resume, methods=["POST"]),
        Route("/spend", spend_page),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("podium.ui", "static")]), name="static"),
    ]
    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts)),
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=settings.secret,
            session_cookie="podium_ui",
            same_site="strict",
            max_age=12 * 3600,
        ),
        Middleware(TokenGate, token=settings.token),
    ]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={404: missing})
    app.state.podium = ctx
    return app
