"""Responsible use in the product: the intended use an admin confirms once per workspace,
the legal points the Responsible use page states, and the Art. 50(3) disclosure text.

The confirmation and the disclosure's fields live in the workspace's ``setting`` table
(:class:`db.queries.review.SettingKey`). The texts are versioned: when
:data:`INTENDED_USE_VERSION` changes, the workspace asks again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from brandmood.core.access import BrandScope, Permission, Principal
from brandmood.core.audit import AuditAction, ObjectKind
from brandmood.services import audit
from db.queries.core import get_brand
from db.queries.dashboard import brand_options
from db.queries.review import SettingKey, get_setting, set_setting

DOCS = "docs/responsible_use.md"
"""Where the longer text lives (linked from the page and the README)."""

INTENDED_USE_VERSION = "2026-12"
"""The version of :data:`INTENDED_USE` a confirmation refers to."""

INTENDED_USE = (
    "brandmood analyses the facial expressions visible in content a brand has published "
    "(its posts, ads and videos) to describe, in aggregate, which emotions its visual "
    "communication shows, so that the brand's team can compare campaigns, channels and "
    "creatives. Results describe pictures, not people.")

OUT_OF_SCOPE: tuple[str, ...] = (
    "Monitoring employees or students, in the workplace or in education (prohibited in the "
    "EU by AI Act Art. 5(1)(f) since 2 February 2025, except for medical or safety "
    "reasons).",
    "Hiring, promotion, credit, insurance or any other decision about a person.",
    "Assessing an individual (a customer, a creator, an ambassador) from their expressions.",
    "Inferring what someone really feels: the models read facial appearance, which people "
    "show differently across cultures and situations; an expression is not an inner state.",
    "Analysing live camera feeds, private photos or content the brand did not publish.",
)

AI_ACT_POINTS: tuple[str, ...] = (
    "Emotion recognition is prohibited at the workplace and in education institutions "
    "(Art. 5(1)(f)), in force since 2 February 2025. brandmood must not be used there.",
    "Deployers of an emotion recognition system must inform the natural persons exposed to "
    "it of its operation (Art. 50(3)), from 2 August 2026. The disclosure below is a text a "
    "brand can publish for that purpose; it is not legal advice.",
    "Emotion recognition systems are also listed as high-risk in Annex III, point 1(c), "
    "which brings obligations for providers and deployers; whether they apply to your "
    "use, and how, is a question for your data-protection officer or counsel.",
)

GDPR_POINTS: tuple[str, ...] = (
    "Every stored face (its box, crop and the media it comes from) is personal data of the "
    "person shown: the brand needs a legal basis (typically legitimate interest, documented "
    "in a balancing test) and must answer requests for access and erasure.",
    "Face embeddings used to recognise ambassadors are biometric data processed to identify "
    "a person (Art. 9): recognise only ambassadors who gave explicit consent.",
    "Erase what you no longer need: a person (an ambassador and every face matched to them), "
    "an asset, a campaign, a channel or a brand; and set how long media and face crops are "
    "kept (retention). Exports blur faces that are not a consenting ambassador's by default.",
    "The skin-tone estimate of the Fairness view is an appearance measure of a face crop, "
    "kept on the face row only; it is not used to describe or single out anyone.",
)


# ---------------------------------------------------------------------------- confirmation

def can_confirm_intended_use(principal: Principal) -> bool:
    """Whether ``principal`` may confirm the workspace's intended use: it covers every
    brand, so it takes the workspace-wide settings right (owners, the local admin)."""
    return principal.can(Permission.SETTINGS)


@dataclass(frozen=True)
class Confirmation:
    """Who confirmed the intended use, when, and which text version."""

    by: str
    at: datetime
    version: str

    @property
    def current(self) -> bool:
        """It refers to the text shown now (:data:`INTENDED_USE_VERSION`)."""
        return self.version == INTENDED_USE_VERSION


def confirmation(*, session: Session) -> Confirmation | None:
    """The stored confirmation (None: never confirmed, or unreadable)."""
    raw = get_setting(session=session, key=SettingKey.INTENDED_USE_CONFIRMATION)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return Confirmation(str(data["by"]), datetime.fromisoformat(data["at"]),
                            str(data["version"]))
    except (ValueError, KeyError, TypeError):
        return None


def needs_confirmation(*, session: Session) -> bool:
    """No current confirmation: every page shows the banner until an admin confirms."""
    c = confirmation(session=session)
    return c is None or not c.current


def confirm_intended_use(*, session: Session, principal: Principal, by: str,
                         at: datetime | None = None) -> Confirmation:
    """Store that ``by`` confirmed the current intended-use text (replaces an older one).

    Raises:
        PermissionError: where :func:`can_confirm_intended_use` says no.
        ValueError: for an empty name.
    """
    if not can_confirm_intended_use(principal):
        raise PermissionError("only a workspace owner can confirm the intended use")
    who = by.strip()[:200]
    if not who:
        raise ValueError("say who confirms (a name)")
    c = Confirmation(who, at or datetime.now(UTC), INTENDED_USE_VERSION)
    set_setting(session=session, key=SettingKey.INTENDED_USE_CONFIRMATION,
                value=json.dumps({"by": c.by, "at": c.at.isoformat(), "version": c.version}))
    audit.record(session, principal, AuditAction.SETTINGS_CHANGE,
                 object_kind=ObjectKind.SETTING,
                 object_id=SettingKey.INTENDED_USE_CONFIRMATION.value,
                 details={"version": c.version})
    return c


# ---------------------------------------------------------------------------- disclosure

DEFAULT_PURPOSE = ("to understand, in aggregate, which emotions our published images and "
                   "videos show, and to improve future campaigns")
MISSING = "[not set: fill it in on the Responsible use page]"


@dataclass(frozen=True)
class DisclosureFields:
    """The workspace's answers the disclosure is built from (None: not set)."""

    contact: str | None
    purpose: str | None
    retention: str | None


