"""Values fixed by their shape or place (kiln_sae.pii.shapes): public IPs, mail addresses, identifiers,
credentials, each on texts built to hit its edges, and the generator's own mail addresses as an oracle."""
from __future__ import annotations

from kiln_sae.pii.labels import Span


def test_public_ips_follow_the_label_rules():
    from kiln_sae.pii.shapes import public_ips

    text = ("login from 83.24.117.201. and 10.0.4.15, 127.0.0.1, 192.0.2.7 (docs), v1.2.3.4, 1.3.6.1.4.1, "
            "at 13:55:36 via 2a00:1450:4001:81b::200e or 2001:db8::1, ::1, MAC 00:1A:2B:3C:4D:5E")
    assert [text[s.start:s.end] for s in public_ips(text)] == ["83.24.117.201", "2a00:1450:4001:81b::200e"]


def test_add_public_ips_fills_in_a_missed_address_and_keeps_a_url_around_one():
    from kiln_sae.pii.shapes import add_public_ips

    text = "user fhughes from 203.45.112.9:22 saw http://83.24.117.201/admin, db 145.239.80.12 pw hunter2"
    pw = Span(text.index("145.239"), text.index(" pw"), "PASSWORD")  # the probe called the address a secret
    url = Span(text.index("http"), text.index(", db"), "URL_PERSONAL")
    got = [(text[s.start:s.end], s.label) for s, _ in add_public_ips(text, [(url, 0.9), (pw, 0.9)])]
    assert got == [("203.45.112.9", "IP_ADDRESS"), ("http://83.24.117.201/admin", "URL_PERSONAL"),
                   ("145.239.80.12", "IP_ADDRESS")]
    found = Span(text.index("203"), text.index(":22"), "IP_ADDRESS")
    assert add_public_ips(text, [(found, 0.7)])[0] == (found, 0.7)  # one the probe found keeps its score


def test_a_connection_string_secret_run_on_into_its_host_is_cut_at_the_at_sign():
    from kiln_sae.pii.shapes import add_public_ips, public_ips

    text = "mongodb+srv://ponsa79:tigger-44@193.240.240.111:27017/main and pg://u:pw@2c51:c758:3bd5:8562:72dc:93c1:70f5:273e:5432/db"
    run_on = Span(text.index("tigger"), text.index("/main"), "PASSWORD")
    got = [(text[s.start:s.end], s.label) for s, _ in add_public_ips(text, [(run_on, 0.9)])]
    assert got == [("tigger-44", "PASSWORD"), ("193.240.240.111", "IP_ADDRESS"),
                   ("2c51:c758:3bd5:8562:72dc:93c1:70f5:273e", "IP_ADDRESS")]
    assert len(public_ips(text)) == 2


def test_every_generated_box_and_military_address_is_found_whole():
    """The generator's own P.O. boxes and military mail (identities.us_mailbox) are the oracle: the military
    ones are found whole on one line or two, a P.O. box as its box line (its town joins by the ADDRESS rule)."""
    import random
    import re

    from faker import Faker

    from kiln_sae.pii.shapes import mail_addresses
    from kiln_sae.pii.identities import us_mailbox

    fake, rng = Faker("en_US"), random.Random(7)
    Faker.seed(7)
    for _ in range(200):
        one_line, two_lines = us_mailbox(fake, rng)
        for address in (one_line, two_lines):
            text = f"Please send it to {address}. Thanks!"
            found = [text[s.start:s.end] for s in mail_addresses(text)]
            if re.search(r"[AFD]PO A[AEP] \d{5}$", address):  # military mail: the whole address
                assert found == [address], (address, found)
            else:  # a P.O. box: its box line
                assert len(found) == 1 and address.startswith(found[0]), (address, found)
                assert re.fullmatch(r"(P\.O\. Box|PO Box|P\.O\. BOX|Post Office Box) \d+", found[0]), found


