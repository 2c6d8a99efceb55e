"""Stored templates: versions, publish, restore, compare, resolution, cached renders, contexts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlmodel import Session

from distribution.customers.segments import create_segment, delete_segment
from distribution.errors import ConflictError, InvalidInputError, NotFoundError
from distribution.models import Customer, Project, TemplateVariant, TemplateVersion
from distribution.storage.db import Database
from distribution.template_store import (
    COMPILED,
    NoLiveVersionError,
    VersionInput,
    add_version,
    archive_template,
    build_context,
    compare_version,
    create_template,
    get_template_detail,
    list_templates,
    publish_version,
    render_version,
    resolve_template,
    restore_version,
)
from templates import MissingVariablesError, RenderedEmail, RenderedSms
from tests.conftest import ProjectCredentials

UNSUB = '<a href="{{ links.unsubscribe_url }}">Unsubscribe</a>'


def mjml(text: str) -> str:
    return (
        "<mjml><mj-body><mj-section><mj-column>"
        f"<mj-text>{text}</mj-text><mj-text>{UNSUB}</mj-text>"
        "</mj-column></mj-section></mj-body></mjml>"
    )


def email(text: str, subject: str = "Hello {{ customer.first_name }}") -> VersionInput:
    return VersionInput(subject=subject, body=mjml(text))


def sms_template(session: Session, project_id: str, name: str = "Code SMS") -> str:
    saved = create_template(
        session,
        project_id,
        name=name,
        channel="sms",
        category="transactional",
        first_version=VersionInput(body="Your code: {{ code.code }}"),
        actor="app_test",
    )
    return saved.version.template_id


def publish(session: Session, project_id: str, template_id: str, version_id: str) -> None:
    publish_version(session, project_id, template_id, version_id, actor="app_test")


def test_create_gives_a_default_variant_and_a_first_draft(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    with database.session() as session:
        saved = create_template(
            session, pid, name="Invite", channel="email", category="marketing", actor="app_1"
        )
        detail = get_template_detail(session, pid, saved.version.template_id)
    assert detail.status == "draft"
    [variant] = detail.variants
    assert variant.variant.variant_key == "||"
    assert variant.live is None
    assert variant.latest_draft is not None
    assert variant.latest_draft.number == 1
    assert variant.latest_draft.created_by == "app_1"
    # The starter is a clean marketing email: it has its unsubscribe link.
    assert saved.check.errors == []


def test_names_are_unique_and_fields_checked(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    with database.session() as session:
        sms_template(session, pid, "Same")
        with pytest.raises(ConflictError):
            sms_template(session, pid, "Same")
        with pytest.raises(InvalidInputError) as caught:
            create_template(session, pid, name=" ", channel="fax", category="spam")
    assert {e.field for e in caught.value.errors} == {"name", "channel", "category"}


def test_versions_count_up_per_variant_and_never_change(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    with database.session() as session:
        tid = sms_template(session, pid)
        first = get_template_detail(session, pid, tid).versions[0]
        second = add_version(session, pid, tid, VersionInput(body="Code {{ code.code }}!"))
        pt = add_version(
            session, pid, tid, VersionInput(body="Código {{ code.code }}"), locale="pt_br"
        )
        pt2 = add_version(
            session, pid, tid, VersionInput(body="Cód. {{ code.code }}"), locale="PT-br"
        )
        publish(session, pid, tid, second.version.id)
    assert (second.version.number, pt.version.number, pt2.version.number) == (2, 1, 2)
    assert pt.variant.id == pt2.variant.id
    assert pt.variant.locale == "pt-BR"
    with database.reader() as session:
        stored = session.get(TemplateVersion, first.id)
        assert stored is not None
        assert stored.body == "Your code: {{ code.code }}"
        detail = get_template_detail(session, pid, tid)
    assert [v.number for v in detail.versions] == [2, 1, 2, 1]
    assert detail.status == "live"


def test_a_draft_with_errors_saves_but_does_not_publish(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    with database.session() as session:
        tid = sms_template(session, pid)
        saved = add_version(session, pid, tid, VersionInput(body="Hi\n{% if x %}oops"))
    [error] = saved.check.errors
    assert (error.part, error.line) == ("body", 2)
    with pytest.raises(InvalidInputError) as caught, database.session() as session:
        publish(session, pid, tid, saved.version.id)
    [field] = caught.value.errors
    assert field.field == "body"
    assert field.reason.startswith("line 2, column 1: ")


def test_marketing_email_needs_an_unsubscribe_link_to_publish(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    with database.session() as session:
        saved = create_template(
            session,
            pid,
            name="Promo",
            channel="email",
            category="marketing",
            first_version=VersionInput(
                subject="Sale", body="<mjml><mj-body><mj-text>Hi</mj-text></mj-body></mjml>"
            ),
        )
    assert "unsubscribe" in saved.check.errors[0].message
    with pytest.raises(InvalidInputError), database.session() as session:
        publish(session, pid, saved.version.template_id, saved.version.id)


def test_publish_restore_and_compare(database: Database, project: ProjectCredentials) -> None:
    pid = project.project.id
    with database.session() as session:
        tid = create_template(
            session,
            pid,
            name="Invite",
            channel="email",
            category="marketing",
            first_version=email("Hi one"),
            actor="app_a",
        ).version.template_id
        v1 = get_template_detail(session, pid, tid).versions[0]
        publish(session, pid, tid, v1.id)
        v2 = add_version(session, pid, tid, email("Hi two"), actor="app_b").version
        publish(session, pid, tid, v2.id)
        with pytest.raises(ConflictError):  # v1 was live before: restore it instead
            publish(session, pid, tid, v1.id)
        comparison = compare_version(session, pid, tid, v1.id)
        restored = restore_version(session, pid, tid, v1.id, publish=True, actor="app_c")
        detail = get_template_detail(session, pid, tid)
    assert comparison.live is not None
    assert comparison.live.id == v2.id
    assert set(comparison.diffs) == {"body"}
    assert "-<mjml><mj-body><mj-section><mj-column><mj-text>Hi two" in comparison.diffs["body"]
    assert "+<mjml><mj-body><mj-section><mj-column><mj-text>Hi one" in comparison.diffs["body"]
    assert restored.version.number == 3
    assert restored.version.body == v1.body
    assert restored.version.note == "restored from version 1"
    live = detail.variants[0].live
    assert live is not None
    assert live.id == restored.version.id
    assert (live.published_by, live.created_by) == ("app_c", "app_c")
    history = {v.number: v for v in detail.versions}
    assert history[1].published_by == "app_test"
    assert history[2].created_by == "app_b"


def test_restore_and_publish_of_a_broken_version_saves_nothing(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    with database.session() as session:
        tid = sms_template(session, pid)
        broken = add_version(session, pid, tid, VersionInput(body="{{ code.code "))
    with pytest.raises(InvalidInputError), database.session() as session:
        restore_version(session, pid, tid, broken.version.id, publish=True)
    with database.reader() as session:
        assert len(get_template_detail(session, pid, tid).versions) == 2


def test_another_projects_segment_is_refused(
    database: Database, project: ProjectCredentials
) -> None:
    from tests.conftest import make_project

    other = make_project(database)
    with database.session() as session:
        segment = create_segment(
            session, other.project.id, "VIP", {"field": "email", "op": "exists", "value": True}
        )
        tid = sms_template(session, project.project.id)
        with pytest.raises(InvalidInputError) as caught:
            add_version(
                session, project.project.id, tid, VersionInput(body="x"), segment_id=segment.id
            )
    assert caught.value.errors[0].field == "segment_id"


def _variants(session: Session, pid: str, tid: str, segment_ids: dict[str, str]) -> None:
    for campaign, segment, locale, body in [
        (None, None, None, "default"),
        (None, None, "pt", "pt"),
        ("spring", None, None, "spring"),
        (None, "gold", None, "gold"),
        ("spring", "gold", None, "spring+gold"),
        ("spring", None, "pt-BR", "spring pt-BR"),
    ]:
        saved = add_version(
            session,
            pid,
            tid,
            VersionInput(body=body),
            campaign_id=campaign,
            segment_id=segment_ids.get(segment or ""),
            locale=locale,
        )
        publish(session, pid, tid, saved.version.id)
    # A draft-only variant never competes with live ones.
    add_version(session, pid, tid, VersionInput(body="draft"), locale="fr")


@pytest.mark.parametrize(
    ("campaign", "segments", "locale", "expected"),
    [
        (None, [], None, "default"),
        (None, [], "pt-BR", "pt"),
        (None, [], "fr-FR", "default"),
        ("spring", [], None, "spring"),
        ("spring", [], "pt-BR", "spring pt-BR"),
        ("autumn", ["gold"], None, "gold"),
        ("spring", ["gold"], None, "spring+gold"),
        ("spring", ["silver", "gold"], "en", "spring+gold"),
        (None, ["silver"], "en-GB", "default"),
    ],
)
def test_resolution_table(
    database: Database,
    project: ProjectCredentials,
    campaign: str | None,
    segments: list[str],
    locale: str | None,
    expected: str,
) -> None:
    pid = project.project.id
    with database.session() as session:
        ids = {
            name: create_segment(
                session, pid, name, {"field": "email", "op": "exists", "value": True}
            ).id
            for name in ("gold", "silver")
        }
        tid = sms_template(session, pid)
        _variants(session, pid, tid, ids)
        _variant, version = resolve_template(
            session,
            pid,
            tid,
            campaign_id=campaign,
            segment_ids=[ids[s] for s in segments],
            locale=locale,
        )
    assert version.body == expected


def test_resolution_refuses_archived_and_unpublished_templates(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    with database.session() as session:
        tid = sms_template(session, pid)
        with pytest.raises(NoLiveVersionError):
            resolve_template(session, pid, tid, campaign_id=None, segment_ids=[], locale=None)
        publish(session, pid, tid, get_template_detail(session, pid, tid).versions[0].id)
        resolve_template(session, pid, tid, campaign_id=None, segment_ids=[], locale=None)
        archive_template(session, pid, tid)
        with pytest.raises(NoLiveVersionError):
            resolve_template(session, pid, tid, campaign_id=None, segment_ids=[], locale=None)
        with pytest.raises(ConflictError):
            add_version(session, pid, tid, VersionInput(body="late"))
        with pytest.raises(NotFoundError):
            resolve_template(
                session, pid, "tpl_nope", campaign_id=None, segment_ids=[], locale=None
            )


def test_a_deleted_segments_variant_targets_nobody(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    with database.session() as session:
        segment = create_segment(
            session, pid, "gold", {"field": "email", "op": "exists", "value": True}
        )
        tid = sms_template(session, pid)
        publish(session, pid, tid, get_template_detail(session, pid, tid).versions[0].id)
        gold = add_version(session, pid, tid, VersionInput(body="gold"), segment_id=segment.id)
        publish(session, pid, tid, gold.version.id)
        delete_segment(session, pid, segment.id)
    with database.session() as session:
        variant = session.get(TemplateVariant, gold.variant.id)
        assert variant is not None
        assert variant.segment_id is None
        _variant, version = resolve_template(
            session, pid, tid, campaign_id=None, segment_ids=[], locale=None
        )
    assert version.body == "Your code: {{ code.code }}"


def test_list_filters_and_sorts_by_last_edit(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    with database.session() as session:
        a = sms_template(session, pid, "Welcome SMS")
        create_template(session, pid, name="Welcome email", channel="email", category="marketing")
        c = sms_template(session, pid, "Reward 100%")
        publish(session, pid, a, get_template_detail(session, pid, a).versions[0].id)
        archive_template(session, pid, c)

    def names(**filters: Any) -> list[str]:
        with database.reader() as session:
            return [s.template.name for s in list_templates(session, pid, **filters).templates]

    assert names() == ["Welcome SMS", "Welcome email"]  # a was edited (published) last
    assert names(q="WELCOME", channel="email") == ["Welcome email"]
    assert names(status="live") == ["Welcome SMS"]
    assert names(status="draft") == ["Welcome email"]
    assert names(status="archived", q="100%") == ["Reward 100%"]
    assert names(q="%") == []
    with database.reader() as session:
        page = list_templates(session, pid, limit=1)
    assert page.has_more
    assert page.templates[0].variants_count == 1


def test_render_version_is_strict_and_cached_by_version(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    with database.session() as session:
        tid = create_template(
            session,
            pid,
            name="Invite",
            channel="email",
            category="transactional",
            first_version=email("Code {{ code.code }} for {{ customer.first_name }}"),
        ).version.template_id
        version = get_template_detail(session, pid, tid).versions[0]
        publish(session, pid, tid, version.id)
    assert version.id in COMPILED  # publishing compiled it
    with pytest.raises(MissingVariablesError) as caught:
        render_version(version, {"customer": {}, "links": {"unsubscribe_url": "u"}})
    assert set(caught.value.missing) == {"customer.first_name", "code.code"}
    rendered = render_version(
        version,
        {
            "customer": {"first_name": "Ada"},
            "code": {"code": "ADA-1"},
            "links": {"unsubscribe_url": "https://u.example/x"},
        },
    )
    assert isinstance(rendered, RenderedEmail)
    assert rendered.subject == "Hello Ada"
    assert "Code ADA-1 for Ada" in rendered.html
    assert "https://u.example/x" in rendered.html
    preview = render_version(version, {}, "preview")
    assert "customer.first_name" in preview.missing


def test_build_context_from_a_stored_customer() -> None:
    customer = Customer(
        id="cust_1",
        project_id="p",
        source_id="crm-1",
        name="Ana Maria Souza",
        email="ana@example.com",
        address_city="São Paulo",
        address_state="SP",
        address_country="BR",
        locale="pt-BR",
        meta={"tier": "gold"},
    )
    project = Project(id="p", name="Shop", postal_address="1 Main St")
    context = build_context(
        customer,
        project=project,
        extra={"code": {"code": "ANA-1"}, "customer": {"metadata": {"vip": True}}},
    )
    assert context["customer"]["first_name"] == "Ana"
    assert context["customer"]["address"] == {"city": "São Paulo", "state": "SP", "country": "BR"}
    assert context["customer"]["metadata"] == {"tier": "gold", "vip": True}
    assert "phone" not in context["customer"]  # absent, so a send names it instead of "None"
    assert context["project"] == {"name": "Shop", "postal_address": "1 Main St"}
    assert context["code"] == {"code": "ANA-1"}
    nameless = Customer(id="c2", project_id="p", meta={})
    sms = TemplateVersion(
        id="tver_ctx_test",
        project_id="p",
        template_id="t",
        variant_id="v",
        number=1,
        body="Hi {{ customer.first_name }}",
        body_format="text",
    )
    with pytest.raises(MissingVariablesError) as caught:
        render_version(sms, build_context(nameless, project=project))
    assert caught.value.missing == ["customer.first_name"]
    named = Customer(id="c3", project_id="p", name="Ana Souza", meta={"first_name": "Aninha"})
    rendered = render_version(sms, build_context(named, project=project))
    assert isinstance(rendered, RenderedSms)
    assert rendered.body == "Hi Aninha"


def test_concurrent_saves_number_versions_without_gaps_or_clashes(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    with database.session() as session:
        tid = sms_template(session, pid)

    def save(n: int) -> tuple[str, int]:
        with database.session() as session:
            saved = add_version(session, pid, tid, VersionInput(body=f"v{n}"), locale="de")
            return saved.variant.id, saved.version.number

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(save, range(16)))
    assert len({variant for variant, _ in results}) == 1
    assert sorted(number for _, number in results) == list(range(1, 17))
