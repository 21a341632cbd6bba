#!/usr/bin/env python3
"""Generate the labeled redaction evaluation corpus (corpus.jsonl).

Every case is written by this script from a fixed seed: sensitive values are
synthesized (valid checksums, numbering plans, token shapes), and each class
also gets look-alikes that must stay untouched. Nothing is copied from other
projects' test suites. Phone numbers are drawn from libphonenumber's
numbering-plan metadata (the `phonenumbers` package) so that they are valid.

    python3 -m venv /tmp/v && /tmp/v/bin/pip install phonenumbers
    /tmp/v/bin/python tests/redaction-eval/generate.py > tests/redaction-eval/corpus.jsonl

Each line: {"class", "label": "positive"|"negative", "country", "text",
"value"}; `value` (positives only) is the substring that must not survive.
"""
import base64
import json
import random
import string
import sys

import phonenumbers
from phonenumbers import PhoneNumberFormat as PNF, PhoneNumberType as PNT

R = random.Random(20261202)
A62 = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
URL = A62 + "_-"
B64 = A62 + "+/"
OUT = []


def rs(n, alpha=A62):
    return "".join(R.choice(alpha) for _ in range(n))


def pos(cls, text, value, country="-"):
    assert value in text, (cls, text, value)
    OUT.append({"class": cls, "label": "positive", "country": country, "text": text, "value": value})


def neg(cls, text, country="-"):
    OUT.append({"class": cls, "label": "negative", "country": country, "text": text})


# --- phones: 20 countries, international and keyword-anchored national ------
PHONE_REGIONS = ["US", "GB", "DE", "FR", "IT", "ES", "NL", "BR", "JP", "CN", "IN", "IL", "GR",
                 "AU", "MX", "KR", "SE", "CH", "PL", "IE"]
KEYWORDS = {"DE": "Telefon", "FR": "téléphone", "IT": "telefono", "ES": "teléfono", "BR": "celular",
            "JP": "電話", "CN": "电话", "NL": "telefoon", "SE": "telefon", "PL": "telefon"}


def valid_number(region):
    kind = R.choice([PNT.MOBILE, PNT.FIXED_LINE])
    example = phonenumbers.example_number_for_type(region, kind) or phonenumbers.example_number(region)
    national = str(example.national_number)
    for _ in range(200):
        k = min(4, len(national) - 3)
        cand = national[:-k] + "".join(R.choice(string.digits) for _ in range(k))
        n = phonenumbers.parse("+%d%s" % (example.country_code, cand))
        if phonenumbers.is_valid_number(n):
            return n
    return example


INTL_TEMPLATES = ["call me on {} tomorrow", "Chat title: follow up with {}", "old value {}",
                  "Kontakt: {}", "tel:{}", "whatsapp {} please", "{}", "mobile {} after 5pm"]
for region in PHONE_REGIONS:
    for i in range(14):
        n = valid_number(region)
        intl = phonenumbers.format_number(n, PNF.INTERNATIONAL)
        style = i % 5
        if style == 1:
            intl = intl.replace(" ", "-")
        elif style == 2:
            intl = intl.replace(" ", ".")
        elif style == 3:
            intl = phonenumbers.format_number(n, PNF.E164)
        elif style == 4 and region in ("GB", "DE", "IT", "CH", "NL", "FR"):
            cc, rest = intl.split(" ", 1)
            intl = f"{cc} (0){rest}" if region != "IT" else intl
        template = INTL_TEMPLATES[i % len(INTL_TEMPLATES)]
        if template.startswith("tel:"):
            intl = phonenumbers.format_number(n, PNF.E164)
        pos("phone", template.format(intl), intl, region)
    for i in range(6):
        n = valid_number(region)
        national = phonenumbers.format_number(n, PNF.NATIONAL)
        word = KEYWORDS.get(region, "phone")
        pos("phone", f"{word}: {national}", national, region)
