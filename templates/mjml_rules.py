"""The MJML components and the attributes each accepts, as data, to warn about typos early.

Taken from the MJML 4 documentation (https://documentation.mjml.io/, MJML 4.15, the version
mrml, under mjml-python, follows). MJML ignores an unknown tag or attribute silently, so
`<mj-txt>` or `colour="red"` would vanish from the sent email without a word: the editor warns.
"""

from __future__ import annotations

__all__ = ["ANY_ATTRIBUTE", "ENDING_TAGS", "MJML_ATTRIBUTES", "allowed_attributes"]

#: Any attribute goes (mj-attributes children set defaults for components by tag name).
ANY_ATTRIBUTE = frozenset({"*"})

_PADDING = ("padding", "padding-top", "padding-right", "padding-bottom", "padding-left")
_BORDER = ("border", "border-top", "border-right", "border-bottom", "border-left")
_FONT = ("font-family", "font-size", "font-style", "font-weight", "line-height")
_LINK = ("href", "rel", "target", "title")
_SECTION = (
    *_PADDING,
    *_BORDER,
    "background-color",
    "background-position",
    "background-position-x",
    "background-position-y",
    "background-repeat",
    "background-size",
    "background-url",
    "border-radius",
    "direction",
    "full-width",
    "text-align",
    "gap",
)
_ACCORDION_ICONS = (
    "icon-align",
    "icon-height",
    "icon-position",
    "icon-unwrapped-alt",
    "icon-unwrapped-url",
    "icon-width",
    "icon-wrapped-alt",
    "icon-wrapped-url",
)

