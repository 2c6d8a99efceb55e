"""``/v1/campaigns``, ``/v1/code-pools``, ``/v1/codes`` and the QR images of codes."""

from __future__ import annotations

import io
from typing import Annotated, Any, Literal

import anyio
import segno
from litestar import Controller, Request, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath, FromQuery, QueryParameter
from sqlmodel import Session

from distribution.codes.assignment import (
    AssignedCode,
    assign_code,
    codes_of_customer,
    revoke_code,
)
from distribution.codes.campaigns import CampaignSpec, create_campaign, get_campaign, list_campaigns
from distribution.codes.code_pools import (
    MAX_CODE_LENGTH,
    CodeConfig,
    ImportReport,
    create_pool,
    generate_codes,
    get_pool,
    import_codes,
    list_pools,
    pool_stats,
    read_code_csv,
    read_code_json,
    set_low_stock_threshold,
)
from distribution.errors import FieldError, InvalidInputError, NotFoundError
from distribution.models import Campaign, CodePool, Project
from distribution.outbox import LinkSettings
from distribution.outbox.conversions import Scope, scope_days, scope_stats
from distribution.outbox.notifiers import DeliveryNotifier
from distribution.storage.db import Database
from web.auth import SECURITY, Caller
from web.campaigns_schemas import (
    AssignIn,
    CampaignIn,
    CampaignOut,
    CodeOut,
    CodesAdded,
    GenerateIn,
    PoolChange,
    PoolIn,
    PoolOut,
    RefusedRow,
)
from web.input_guard import STREAMS_BODY
from web.stats_schemas import ScopeStatsOut, days_response, scope_stats_out
from web.stored_times import utc, utc_or_none
from web.uploads import spooled_upload

__all__ = ["CampaignController", "CodeController", "CodePoolController", "qr_image"]

IMPORT_MAX_BYTES = 256 * 1024 * 1024


def _campaign_out(c: Campaign) -> CampaignOut:
    return CampaignOut(
        id=c.id,
        name=c.name,
        type=c.type,
        description=c.description,
        metadata=c.meta,
        referral_url_template=c.referral_url_template,
        created_at=utc(c.created_at),
    )


class CampaignController(Controller):
    """Campaigns of the caller's project."""

    path = "/v1/campaigns"
    tags = ["campaigns"]
    security = SECURITY

    @post("/", sync_to_thread=True, summary="Create a campaign")
    def create(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        data: Annotated[
            CampaignIn,
            Body(
                examples=[
                    Example(
                        summary="Referral",
                        value={
                            "name": "Spring referral",
                            "type": "referral",
                            "metadata": {"season": "spring"},
                            "referral_url_template": "https://shop.example.com/r/{code}",
                        },
                    )
                ]
            ),
        ],
    ) -> CampaignOut:
        spec = CampaignSpec(
            name=data.name,
            type=data.type,
            description=data.description,
            metadata=data.metadata,
            referral_url_template=data.referral_url_template,
        )
        with db.session() as session:
            return _campaign_out(create_campaign(session, caller.project_id, spec))

    @get("/", sync_to_thread=True, summary="List campaigns")
    def all_campaigns(
        self, db: NamedDependency[Database], caller: NamedDependency[Caller]
    ) -> list[CampaignOut]:
        with db.reader() as session:
            return [_campaign_out(c) for c in list_campaigns(session, caller.project_id)]

    @get("/{campaign_id:str}", sync_to_thread=True, summary="One campaign")
    def retrieve(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        campaign_id: FromPath[str],
    ) -> CampaignOut:
        with db.reader() as session:
            return _campaign_out(get_campaign(session, caller.project_id, campaign_id))

    @get(
        "/{campaign_id:str}/stats",
        sync_to_thread=True,
        summary="The campaign's messages: sent, delivered, failed, converted and revenue",
    )
    def stats(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        campaign_id: FromPath[str],
    ) -> ScopeStatsOut:
        with db.reader() as session:
            get_campaign(session, caller.project_id, campaign_id)
            scope = Scope("campaign_id", campaign_id)
            return scope_stats_out(scope_stats(session, caller.project_id, scope))

    @get(
        "/{campaign_id:str}/stats/days",
        sync_to_thread=True,
        summary="The campaign's figures per UTC day (JSON, or CSV with ?format=csv)",
    )
    def daily(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        campaign_id: FromPath[str],
        format: Annotated[Literal["json", "csv"], QueryParameter()] = "json",
    ) -> Response[Any]:
        with db.reader() as session:
            get_campaign(session, caller.project_id, campaign_id)
            days = scope_days(session, caller.project_id, Scope("campaign_id", campaign_id))
        return days_response(days, format, f"campaign-{campaign_id}-days.csv")


def _pool_out(session: Session, pool: CodePool) -> PoolOut:
    stats = pool_stats(session, pool.id)
    return PoolOut(
        id=pool.id,
        campaign_id=pool.campaign_id,
        name=pool.name,
        low_stock_threshold=pool.low_stock_threshold,
        total=stats.total,
        assigned=stats.assigned,
        available=stats.available,
        revoked=stats.revoked,
        created_at=utc(pool.created_at),
    )