for text in ["released 2024-05-18", "build 20240518.1", "version 2.0+20240518", "at 12:30:45",
             "1+1 = 2", "order #1234-5678", "ISBN 978-3-16-148410-0", "+44 20", "room 101, floor 3",
             "phone model 2024", "call at 12:30", "port 8080 and 8443", "2026-05-18T12:58:03Z",
             "call back in 15 minutes", "invoice 2024/05/0012", "phone: 2024-05-18"]:
    for _ in range(2):
        neg("phone", text)

# --- payment cards -------------------------------------------------------------
def luhn_complete(prefix, length):
    body = prefix + "".join(R.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return body + str((10 - total % 10) % 10)


def group(number, sep):
    if len(number) == 15:
        parts = [number[:4], number[4:10], number[10:]]
    else:
        parts = [number[i:i + 4] for i in range(0, len(number), 4)]
    return sep.join(parts)


BRANDS = [("4", 16), ("4", 13), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15),
          ("6011", 16), ("65", 16), ("3530", 16), ("36", 14), ("62", 16)]
CARD_TEMPLATES = ["card {} exp 04/29", "paid with {}", "{}", "cc={}", "Kreditkarte {}", "carte {} ok"]
for i in range(120):
    prefix, length = BRANDS[i % len(BRANDS)]
    number = luhn_complete(prefix, length)
    shown = group(number, R.choice([" ", "-", ""]))
    pos("card", CARD_TEMPLATES[i % len(CARD_TEMPLATES)].format(shown), shown, R.choice(["US", "GB", "DE", "FR", "JP"]))
for i in range(60):
    number = luhn_complete("4", 16)
    bad = number[:-1] + str((int(number[-1]) + 1) % 10)
    neg("card", f"card {group(bad, ' ')} declined")
for i in range(30):
    neg("card", f"request 123e4567-e89b-12d3-a456-{rs(12, string.digits)}")
    neg("card", f"sha256:{rs(64, HEX)}")
for i in range(30):
    neg("card", f"ts={R.randint(1700000000000, 1800000000000)}")

# --- IBAN: 18 countries --------------------------------------------------------
IBAN_FORMATS = {"DE": "18n", "GB": "4a14n", "FR": "23n", "ES": "20n", "IT": "1a22n", "NL": "4a10n",
                "BE": "12n", "AT": "16n", "CH": "17n", "PL": "24n", "SE": "20n", "IE": "4a14n",
                "PT": "21n", "FI": "14n", "NO": "11n", "DK": "14n", "GR": "23n", "BR": "23n1a1a"}


def bban(fmt):
    out, num = "", ""
    for ch in fmt:
        if ch.isdigit():
            num += ch
        else:
            alpha = string.digits if ch == "n" else string.ascii_uppercase
            out += "".join(R.choice(alpha) for _ in range(int(num)))
            num = ""
    return out


def iban_check(country, body):
    rearranged = body + country + "00"
    number = int("".join(str(int(c, 36)) for c in rearranged))
    return "%02d" % (98 - number % 97)


for i in range(110):
    country = list(IBAN_FORMATS)[i % len(IBAN_FORMATS)]
    body = bban(IBAN_FORMATS[country])
    iban = country + iban_check(country, body) + body
    shown = iban if i % 2 else " ".join(iban[j:j + 4] for j in range(0, len(iban), 4))
    pos("iban", R.choice(["IBAN {}", "pay to {} today", "{}", "Kontonummer: {}"]).format(shown), shown, country)
    wrong = country + "%02d" % ((int(iban_check(country, body)) + 1) % 97 or 1) + body
    shown = wrong if i % 2 else " ".join(wrong[j:j + 4] for j in range(0, len(wrong), 4))
    neg("iban", f"ref {shown}", country)

# --- US SSN / ITIN, UK NHS, US NPI ----------------------------------------------
def ssn_digits():
    while True:
        area = R.randint(1, 899)
        if area != 666:
            return "%03d%02d%04d" % (area, R.randint(1, 99), R.randint(1, 9999))


