"""Span validation: checksums decide among number-like labels, reserved placeholders are dropped, and the
decoder applies it only when asked."""
from __future__ import annotations

import numpy as np
from faker import Faker

from kiln_sae.pii.align import decode_spans
from kiln_sae.pii.labels import TAGS, Span, begin_tag, inside_tag
from kiln_sae.pii.validate import is_card, is_iban, is_placeholder, luhn_ok, resolve


def test_checksums_accept_generated_values_and_reject_one_digit_changes() -> None:
    fake = Faker(["en_US", "de_DE", "fr_FR", "es_ES", "en_GB", "en_IN"])
    Faker.seed(7)
    cards = [fake.credit_card_number() for _ in range(300)]
    ibans = [fake.iban() for _ in range(300)]
    assert all(is_card(c) for c in cards)
    assert all(is_iban(i) for i in ibans)
    assert is_card("4111 1111 1111 1111") and is_card("4111-1111-1111-1111")
    assert not is_card("4111 1111 1111 1112")
    assert not is_card("+4111 1111 1111 1111")  # a leading + is a phone number's
    assert is_iban("DE89 3704 0044 0532 0130 00")
    assert not is_iban("DE88 3704 0044 0532 0130 00")
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")


def test_resolve_relabels_numbers_by_checksum() -> None:
    assert resolve("4539 1488 0343 6467", ["PHONE"]) == "CREDIT_CARD"
    assert resolve("4539 1488 0343 6467", ["IBAN", "PHONE"]) == "CREDIT_CARD"
    assert resolve("4111 1111 1111 1111", ["CREDIT_CARD"]) is None  # a published test card (docs/pii-labels.md)
    assert resolve("DE89 3704 0044 0532 0130 00", ["CREDIT_CARD"]) == "IBAN"
    # Not Luhn-valid: the probe's runner-up wins; with no runner-up the probe's label stays.
    assert resolve("+49 30 1234567", ["CREDIT_CARD", "PHONE"]) == "PHONE"
    assert resolve("4111 1111 1111", ["CREDIT_CARD"]) == "CREDIT_CARD"
    # 12 digits passing Luhn do not turn an ID into a card (Aadhaar-shaped).
    assert resolve("5018 4957 6563", ["SSN"]) == "SSN"
    # Non-number labels are left alone.
    assert resolve("4111 1111 1111 1111", ["PASSWORD"]) == "PASSWORD"


def test_placeholders_are_dropped() -> None:
    assert resolve("billing@example.com", ["EMAIL"]) is None
    assert resolve("https://docs.example.org/guide", ["URL_PERSONAL"]) is None
    assert resolve("me@site.test", ["EMAIL"]) is None
    assert resolve("jane.doe@gmail.com", ["EMAIL"]) == "EMAIL"
    assert resolve("1-800-555-0199", ["PHONE"]) is None
    assert resolve("555-0100", ["PHONE"]) == "PHONE"  # 7 digits: not a full NANP number, kept
    assert resolve("(415) 555-0142", ["PHONE"]) is None  # NANP fictional range 555-0100..0199
    assert resolve("(415) 555-2671", ["PHONE"]) == "PHONE"
    assert is_placeholder("127.0.0.1", "IP_ADDRESS") and is_placeholder("::1", "IP_ADDRESS")
    assert is_placeholder("2001:db8::1", "IP_ADDRESS") and is_placeholder("localhost", "IP_ADDRESS")
    assert not is_placeholder("81.2.69.160", "IP_ADDRESS")