def _code_out(found: AssignedCode) -> CodeOut:
    return CodeOut(
        code=found.code,
        pool_id=found.pool_id,
        campaign_id=found.campaign_id,
        status=found.status,
        customer_id=found.customer_id,
        assigned_at=utc_or_none(found.assigned_at),
        referral_url=found.referral_url,
        qr_url=found.qr_url,
        created=found.created,
        queued_messages=found.deliveries,
    )


def _added(db: Database, project_id: str, pool_id: str, report: ImportReport) -> CodesAdded:
    with db.reader() as session:
        pool = get_pool(session, project_id, pool_id)
        return CodesAdded(
            added=report.added,
            rejected=report.rejected,
            rejected_rows=[RefusedRow(**r) for r in report.rows],
            pool=_pool_out(session, pool),
        )


#: How many example codes a dry run shows.
EXAMPLES = 5


def _dry_run(db: Database, project_id: str, pool_id: str, config: CodeConfig) -> CodesAdded:
    # The same check a real run makes (every bad field named), then a few codes made by the
    # same code, so the examples are exactly what a real run would produce.
    errors = config.check()
    if errors:
        raise InvalidInputError(errors)
    added = _added(db, project_id, pool_id, ImportReport())
    added.combinations = config.space()
    added.examples = config.make(EXAMPLES)
    added.dry_run = True
    return added


def _project(session: Session, project_id: str) -> Project:
    project = session.get(Project, project_id)
    if project is None:  # pragma: no cover - the caller's project exists
        raise NotFoundError("project", project_id)
    return project


class CodePoolController(Controller):
    """Code pools: create, fill (import or generate), count, assign."""

    path = "/v1/code-pools"
    tags = ["codes"]
    security = SECURITY

    @post("/", sync_to_thread=True, summary="Create a code pool")
    def create(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        data: Annotated[
            PoolIn,
            Body(
                examples=[
                    Example(
                        summary="Pool",
                        value={"campaign": "camp_...", "name": "Main", "low_stock_threshold": 100},
                    )
                ]
            ),
        ],
    ) -> PoolOut:
        with db.session() as session:
            pool = create_pool(
                session, caller.project_id, data.campaign, data.name, data.low_stock_threshold
            )
            return _pool_out(session, pool)

    @get("/", sync_to_thread=True, summary="List code pools with their counts")
    def all_pools(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        campaign: FromQuery[str | None] = None,
    ) -> list[PoolOut]:
        """Every pool of the project, oldest first; ``campaign`` keeps one campaign's."""
        with db.reader() as session:
            if campaign is not None:
                get_campaign(session, caller.project_id, campaign)  # unknown: 404
            pools = list_pools(session, caller.project_id, campaign)
            return [_pool_out(session, p) for p in pools]

    @patch("/{pool_id:str}", sync_to_thread=True, summary="Change a pool's low-stock threshold")
    def change(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        pool_id: FromPath[str],
        data: Annotated[
            PoolChange,
            Body(examples=[Example(summary="Threshold", value={"low_stock_threshold": 50})]),
        ],
    ) -> PoolOut:
        with db.session() as session:
            pool = set_low_stock_threshold(
                session, caller.project_id, pool_id, data.low_stock_threshold
            )
            return _pool_out(session, pool)

    @get("/{pool_id:str}", sync_to_thread=True, summary="A pool with its counts")
    def retrieve(
        self, db: NamedDependency[Database], caller: NamedDependency[Caller], pool_id: FromPath[str]
    ) -> PoolOut:
        with db.reader() as session:
            return _pool_out(session, get_pool(session, caller.project_id, pool_id))

    @post(
        "/{pool_id:str}/codes/import",
        status_code=200,
        request_max_body_size=IMPORT_MAX_BYTES,
        opt=STREAMS_BODY,
        summary="Import codes from CSV (first column) or a JSON array",
        description=(
            "Send the file as the body with `Content-Type: text/csv` (first column; a header "
            "`code` is skipped) or `application/json` (an array of strings or of `{code}`). "
            "Written in chunks of 5,000; codes already in the project or repeated in the file, "
            f"and codes that are not 1-{MAX_CODE_LENGTH} printable characters without spaces, "
            "are refused and reported by row."
        ),
    )
    async def import_file(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        pool_id: FromPath[str],
    ) -> CodesAdded:
        async with spooled_upload(request) as upload:

            def run() -> CodesAdded:
                if upload.is_json:
                    rows = read_code_json(upload.file.read())
                else:
                    text = io.TextIOWrapper(upload.file, encoding="utf-8", newline="")
                    rows = read_code_csv(text)
                report = import_codes(db, caller.project_id, pool_id, rows)
                return _added(db, caller.project_id, pool_id, report)

            return await anyio.to_thread.run_sync(run)

    @post(
        "/{pool_id:str}/codes/generate",
        status_code=200,
        summary="Generate unique codes",
        description=(
            "`#` is a random digit, `?` a random letter, `*` any character of `charset`; "
            "anything else is kept. The answer's `combinations` is how many distinct codes the "
            'config can make. With `"dry_run": true` nothing is stored and the answer carries '
            "five `examples` of what it would make."
        ),
    )
    async def generate(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        pool_id: FromPath[str],
        data: Annotated[
            GenerateIn,
            Body(
                examples=[
                    Example(summary="Pattern", value={"count": 1000, "pattern": "REF-####-????"}),
                    Example(summary="Length", value={"count": 500, "length": 8, "prefix": "SP-"}),
                    Example(
                        summary="Dry run",
                        value={"count": 1000, "pattern": "REF-####-????", "dry_run": True},
                    ),
                ]
            ),
        ],
    ) -> CodesAdded:
        config = CodeConfig(
            count=data.count,
            length=data.length,
            charset=data.charset if data.charset is not None else CodeConfig.charset,
            prefix=data.prefix,
            postfix=data.postfix,
            pattern=data.pattern,
        )

        def run() -> CodesAdded:
            if data.dry_run:
                return _dry_run(db, caller.project_id, pool_id, config)
            report = generate_codes(db, caller.project_id, pool_id, config)
            added = _added(db, caller.project_id, pool_id, report)
            added.combinations = config.space()
            return added

        return await anyio.to_thread.run_sync(run)

    @post(
        "/{pool_id:str}/assign",
        sync_to_thread=True,
        status_code=200,
        summary="Give a customer a code (the same one when asked again)",
        description=(
            "At most one code per customer per campaign: asking again answers with the same code "
            "(`created: false`). A new assignment emits `code.assigned`, which distributions can "
            "trigger on. 409 when the pool has no available code."
        ),
    )
    def assign(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        links: NamedDependency[LinkSettings],
        worker: NamedDependency[DeliveryNotifier],
        pool_id: FromPath[str],
        data: Annotated[
            AssignIn,
            Body(examples=[Example(summary="By source id", value={"customer": "shop-42"})]),
        ],
    ) -> CodeOut:
        with db.session() as session:
            found = assign_code(
                session, _project(session, caller.project_id), pool_id, data.customer, links
            )
        if found.deliveries:
            worker.wake()
        return _code_out(found)