#: Tag -> attributes it accepts, besides `css-class` and `mj-class` (every body component).
MJML_ATTRIBUTES: dict[str, frozenset[str]] = {
    name: frozenset(attributes)
    for name, attributes in {
        "mjml": ("lang", "dir", "owa"),
        "mj-head": (),
        "mj-body": ("width", "background-color"),
        "mj-attributes": (),
        "mj-all": ("*",),
        "mj-class": ("*",),
        "mj-breakpoint": ("width",),
        "mj-font": ("name", "href"),
        "mj-html-attributes": (),
        "mj-selector": ("path",),
        "mj-html-attribute": ("name",),
        "mj-preview": (),
        "mj-style": ("inline",),
        "mj-title": (),
        "mj-include": ("path", "type", "css-inline"),
        "mj-raw": ("position",),
        "mj-section": _SECTION,
        "mj-wrapper": _SECTION,
        "mj-column": (
            *_PADDING,
            *_BORDER,
            "background-color",
            "border-radius",
            "direction",
            "inner-background-color",
            "inner-border",
            "inner-border-top",
            "inner-border-right",
            "inner-border-bottom",
            "inner-border-left",
            "inner-border-radius",
            "vertical-align",
            "width",
        ),
        "mj-group": ("background-color", "direction", "vertical-align", "width"),
        "mj-hero": (
            *_PADDING,
            "background-color",
            "background-height",
            "background-position",
            "background-url",
            "background-width",
            "border-radius",
            "container-background-color",
            "height",
            "inner-background-color",
            "inner-padding",
            "inner-padding-top",
            "inner-padding-right",
            "inner-padding-bottom",
            "inner-padding-left",
            "mode",
            "vertical-align",
        ),
        "mj-text": (
            *_PADDING,
            *_FONT,
            "align",
            "color",
            "container-background-color",
            "height",
            "letter-spacing",
            "text-decoration",
            "text-transform",
        ),
        "mj-button": (
            *_PADDING,
            *_BORDER,
            *_FONT,
            *_LINK,
            "align",
            "background-color",
            "border-radius",
            "color",
            "container-background-color",
            "height",
            "inner-padding",
            "letter-spacing",
            "name",
            "text-align",
            "text-decoration",
            "text-transform",
            "vertical-align",
            "width",
        ),
        "mj-image": (
            *_PADDING,
            *_BORDER,
            *_LINK,
            "align",
            "alt",
            "border-radius",
            "container-background-color",
            "fluid-on-mobile",
            "height",
            "name",
            "sizes",
            "src",
            "srcset",
            "usemap",
            "width",
        ),
        "mj-divider": (
            *_PADDING,
            "align",
            "border-color",
            "border-style",
            "border-width",
            "container-background-color",
            "width",
        ),
        "mj-spacer": (*_PADDING, "container-background-color", "height"),
        "mj-table": (
            *_PADDING,
            *_FONT,
            "align",
            "border",
            "cellpadding",
            "cellspacing",
            "color",
            "container-background-color",
            "role",
            "table-layout",
            "width",
        ),
        "mj-social": (
            *_PADDING,
            *_FONT,
            "align",
            "border-radius",
            "color",
            "container-background-color",
            "icon-height",
            "icon-padding",
            "icon-size",
            "inner-padding",
            "mode",
            "text-decoration",
            "text-padding",
        ),
        "mj-social-element": (
            *_PADDING,
            *_FONT,
            *_LINK,
            "align",
            "alt",
            "background-color",
            "border-radius",
            "color",
            "icon-height",
            "icon-padding",
            "icon-position",
            "icon-size",
            "name",
            "sizes",
            "src",
            "srcset",
            "text-decoration",
            "text-padding",
            "vertical-align",
        ),
        "mj-navbar": (
            "align",
            "base-url",
            "hamburger",
            "ico-align",
            "ico-close",
            "ico-color",
            "ico-font-family",
            "ico-font-size",
            "ico-line-height",
            "ico-open",
            "ico-padding",
            "ico-padding-top",
            "ico-padding-right",
            "ico-padding-bottom",
            "ico-padding-left",
            "ico-text-decoration",
            "ico-text-transform",
        ),
        "mj-navbar-link": (
            *_PADDING,
            *_FONT,
            *_LINK,
            "color",
            "letter-spacing",
            "text-decoration",
            "text-transform",
        ),
        "mj-accordion": (
            *_PADDING,
            *_ACCORDION_ICONS,
            "border",
            "container-background-color",
            "font-family",
        ),
        "mj-accordion-element": (
            *_ACCORDION_ICONS,
            "background-color",
            "border",
            "font-family",
        ),
        "mj-accordion-title": (*_PADDING, "background-color", "color", "font-family", "font-size"),
        "mj-accordion-text": (
            *_PADDING,
            *_FONT,
            "background-color",
            "color",
            "letter-spacing",
        ),
        "mj-carousel": (
            *_PADDING,
            "align",
            "border-radius",
            "container-background-color",
            "icon-width",
            "left-icon",
            "right-icon",
            "tb-border",
            "tb-border-radius",
            "tb-hover-border-color",
            "tb-selected-border-color",
            "tb-width",
            "thumbnails",
        ),
        "mj-carousel-image": (
            *_LINK,
            "alt",
            "border-radius",
            "src",
            "tb-border",
            "tb-border-radius",
            "thumbnails-src",
        ),
    }.items()
}

#: Components whose content is HTML (or CSS, or text), not MJML: tags inside are not checked.
ENDING_TAGS = frozenset(
    {
        "mj-text",
        "mj-button",
        "mj-raw",
        "mj-table",
        "mj-navbar-link",
        "mj-accordion-title",
        "mj-accordion-text",
        "mj-social-element",
        "mj-style",
        "mj-preview",
        "mj-title",
        "mj-carousel-image",
    }
)

_EVERY_COMPONENT = frozenset({"css-class", "mj-class"})
# Inside mj-attributes, a child named after a component sets that component's defaults.
_DEFAULTS_PARENT = "mj-attributes"


def allowed_attributes(tag: str, parent: str | None) -> frozenset[str] | None:
    """The attributes `tag` accepts under `parent`; None when `tag` is no MJML component."""
    known = MJML_ATTRIBUTES.get(tag)
    if known is None:
        return None
    if parent == _DEFAULTS_PARENT or "*" in known:
        return ANY_ATTRIBUTE
    return known | _EVERY_COMPONENT