_FIELDS = {"contact": SettingKey.DISCLOSURE_CONTACT, "purpose": SettingKey.DISCLOSURE_PURPOSE,
           "retention": SettingKey.DISCLOSURE_RETENTION}


def disclosure_fields(*, session: Session) -> DisclosureFields:
    """The stored disclosure fields."""
    return DisclosureFields(**{name: get_setting(session=session, key=key) or None
                               for name, key in _FIELDS.items()})


def save_disclosure_fields(*, session: Session, fields: DisclosureFields) -> None:
    """Store the disclosure fields (an empty or None value clears one)."""
    for name, key in _FIELDS.items():
        set_setting(session=session, key=key, value=(getattr(fields, name) or "").strip())


def disclosure_text(*, session: Session, brand: str, scope: BrandScope,
                    model: str | None = None) -> str:
    """The Art. 50(3) information text for ``brand`` (Markdown), from the workspace settings.

    Args:
        brand: the brand's name.
        scope: the brands the caller may see (another brand's notice is refused).
        model: the emotion model named in the text (None: not named).

    Raises:
        db.queries.core.NotFoundError: for an unknown brand.
        brandmood.core.access.AccessDenied: for a brand outside ``scope``.
    """
    b = get_brand(session, name=brand)
    channels = list(brand_options(session=session, brand_id=b.id,
                                  scope=scope)["channel"].values())
    f = disclosure_fields(session=session)
    where = (f"on its channels ({', '.join(channels)})" if channels
             else "on its channels")
    model_line = f" The emotion model is {model}." if model else ""
    return "\n".join([
        f"# Information on emotion recognition at {b.name}",
        "",
        f"{b.name} uses an emotion recognition system (brandmood) on the images and videos "
        f"that {b.name} has published {where}. This notice informs the people shown in "
        "that content, as Article 50(3) of the EU AI Act (Regulation (EU) 2024/1689) asks.",
        "",
        "## What is analysed",
        "",
        "The system finds the faces in the published content and estimates, for each face, "
        "which of eight facial expressions it shows (neutral, happy, sad, surprise, fear, "
        "anger, disgust, contempt)." + model_line + " It reads facial appearance; it does "
        "not know what anyone feels. Faces may be compared with reference photos of the "
        "brand's ambassadors to recognise them; nobody else is identified.",
        "",
        "## Purpose",
        "",
        f"{b.name} uses the results {f.purpose or DEFAULT_PURPOSE}. Results are used in "
        "aggregate only: not to assess, monitor or take decisions about any person, and never "
        "at the workplace or in education.",
        "",
        "## How long data is kept",
        "",
        f.retention or MISSING,
        "",
        "## Your rights and contact",
        "",
        "You can ask for access to the data about you, and for its erasure (GDPR Articles 15 "
        "and 17), or object to the processing (Article 21). Contact: "
        f"{f.contact or MISSING}.",
        "",
        f"Generated by brandmood on {datetime.now(UTC):%Y-%m-%d}.",
        "",
    ])


def missing_fields(*, session: Session) -> list[str]:
    """The disclosure fields that are not set yet (the text says so where they appear)."""
    f = disclosure_fields(session=session)
    return [name for name in ("contact", "retention") if not getattr(f, name)]


__all__ = ["AI_ACT_POINTS", "DOCS", "GDPR_POINTS", "INTENDED_USE", "INTENDED_USE_VERSION",
           "OUT_OF_SCOPE", "Confirmation", "DisclosureFields", "can_confirm_intended_use",
           "confirm_intended_use", "confirmation", "disclosure_fields", "disclosure_text",
           "missing_fields", "needs_confirmation", "save_disclosure_fields"]