def test_mail_addresses_replace_the_probes_pieces_and_leave_lookalikes():
    from kiln_sae.pii.shapes import add_mail_addresses, mail_addresses

    text = "What is your address? it is PSC 2322, Box 6025\\nAPO AA 88307 and USNS Šimić\nFPO AE 13523."
    shown = text.replace("\\n", " \n")
    pieces = [(Span(shown.index("2322"), shown.index("\nAPO") - 1, "ADDRESS"), 0.9),
              (Span(shown.index("Šimić"), shown.index("Šimić") + 5, "PERSON"), 0.99)]
    got = [(shown[s.start:s.end], s.label, sc) for s, sc in add_mail_addresses(shown, pieces)]
    assert got == [("PSC 2322, Box 6025 \nAPO AA 88307", "ADDRESS", 1.0), ("USNS Šimić\nFPO AE 13523", "ADDRESS", 1.0)]
    reach = (Span(shown.index("it is"), shown.index("2322") + 4, "ADDRESS"), 0.8)  # an ADDRESS reaching past one
    assert add_mail_addresses(shown, [reach])[0][0] == Span(shown.index("it is"), shown.index(" and"), "ADDRESS")
    for lookalike in ("the APO AA protocol", "APO AE 1234", "TAPO AE 12345", "Box 4413", "POBox4413",
                      "Unit 4 is in aisle 5", "the PO box is full"):
        assert mail_addresses(lookalike) == [], lookalike
    assert [s for s in mail_addresses("Mail: P.O. BOX 4413, Dayton, OH 45401")] == [Span(6, 19, "ADDRESS")]


def test_identifiers_are_completed_and_configuration_keys_dropped():
    from kiln_sae.pii.shapes import complete_identifiers

    text = ("POSTGRES_USER: svc_billing\nPOSTGRES_PASSWORD: Tr0ub4dor&3-billing\nAWS_ACCESS_KEY_ID=AKIA\n"
            "db: postgres://app_user:h7Gv!p2wQz@10.0.4.15/app. Login as jo.doe.")
    def at(value: str, label: str, n: int | None = None) -> tuple[Span, float]:
        i = text.index(value)
        return Span(i, i + (n or len(value)), label), 0.9
    spans = [at("svc_billing", "USERNAME", 3), at("Tr0ub4dor", "PASSWORD"), at("AWS_ACCESS", "USERNAME"),
             at("app_user", "USERNAME", 3), at("h7Gv", "PASSWORD"), at("jo.doe", "USERNAME", 2),
             at("POSTGRES_USER", "PERSON")]
    got = [(text[s.start:s.end], s.label) for s, _ in complete_identifiers(text, spans)]
    assert got == [("POSTGRES_USER", "PERSON"), ("svc_billing", "USERNAME"), ("Tr0ub4dor&3-billing", "PASSWORD"),
                   ("app_user", "USERNAME"), ("h7Gv!p2wQz", "PASSWORD"), ("jo.doe", "USERNAME")]


def test_the_mail_rule_is_recorded_only_when_on():
    """detector.json carries ``mail_addresses`` only when it is on, so a kiln_sae from before the rule still
    reads a detector that does not use it (and refuses one that does: unknown key)."""
    import json

    from kiln_sae.pii.detector import DetectorSpec, spec_json

    off = json.loads(spec_json(DetectorSpec("raw_probe", "minilm", 3, 128)))
    assert "mail_addresses" not in off and "members" not in off
    on = json.loads(spec_json(DetectorSpec("raw_probe", "minilm", 3, 128, mail_addresses=True)))
    assert on["mail_addresses"] is True and DetectorSpec(**on).mail_addresses


def test_credentials_in_a_url_or_an_ssh_login_are_found_by_their_place():
    from kiln_sae.pii.shapes import add_credentials, credentials

    text = ("DATABASE_URL=postgres://app_user:h7Gv!p2wQz@10.0.4.15:5432/app and ssh -p 2222 deploy@145.239.80.12; "
            "redis://:s3cr3t@cache:6379, mysql://root:${DB_PASSWORD}@db/x, scp notes.txt <user>@host:/tmp, "
            "see https://docs.python.org/3/ or mail jo@x.org")
    got = [(text[s.start:s.end], s.label) for s in credentials(text)]
    assert got == [("app_user", "USERNAME"), ("h7Gv!p2wQz", "PASSWORD"), ("deploy", "USERNAME")]
    # redis://:secret@ has no user: the empty user is not matched, so its secret is not either (the probe's call)
    i = text.index("app_user")
    probe_says = [(Span(i, i + 3, "PERSON"), 0.9),  # a piece of the user name called a name: replaced
                  (Span(text.index("h7Gv"), text.index("@10.0"), "PASSWORD"), 0.8)]  # the probe's own: kept
    got = [(text[s.start:s.end], s.label, sc) for s, sc in add_credentials(text, probe_says)]
    assert got == [("app_user", "USERNAME", 1.0), ("h7Gv!p2wQz", "PASSWORD", 0.8), ("deploy", "USERNAME", 1.0)]
    url = Span(text.index("postgres://"), text.index(" and"), "URL_PERSONAL")  # one reaching past it: left alone
    assert [s.label for s, _ in add_credentials(text, [(url, 0.9)])] == ["URL_PERSONAL", "USERNAME"]