for i in range(90):
    d = ssn_digits()
    style = i % 5
    if style == 0:
        v = f"{d[:3]}-{d[3:5]}-{d[5:]}"; text = f"patient {v} chart"
    elif style == 1:
        v = f"{d[:3]} {d[3:5]} {d[5:]}"; text = f"SSN {v}"
    elif style == 2:
        v = d; text = f"SSN: {v}"
    elif style == 3:
        v = f"{d[:3]}.{d[3:5]}.{d[5:]}"; text = f"social security number {v}"
    else:
        v = f"{d[:3]}-{d[3:5]}-{d[5:]}"; text = f"ssn_{v}_w2.pdf"
    pos("ssn", text, v, "US")
for text in ["000-12-3456", "666-12-3456", "123-00-4567", "123-45-0000", "order 123456789",
             "v 123.45.6789", "ref 555-12-3456x", "id 9123-45-67890"]:
    for _ in range(4):
        neg("ssn", text)
for i in range(40):
    group_ = R.choice(list(range(70, 89)) + list(range(50, 66)))
    v = "9%02d-%02d-%04d" % (R.randint(0, 99), group_, R.randint(1, 9999))
    pos("itin", f"ITIN {v}", v, "US")
    neg("itin", "9%02d-%02d-%04d filed" % (R.randint(0, 99), 93, R.randint(1, 9999)), "US")


def nhs_number():
    while True:
        d = [R.randint(0, 9) for _ in range(9)]
        s = sum(x * w for x, w in zip(d, range(10, 1, -1)))
        c = 11 - s % 11
        if c == 11:
            c = 0
        if c != 10:
            return "".join(map(str, d)) + str(c)


for i in range(60):
    n = nhs_number()
    v = [f"{n[:3]} {n[3:6]} {n[6:]}", f"{n[:3]}-{n[3:6]}-{n[6:]}", n][i % 3]
    pos("nhs_number", f"NHS number {v}", v, "GB")
    bad = n[:-1] + str((int(n[-1]) + 1) % 10)
    neg("nhs_number", f"NHS number {bad[:3]} {bad[3:6]} {bad[6:]}", "GB")
    neg("nhs_number", f"order {n[:3]} {n[3:6]} {n[6:]} shipped", "GB")


def npi():
    body = str(R.choice([1, 2])) + "".join(R.choice(string.digits) for _ in range(8))
    for c in range(10):
        digits = [int(x) for x in "80840" + body + str(c)]
        total = 0
        for i, d in enumerate(reversed(digits)):
            if i % 2 == 1:
                d *= 2
                d = d - 9 if d > 9 else d
            total += d
        if total % 10 == 0:
            return body + str(c)


for i in range(40):
    v = npi()
    pos("npi", R.choice(["NPI {}", "prescriber NPI: {}", "provider npi={}"]).format(v), v, "US")
    neg("npi", f"epoch {R.randint(1600000000, 1799999999)}", "US")

# --- health: MRN, DOB -----------------------------------------------------------
for i in range(50):
    v = R.choice([rs(8, string.digits), "A-" + rs(6, string.digits), rs(2, string.ascii_uppercase) + rs(7, string.digits)])
    pos("mrn", R.choice(["MRN: {} admitted", "medical record number {}", "scan MRN-{}.pdf"]).format(v), v, "US")
    neg("mrn", f"mr smith {rs(8, string.digits)}")
for i in range(50):
    y, m, d = R.randint(1930, 2010), R.randint(1, 12), R.randint(1, 28)
    v = R.choice([f"{y}-{m:02d}-{d:02d}", f"{m:02d}/{d:02d}/{y}", f"{d:02d}.{m:02d}.{y}"])
    pos("dob", R.choice(["DOB {}", "date of birth: {}", "born {}", "Smith_DOB_{}_summary.pdf"]).format(v), v, "US")
    neg("dob", f"visit on {y + 20}-{m:02d}-{d:02d}")

# --- contact and network --------------------------------------------------------
ESCAPED_AT = "\\u0040"
Q = "\\u0022"
DOMAINS = ["example.com", "example.org", "mail.example.co.uk", "beispiel.de", "exemple.fr", "例え.jp",
           "empresa.com.br", "ditta.it", "firma.pl", "example.com.au"]