def test_decoder_applies_resolver_only_when_given() -> None:
    text = "card 4539 1488 0343 6467 ok"
    # One token per word; the probe calls the four digit groups PHONE.
    words = [(0, 4), (5, 9), (10, 14), (15, 19), (20, 24), (25, 27)]
    offsets = np.array(words, dtype=np.int64)
    valid = np.ones(len(words), dtype=bool)
    probs = np.zeros((len(words), len(TAGS)), dtype=np.float32)
    probs[[0, 5], 0] = 1.0
    probs[1, begin_tag("PHONE")] = 1.0
    probs[2:5, inside_tag("PHONE")] = 1.0
    plain = [s for s, _ in decode_spans(text, offsets, valid, probs)]
    checked = [s for s, _ in decode_spans(text, offsets, valid, probs, resolver=resolve)]
    assert plain == [Span(5, 24, "PHONE")]
    assert checked == [Span(5, 24, "CREDIT_CARD")]


def test_label_thresholds_drop_low_scoring_spans_of_that_label_only() -> None:
    from kiln_sae.pii.detector import Detector, DetectorSpec
    from kiln_sae.pii.features import TokenFeatures

    text = "mail jane@mail.de from Paris"
    words = [(0, 4), (5, 17), (18, 22), (23, 28)]
    probs = np.zeros((len(words), len(TAGS)), dtype=np.float32)
    probs[[0, 2], 0] = 1.0
    probs[1, begin_tag("EMAIL")], probs[1, 0] = 0.7, 0.3
    probs[3, begin_tag("LOCATION")], probs[3, 0] = 0.7, 0.3
    feats = TokenFeatures(acts=None, offsets=np.array(words, dtype=np.int64), valid=np.ones(4, dtype=bool))  # type: ignore[arg-type]
    spec = DetectorSpec(system="raw_probe", base_model="m", layer=0, context_size=16, threshold=0.5,
                        label_thresholds={"LOCATION": 0.8})
    det = Detector(spec, probe=None)  # type: ignore[arg-type]
    assert [s.label for s, _ in det.spans_from_features(text, feats, probs=probs)] == ["EMAIL"]
    assert [s.label for s, _ in det.spans_from_features(text, feats, probs=probs, floors=False)] == ["EMAIL", "LOCATION"]


def test_format_rules_for_phones_addresses_and_placeholder_people():
    # Under 7 digits is never a phone number: the runner-up label, or nothing.
    assert resolve("654709", ["PHONE"]) is None
    assert resolve("654709", ["PHONE", "PASSWORD"]) == "PASSWORD"
    # A number grouped like a phone that fails the IBAN shape is a phone; a bare digit run may be an account.
    assert resolve("+34 910 002 967", ["IBAN"]) == "PHONE"
    assert resolve("(0)1632 960571", ["IBAN", "PHONE"]) == "PHONE"
    assert resolve("08447902198", ["IBAN"]) == "IBAN"
    assert resolve("GB82 WEST 1234 5698 7654 32", ["IBAN"]) == "IBAN"
    # An address without any digit: a LOCATION if the probe gave that real mass, else dropped.
    assert resolve("Lucknow", ["ADDRESS", "LOCATION"]) == "LOCATION"
    assert resolve("Gauthier Leleu", ["ADDRESS"]) is None
    assert resolve("12 High St, Leeds", ["ADDRESS"]) == "ADDRESS"
    # Textbook placeholders are not anyone's data.
    assert resolve("John Doe", ["PERSON"]) is None and resolve("John Dorian", ["PERSON"]) == "PERSON"
    assert resolve("123 Main Street, Anytown", ["ADDRESS"]) is None


def test_format_rules_for_emails_ids_and_letterless_addresses():
    assert resolve("marianne.garcia", ["EMAIL"]) == "USERNAME"  # no @: a handle
    assert resolve("marianne.garcia", ["EMAIL", "PERSON"]) == "PERSON"
    assert resolve("noreply@example", ["EMAIL"]) is None  # a cut-off reserved domain is still reserved
    assert resolve("507878", ["SSN"]) is None and resolve("123456789", ["SSN"]) == "SSN"
    assert resolve("AB123456C", ["SSN"]) == "SSN"
    assert resolve("483655", ["ADDRESS"]) is None
    assert resolve("+34845352962", ["ADDRESS"]) == "PHONE"


