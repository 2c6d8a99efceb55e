"""Stored message templates: variants, immutable versions, publishing, resolution and renders.

For the delivery engine::

    variant, version = resolve_template(session, project_id, template_id,
                                        campaign_id=..., segment_ids=[...], locale=...)
    context = build_context(customer, project=project, extra={"code": ..., "links": ...})
    message = render_version(version, context)      # strict: MissingVariablesError names gaps
    template.category                               # "marketing" | "transactional"
"""

from distribution.template_store.manage import duplicate_template, update_template
from distribution.template_store.rendering import (
    COMPILED,
    CheckedPreview,
    NoLiveVersionError,
    SourceCheck,
    build_context,
    check_source,
    compile_version,
    customer_variables,
    merge_context,
    preview_checked,
    preview_context,
    render_version,
    resolve_template,
    source_of,
)
from distribution.template_store.store import (
    MAX_BODY_CHARS,
    Comparison,
    SavedVersion,
    StaleVersionError,
    TemplateDetail,
    TemplatePage,
    TemplateSummary,
    VariantDetail,
    VersionInput,
    add_version,
    archive_template,
    compare_version,
    create_template,
    get_template,
    get_template_detail,
    get_version,
    list_templates,
    publish_version,
    restore_version,
    validate_source,
    variant_key,
    version_status,
)

__all__ = [
    "COMPILED",
    "MAX_BODY_CHARS",
    "CheckedPreview",
    "Comparison",
    "NoLiveVersionError",
    "SavedVersion",
    "SourceCheck",
    "StaleVersionError",
    "TemplateDetail",
    "TemplatePage",
    "TemplateSummary",
    "VariantDetail",
    "VersionInput",
    "add_version",
    "archive_template",
    "build_context",
    "check_source",
    "compare_version",
    "compile_version",
    "create_template",
    "customer_variables",
    "duplicate_template",
    "get_template",
    "get_template_detail",
    "get_version",
    "list_templates",
    "merge_context",
    "preview_checked",
    "preview_context",
    "publish_version",
    "render_version",
    "resolve_template",
    "restore_version",
    "source_of",
    "update_template",
    "validate_source",
    "variant_key",
    "version_status",
]