for i in range(130):
    local = R.choice(["alice", "bob.smith", "o'brien", "j_doe+audit", "maria.garcia", "li.wei", "admin-ops"]) + str(i)
    domain = DOMAINS[i % len(DOMAINS)]
    if not domain.isascii():
        domain = "example.jp"
    v = f"{local}@{domain}"
    style = i % 6
    if style == 0:
        text = f"contact {v} now"
    elif style == 1:
        text = f"<a href=\"mailto:{v}\">mail</a>"
    elif style == 2:
        enc = v.replace("@", "%40").replace("+", "%2B").replace("'", "%27")
        text = f"https://app.example/settings?actor_email={enc}&tab=2"
        v = enc
    elif style == 3:
        v = v.replace("@", ESCAPED_AT)
        text = "{" + Q + "email" + Q + ": " + Q + v + Q + "}"
    elif style == 4:
        text = f"From: Someone <{v}>"
    else:
        text = f"per_user_limits {v} 250"
    pos("email", text, v, "-")
for text in ["user@localhost", "@handle on twitter", "name at example dot com", "a@b",
             "git@github", "price: 5 @ 3", "ping @alice", "email: <redacted>"]:
    for _ in range(4):
        neg("email", text)
for i in range(90):
    if i % 3 == 2:
        v = "2001:db8:%x:%x::%x" % (R.randint(1, 65535), R.randint(1, 65535), R.randint(1, 65535))
    else:
        v = "%d.%d.%d.%d" % (R.choice([10, 172, 192, 198, 203, 81, 5]), R.randint(0, 255), R.randint(0, 255), R.randint(1, 254))
    pos("ip", R.choice(["from {} via proxy", "client_ip={}", "http://{}/admin", "{}"]).format(v), v)
for text in ["Chrome/148.0.0.0 Safari/537.36", "version 1.2.3.4", "v1.2.3.4", "1.2.3.4.5",
             "999.1.1.1", "at 12:30:45", "OID 1.3.6.1.4.1.311", "release 10.0.19045.3803"]:
    for _ in range(4):
        neg("ip", text)
