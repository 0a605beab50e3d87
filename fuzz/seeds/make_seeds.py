#!/usr/bin/env python3
"""Writes the seeds of the server fuzz targets (fuzz/seeds/<target>/): the provider examples of
host-server/tests/providers.rs and shared/reference/payment-providers.md, every API body shape of the tests,
and the hostile variants the tests send (NUL characters, trailing text, bad signatures). The files are
committed; rerun after changing an example: `python3 fuzz/seeds/make_seeds.py`."""

import hashlib
import hmac
import json
import pathlib
import struct

HERE = pathlib.Path(__file__).parent
# The fuzz targets' own secrets and clock (fuzz_targets/wave_webhook.rs, hmac_hook.rs).
WAVE_SECRET = b"wave-signing-secret-fuzz"
AGG_SECRET = b"aggregator-secret-fuzz"
NOW = 1_767_340_800


def write(target, name, data):
    folder = HERE / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def text(value):
    return json.dumps(value, separators=(",", ":"))


def sign(secret, t, separator, body):
    digest = hmac.new(secret, str(t).encode() + separator + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def c2b(trans_id, bill_ref, amount, shortcode="600984", third_party=""):
    return {"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20260102081325",
            "TransAmount": amount, "BusinessShortCode": shortcode, "BillRefNumber": bill_ref,
            "InvoiceNumber": "", "OrgAccountBalance": "", "ThirdPartyTransID": third_party,
            "MSISDN": "2547 ***** 126", "FirstName": "NICHOLAS", "MiddleName": "", "LastName": ""}


reference_c2b = {"TransactionType": "Pay Bill", "TransID": "RKL51ZDR4F", "TransTime": "20231121121325",
                 "TransAmount": "5.00", "BusinessShortCode": "600966", "BillRefNumber": "SHS00012345",
                 "InvoiceNumber": "", "OrgAccountBalance": "25.00", "ThirdPartyTransID": "",
                 "MSISDN": "2547 ***** 126", "FirstName": "NICHOLAS", "MiddleName": "", "LastName": ""}
daraja = {
    "reference": text(reference_c2b),
    "validation": text(c2b("RKL1", " shs-k1 ", "800.00")),
    "number_amount": text(c2b("RKL6", "SHS-K1", 800)),
    "number_shortcode": text({**c2b("RKL7", "SHS-K1", "100.00"), "BusinessShortCode": 600984}),
    "confirmation": text(c2b("RKL1", "SHS-K1", "800.00", third_party="0190f1e2-7a3b-7c4d-8e5f-0123456789ab")),
    "bad_amount": text(c2b("RKL4", "MTR-K1", "five")),
    "nul_trans_id": text(c2b("RK\u0000L", "SHS-K1", "5.00")),
    "trailing_text": text(c2b("RKL8", "SHS-K1", "5.00")) + " x",
    "malformed": "{not json",
    "truncated": "[1,2",
}
for name, data in daraja.items():
    write("daraja_c2b", name, data)
# Fuzz finding: a byte that is not UTF-8 in a field the type ignores was accepted (extract.rs tests).
write("daraja_c2b", "finding_not_utf8", daraja["validation"].replace("NICHOLAS", "NICHOLA\x00S").encode().replace(b"\x00", b"\x87"))

reference_wave = {"id": "AE_sn_H1N-vRZsWyU1", "type": "checkout.session.completed",
                  "data": {"id": "cos-1ya2rewh0139m", "amount": "125", "currency": "XOF",
                           "checkout_status": "complete", "payment_status": "succeeded",
                           "transaction_id": "TRG7XHH6UNR2SOACI", "client_reference": "SHS00012345",
                           "business_name": "…", "when_created": "2025-06-25T16:55:44Z",
                           "when_completed": "2025-06-25T16:56:03Z", "when_expires": "…",
                           "last_payment_error": None, "success_url": "…", "error_url": "…",
                           "wave_launch_url": "…"}}
received = {"id": "AE_mp_1", "type": "merchant.payment_received",
            "data": {"id": "pt-1", "amount": "500", "fee": "5", "currency": "xof", "sender_mobile": "+221...",
                     "merchant_name": "SunCo", "when_created": "2026-01-02T08:00:00Z",
                     "custom_fields": {"account_number": " SHS-W1 "}}}
failed = {"id": "AE_f", "type": "checkout.session.payment_failed", "data": {"payment_status": "failed"}}
test_event = {"id": "AE_7", "type": "test.test_event", "data": {}}
wave = {
    "reference": text(reference_wave),
    "merchant_payment": text(received),
    "failed": text(failed),
    "test_event": text(test_event),
    "nul_id": text({**test_event, "id": "AE_\u0000"}),
    "not_an_event": '["not an event"]',
}
for name, body in wave.items():
    raw = body.encode()
    write("wave_webhook", name, sign(WAVE_SECRET, NOW, b"", raw).encode() + b"\n" + raw)
raw = wave["reference"].encode()
write("wave_webhook", "rotated", f"t={NOW},v1=00ff,{sign(WAVE_SECRET, NOW, b'', raw)[len(f't={NOW},'):]}".encode() + b"\n" + raw)
write("wave_webhook", "stale", sign(WAVE_SECRET, NOW - 400, b"", raw).encode() + b"\n" + raw)
write("wave_webhook", "no_header", raw)

payment = {"provider": "agg", "provider_tx_id": "G1", "serial": "SHS-G1", "amount": "800", "currency": "TZS",
           "received_at": "2026-01-02T08:00:00Z"}
hmac_bodies = {
    "payment": text(payment),
    "money_moved": text({**payment, "provider_tx_id": "G4", "serial": "NOPE-2", "money_moved": True}),
    "validate": text({"serial": "SHS-G1", "amount": "800", "currency": "TZS", "provider_tx_id": "G6"}),
    "nul_serial": text({**payment, "serial": "SHS\u0000G1"}),
    "missing_fields": text({"provider": "agg", "serial": "SHS-G1"}),
    "truncated": '{"provider":',
}
for name, body in hmac_bodies.items():
    raw = body.encode()
    write("hmac_hook", name, sign(AGG_SECRET, NOW, b".", raw).encode() + b"\n" + raw)
raw = hmac_bodies["payment"].encode()
write("hmac_hook", "wave_style", sign(AGG_SECRET, NOW, b"", raw).encode() + b"\n" + raw)

# signature_roundtrip: <t: i64 LE><secret length><secret><separator choice><body>.
for name, t, secret, choice, body in [
    ("wave", NOW, WAVE_SECRET, 0, wave["reference"].encode()),
    ("generic", NOW, AGG_SECRET, 1, hmac_bodies["payment"].encode()),
    ("empty", 0, b"", 0, b""),
    ("min_time", -(2**63), b"k", 1, b"{}"),
    ("max_time", 2**63 - 1, b"k" * 70, 0, b"{}"),
]:
    write("signature_roundtrip", name, struct.pack("<q", t) + bytes([len(secret)]) + secret + bytes([choice]) + body)

# api_bodies: <type byte><body>; the numbering is the match in fuzz_targets/api_bodies.rs.
customer = {"name": "Amina", "surname": "Juma", "phone": "+255712300001", "village_id": "v-1"}
plan = {"appliance": "SHS 80W", "currency": "TZS", "total_cost": "2100", "down_payment": "0", "installments": 3,
        "period": "weekly", "start_date": "2026-01-01"}
api = [
    (0, "payment", payment),
    (1, "validate", {"serial": "SHS-H", "amount": "100", "currency": "TZS", "channel": "ussd"}),
    (2, "assign", {"serial": "SHS-H"}),
    (3, "total", {"total_cost": "2400", "installments": 4, "period": "monthly"}),
    (4, "installment", {"amount": "700"}),
    (5, "cluster", {"name": "North"}),
    (6, "area", {"name": "Lake grid", "cluster_id": "c-1"}),
    (7, "village", {"name": "Kijiji", "area_id": "a-1"}),
    (8, "manufacturer", {"name": "SunCo", "device_kinds": ["solar_home_system", "e_bike"], "token_scheme": "openpaygo"}),
    (9, "tariff", {"name": "KES", "currency": "KES", "price_per_kwh": "20", "minimum_purchase": "50"}),
    (10, "owner", {"customer_id": "c-1"}),
    (11, "operator_token", {"kind": "add_days", "days": "7"}),
    (12, "registration", {"customer": customer,
                          "device": {"serial": "SHS-H", "kind": "solar_home_system", "manufacturer_id": "m-1",
                                     "openpaygo": {"secret_key": "a29ab82edc5fbbc41ec9530f6dac86b1",
                                                   "starting_code": 123456789, "count": 0}},
                          "plan": plan}),
    (12, "registration_meter", {"customer": {"id": "c-1"},
                                "device": {"serial": "MTR-1", "kind": "meter", "manufacturer_id": "m-2",
                                           "tariff_id": "t-1"}, "registered_on": "2026-01-01"}),
    (13, "plan", plan),
    (14, "api_key", {"role": "operator", "label": "field team"}),
    (15, "provider", {"kind": "daraja_c2b", "shortcode": "600984", "currency": "KES"}),
    (15, "provider_wave", {"kind": "wave", "secret": "wave-signing-secret-0001", "currency": "XOF", "name": "w"}),
    (16, "resolve", {"credit": True, "serial": "SHS-K1"}),
    (17, "template", {"text": "Asante {name}: {amount} {currency}"}),
]
for pick, name, body in api:
    write("api_bodies", name, bytes([pick]) + text(body).encode())
write("api_bodies", "nul_serial", bytes([0]) + text({**payment, "serial": "SHS\u0000H"}).encode())
write("api_bodies", "trailing_text", bytes([5]) + b'{"name":"North"} x')