class CodeController(Controller):
    """Single codes."""

    path = "/v1/codes"
    tags = ["codes"]
    security = SECURITY

    @get("/", sync_to_thread=True, summary="The codes a customer holds or held")
    def of_customer(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        links: NamedDependency[LinkSettings],
        customer: FromQuery[str],
    ) -> list[CodeOut]:
        """``customer`` (our id or their ``source_id``): its codes, revoked ones too, oldest
        first."""
        with db.reader() as session:
            found = codes_of_customer(session, caller.project_id, customer, links)
        return [_code_out(c) for c in found]

    @post(
        "/{code:str}/revoke",
        sync_to_thread=True,
        status_code=200,
        summary="Revoke a code (emits code.revoked)",
    )
    def revoke(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        links: NamedDependency[LinkSettings],
        worker: NamedDependency[DeliveryNotifier],
        code: FromPath[str],
    ) -> CodeOut:
        with db.session() as session:
            found = revoke_code(session, _project(session, caller.project_id), code, links)
        if found.deliveries:
            worker.wake()
        return _code_out(found)


def _qr_text(code: str) -> str:
    # The image only draws the text it is given: no lookup, so it reveals nothing about any
    # project's codes, and needs no credentials (templates embed it in emails).
    if not 1 <= len(code) <= MAX_CODE_LENGTH or not code.isprintable():
        raise InvalidInputError(
            [FieldError("code", f"must be 1-{MAX_CODE_LENGTH} printable characters")]
        )
    return code


_QR_CACHE = "public, max-age=86400, immutable"
_QR_KINDS = {".png": "image/png", ".svg": "image/svg+xml"}


@get(
    "/links/qr/{name:str}",
    sync_to_thread=True,
    tags=["codes"],
    summary="A QR image of a code: /links/qr/{code}.png or .svg",
    description=(
        "Draws the code text it is given (URL-escaped in the path); no credentials and no "
        "lookup, so it tells nothing about any project's codes."
    ),
    # An image link for templates, not an API operation: kept out of the OpenAPI document,
    # which cannot describe one path answering PNG or SVG by its suffix.
    include_in_schema=False,
)
def qr_image(name: FromPath[str]) -> Response[bytes]:
    """The QR image of the code in the path, PNG or SVG by the extension."""
    stem, dot, extension = name.rpartition(".")
    media_type = _QR_KINDS.get(dot + extension.lower())
    if not dot or media_type is None:
        raise InvalidInputError([FieldError("name", "must end in .png or .svg")])
    out = io.BytesIO()
    kind = "png" if media_type == "image/png" else "svg"
    segno.make(_qr_text(stem), error="m").save(out, kind=kind, scale=8, border=2)
    return Response(out.getvalue(), media_type=media_type, headers={"Cache-Control": _QR_CACHE})