for i in range(40):
    v = "user_01" + rs(24, "0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    pos("user_id", f"by {v}", v)
for text in ["user_id and user_actor", "user_agent", "user_settings_v2", "user_01"]:
    for _ in range(5):
        neg("user_id", text)


# --- secrets --------------------------------------------------------------------
def jwt():
    h = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').decode().rstrip("=")
    p = base64.urlsafe_b64encode(json.dumps({"sub": rs(12), "exp": R.randint(10**9, 2 * 10**9)}).encode()).decode().rstrip("=")
    return f"{h}.{p}.{rs(86, URL)}"


U = string.ascii_uppercase + string.digits
SECRETS = [
    lambda: f"sk-ant-api03-{rs(93, URL)}AA",
    lambda: f"sk-proj-{rs(100, URL)}",
    lambda: f"AKIA{rs(16, U)}",
    lambda: "ABSK" + base64.b64encode(b"BedrockAPIKey-" + rs(60).encode()).decode(),
    lambda: f"AIza{rs(35, URL)}",
    lambda: f"ghp_{rs(36)}",
    lambda: f"github_pat_11{rs(20, U)}_{rs(59)}",
    lambda: f"glpat-{rs(20, URL)}",
    lambda: f"hooks.slack.com/services/T{rs(8, U)}/B{rs(10, U)}/{rs(24)}",
    lambda: f"https://hooks.slack.com/services/T{rs(8, U)}/B{rs(10, U)}/{rs(24)}",
    lambda: f"xoxb-{rs(12, string.digits)}-{rs(13, string.digits)}-{rs(24)}",
    lambda: f"sk_live_{rs(24)}",
    lambda: f"sk_test_{rs(24)}",
    lambda: f"SK{rs(32, HEX)}",
    lambda: f"SG.{rs(22, URL)}.{rs(43, URL)}",
    lambda: f"key-{rs(32, HEX)}",
    lambda: f"npm_{rs(36)}",
    lambda: f"pypi-AgEIcHlwaS5vcmc{rs(70, URL)}",
    lambda: f"hf_{rs(34)}",
    lambda: f"dckr_pat_{rs(27, URL)}",
    lambda: f"shpat_{rs(32, HEX)}",
    lambda: f"EAAA{rs(60, URL)}",
    lambda: f"ATATT3xFfGF0{rs(180, URL)}",
    lambda: f"HRKU-{rs(60, URL)}",
    lambda: f"dop_v1_{rs(64, HEX)}",
    lambda: f"{rs(14)}.atlasv1.{rs(67, URL)}",
    lambda: jwt(),
    lambda: f"{rs(3)}8Q~{rs(34, A62 + '_~.')}",
]
SECRET_TEMPLATES = ["export TOKEN_VALUE={}", "pasted {} into the chat", "{}", "config: {{\"key\": \"{}\"}}",
                    "curl -d token={} https://api.example.com"]
for i in range(len(SECRETS) * 12):
    v = SECRETS[i % len(SECRETS)]()
    pos("secret", SECRET_TEMPLATES[i % len(SECRET_TEMPLATES)].format(v), v)
ASSIGNMENTS = [
    lambda: (f"DATADOG_API_KEY={rs(32, HEX)}", None),
    lambda: (f"aws_secret_access_key = {rs(40, A62 + '/+')}", None),
    lambda: (f"AccountKey={rs(86, B64)}==", None),
    lambda: (f"GITHUB_WEBHOOK_SECRET={rs(32)}", None),
    lambda: (f"\"refresh_token\": \"{rs(40, URL)}\"", None),
    lambda: (f"postgres://app:{rs(16)}@db.internal:5432/prod", None),
    lambda: (f"Authorization: Bearer {rs(40, URL)}", None),
    lambda: ("Authorization: Basic " + base64.b64encode(f"admin:{rs(12)}".encode()).decode(), None),
    lambda: (f"curl -H 'x-api-key: {rs(32)}'", None),
    lambda: (f"apikey: {rs(24)}", None),
    lambda: (f"password={rs(10)}", None),
    lambda: (f"-----BEGIN OPENSSH PRIVATE KEY-----\n{rs(70, B64)}\n-----END OPENSSH PRIVATE KEY-----", None),
]
for i in range(len(ASSIGNMENTS) * 10):
    text, _ = ASSIGNMENTS[i % len(ASSIGNMENTS)]()
    # The value is the last whitespace/quote/equals-delimited token.
    value = text.replace('"', " ").replace("'", " ").replace("=", " ").replace(":", " ").split()[-1]
    if "PRIVATE KEY" in text:
        value = text.split("\n")[1]
    elif "://" in text:
        value = text.split(":")[2].split("@")[0]
    elif "AccountKey" in text:
        value = text[len("AccountKey="):]
    pos("secret", text, value)
for text in ["max_tokens: 1024", "token_count=12345678", "api_key = your_api_key_here", "token: ${TOKEN}",
             "secret = changeme", "password reset email sent", "sk-learn is a library", "ASIAN markets",
             "the bearer token is rotated", "basic information about the plan", "authorization: required",
             "https://example.com/path?x=1", "postgres://db.internal:5432/prod", "xoxb- is a bot token prefix",
             "ghp_short", "the sk-ant- prefix", "use AIza keys", "task-proj-123", "key-value store",
             "npm_config_cache", "hf_hub_download", "ATATT3 prefix", "password: ${DB_PASSWORD}",
             "export TOKEN=$GITHUB_TOKEN", "x-api-key: ${API_KEY}", "client_secret: null", "Bearer authentication"]:
    for _ in range(4):
        neg("secret", text)

for case in OUT:
    sys.stdout.write(json.dumps(case, ensure_ascii=False) + "\n")
sys.stderr.write(f"{len(OUT)} cases\n")