def test_ip_spans_must_look_like_an_address_not_a_clock_time():
    from kiln_sae.pii.validate import ip_like

    for ok in ("81.2.69.160", "10.0.4.15:5432", "203.45.112", "2a02:c7f:7e0e:a100:8c1f:3b2a:9e44:1d07",
               "fe80::1%eth0", "[2a02:c7f::1]", "2a02:c7f:7e0e:a100"):
        assert ip_like(ok), ok
    for bad in ("13:55", "08:14:31", "v4.1.2", "12:30:00.123", "fhughes"):
        assert not ip_like(bad), bad
    assert resolve("13:55", ["IP_ADDRESS"]) is None
    assert resolve("13:55:02", ["IP_ADDRESS", "PHONE"]) is None  # the runner-up's own rule applies (< 7 digits)
    assert resolve("83.24.117.201", ["IP_ADDRESS"]) == "IP_ADDRESS"


def test_a_number_span_that_ran_onto_a_word_is_narrowed_to_the_value() -> None:
    from kiln_sae.pii.validate import value_core

    def core(value: str, label: str) -> str | None:
        c = value_core(value, label)
        return None if c is None else value[c[0]:c[1]]

    assert core("Karte 4916 3384 2010 5552", "IBAN") == "4916 3384 2010 5552"  # a card after the German word
    assert core("723 813 266 office", "PHONE") == "723 813 266"  # a phone before its kind
    assert core("# 3571240659657568", "IBAN") == "3571240659657568"
    # Already a value, glued to its prefix, two numbers, or not number-like: left as it is.
    for value, label in (("DE89 3704 0044 0532 0130 00", "IBAN"), ("+49 30 1234567", "PHONE"), ("K-559103", "SSN"),
                         ("ID 4711", "SSN"), ("tel 0301234567 or 0301234568", "PHONE"),
                         ("Karte 4916 3384 2010 5552", "PERSON"),
                         # an account number is not narrowed to a phone shape: it is an IBAN by the label rules
                         ("Konto 1234 5678 90", "IBAN"), ("723 813 266 office", "IBAN"),
                         ("Bankleitzahl 370 400 44", "CREDIT_CARD")):
        assert core(value, label) is None, value
    # In the decoder (with validation on), the narrowed value is what the checksums judge.
    text = "Zahlung per Karte 4916 3384 2010 5552."
    words = [(0, 7), (8, 11), (12, 17), (18, 22), (23, 27), (28, 32), (33, 37), (37, 38)]
    offsets, valid = np.array(words, dtype=np.int64), np.ones(len(words), dtype=bool)
    probs = np.zeros((len(words), len(TAGS)), dtype=np.float32)
    probs[[0, 1, 7], 0] = 1.0
    probs[2, begin_tag("IBAN")] = 1.0
    probs[3:7, inside_tag("IBAN")] = 1.0
    assert [s for s, _ in decode_spans(text, offsets, valid, probs, resolver=resolve, core=value_core)] == [
        Span(18, 37, "CREDIT_CARD")]
    assert [s for s, _ in decode_spans(text, offsets, valid, probs, resolver=resolve)] == [Span(12, 37, "IBAN")]


def test_too_few_digits_for_any_iban_take_the_runner_up() -> None:
    # US military mail ("DPO AP 80308") and a lone postcode are not (most of) an IBAN: the shortest has 13 digits.
    assert resolve("DPO AP 80308", ["IBAN", "ADDRESS"]) == "ADDRESS"
    assert resolve("92893", ["IBAN"]) is None
    assert resolve("DPO AP 80308", ["IBAN", "CREDIT_CARD"]) is None  # not handed to an unchecked number label
    # A piece of a real IBAN long enough to overlap half of it keeps its label.
    assert resolve("37040044053201", ["IBAN"]) == "IBAN"
    assert resolve("NO93 8601 1117 947", ["IBAN"]) == "IBAN"