def test_ssh_logins_are_read_from_the_command_only():
    """A command's arguments are read while they look like arguments; prose, a URL's secret or an e-mail later
    on the line are not logins (review of v15)."""
    from kiln_sae.pii.shapes import credentials

    def found(text: str) -> list[tuple[str, str]]:
        return [(text[s.start:s.end], s.label) for s in credentials(text)]

    assert found("git clone ssh://alice:s3cret@host/repo") == [("alice", "USERNAME"), ("s3cret", "PASSWORD")]
    assert found("ssh into the box, then psql postgres://app_user:h7Gv@10.0.4.15/app") == [
        ("app_user", "USERNAME"), ("h7Gv", "PASSWORD")]
    assert found("rsync -e ssh rsync://bob@host/x") == [("bob", "USERNAME")]
    for prose in ("I can't ssh in; email jo.doe@gmail.com", "edit ~/.ssh/config and send it to anna.k@gmail.com",
                  "I can't ssh into my email jo.doe@gmail.com", "scp notes.txt /tmp, see the docs or mail jo@x.org"):
        assert found(prose) == [], prose
    assert found("scp -P 2222 alice@h1:/a bob@h2:/b && ssh -l carol -i ~/.ssh/id_ed25519 h3") == [
        ("alice", "USERNAME"), ("bob", "USERNAME"), ("carol", "USERNAME")]


def test_credential_placeholders_tokens_and_weak_passwords():
    from kiln_sae.pii.shapes import credentials

    def found(text: str) -> list[tuple[str, str]]:
        return [(text[s.start:s.end], s.label) for s in credentials(text)]

    for template in ("postgres://user:password@localhost:5432/db", "postgres://USER:PASSWORD@HOST:PORT/DB",
                     "postgres://%(user)s:%(password)s@h", "https://x-access-token:[REDACTED]@github.com/o/r"):
        assert found(template) == [], template
    assert found("postgres://app:[REDACTED]@h") == [("app", "USERNAME")]
    assert found("postgres://app:admin@h") == [("app", "USERNAME"), ("admin", "PASSWORD")]  # a weak password is one
    token = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
    assert found(f"git clone https://{token}@github.com/o/r") == [(token, "PASSWORD")]


def test_identifier_growth_stops_at_neighbours_queries_and_shell_syntax():
    from kiln_sae.pii.shapes import complete_identifiers

    def grow(text: str, *pieces: tuple[str, str]) -> list[tuple[str, str]]:
        spans = [(Span(text.index(v), text.index(v) + len(v), label), 0.9) for v, label in pieces]
        return [(text[s.start:s.end], s.label) for s, _ in complete_identifiers(text, spans)]

    # a neighbour is never eaten, whatever its label: "maria" stays a PERSON, "garcia_ops" a USERNAME
    assert grow("login: maria.garcia_ops now", ("maria", "PERSON"), ("garcia", "USERNAME")) == [
        ("maria", "PERSON"), ("garcia_ops", "USERNAME")]
    assert grow("?api_key=AbC123&format=json", ("AbC", "PASSWORD")) == [("AbC123", "PASSWORD")]
    assert grow("token=ghp_abc|grep x", ("ghp", "PASSWORD")) == [("ghp_abc", "PASSWORD")]
    assert grow("password: hunter2#comment", ("hunter", "PASSWORD")) == [("hunter2", "PASSWORD")]
    assert grow("Is your password hunter2?", ("hunter", "PASSWORD")) == [("hunter2", "PASSWORD")]
    assert grow('{"POSTGRES_USER": "svc"}', ("POSTGRES", "USERNAME")) == []  # a quoted key
    assert grow("PASSWORD=hunter2", ("PASSWORD", "PASSWORD"), ("hunter2", "PASSWORD")) == [("hunter2", "PASSWORD")]


def test_mail_edge_cases():
    from kiln_sae.pii.shapes import mail_addresses

    def found(text: str) -> list[str]:
        return [text[s.start:s.end] for s in mail_addresses(text)]

    assert found("Unit 2050 Box 4190\nAPO AP 96278-4190 please") == ["Unit 2050 Box 4190\nAPO AP 96278-4190"]
    assert found("see USS Constitution for FPO AE 09021 codes") == ["FPO AE 09021"]
    assert found("USS Carl Vinson FPO AP 96629") == ["USS Carl Vinson FPO AP 96629"]
    assert found("Box 12 APO AE 09128") == ["Box 12 APO AE 09128"]
    assert found("P.O. Box #44 and PO Box 1234567") == ["P.O. Box #44", "PO Box 1234567"]
