"""Normalization shared by import and lookup, so both sides produce the same keys.

Every function is total (never raises on odd input), returns "" for "no usable value",
and is idempotent: f(f(x)) == f(x).
"""

import re
import unicodedata


def fold_text(value) -> str:
    """Lowercase, accents removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKD", str(value or ""))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", text).strip().lower()


def normalize_email(value) -> str:
    text = str(value or "").strip().lower()
    return text if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text) else ""


def normalize_domain(value) -> str:
    text = str(value or "").strip().lower()
    text = re.sub(r"^[a-z]+://", "", text).split("/")[0].split("?")[0].split(":")[0]
    text = re.sub(r"^www\d*\.", "", text).strip(".")
    return text if "." in text else ""


def normalize_linkedin_url(value) -> str:
    text = str(value or "").strip().lower()
    match = re.search(r"linkedin\.com/(in|pub|company)/([^/?#]+)", text)
    return f"linkedin.com/{match.group(1)}/{match.group(2)}" if match else ""


def normalize_company_name(value) -> str:
    text = fold_text(value)
    text = re.sub(r"[^\w\s]", " ", text)
    text = re.sub(r"\b(inc|llc|ltd|corp|corporation|co|gmbh|sa|plc|the)\b", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def normalize_person_name(value) -> str:
    return re.sub(r"[^a-z\s'-]", "", fold_text(value)).strip()


def normalize_phone(value, default_region: str = "US") -> str:
    digits = re.sub(r"[^\d+]", "", str(value or ""))
    return digits
