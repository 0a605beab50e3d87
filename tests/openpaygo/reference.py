"""The OpenPAYGO reference (`openpaygo` 0.6.3 on PyPI) wrapped in the core's argument names.

Shared by `make_vectors.py` and `differential.py`: every expected token these scripts write comes from the
reference's own code, never from ours. Values are passed as `decimal.Decimal`, so the reference's
`round(value * divider, 0)` rounds half to even on the exact decimal value, as the core does. With binary
floats, the reference's usual input, it rounds the float product instead: 4.1 days × 15 is 61.5, so 62 (half
to even), but 4.1 * 15 is 61.49999999999999 as floats, so 61.
"""

from decimal import ROUND_HALF_EVEN, Decimal

from openpaygo import OpenPAYGOTokenDecoder, OpenPAYGOTokenEncoder, TokenType
from openpaygo.token_shared import OpenPAYGOTokenShared
from openpaygo.token_shared_extended import OpenPAYGOTokenSharedExtended

KINDS = {
    "add_time": TokenType.ADD_TIME,
    "set_time": TokenType.SET_TIME,
    "disable_payg": TokenType.DISABLE_PAYG,
    "counter_sync": TokenType.COUNTER_SYNC,
}
KIND_NAMES = {v: k for k, v in KINDS.items()}

# The core reads back values to this many decimal places (VALUE_DECIMALS in core/src/openpaygo/codec.rs).
VALUE_DECIMALS = Decimal("0.0000001")


def canonical(d):
    """The core's canonical decimal string: normalised, never an exponent."""
    text = format(d.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def unscale(raw, divider):
    return canonical((Decimal(raw) / Decimal(divider)).quantize(VALUE_DECIMALS, rounding=ROUND_HALF_EVEN))


def generate(secret_key, count, kind, value=None, starting_code=None, time_divider=1, restricted_digits=False,
             extended=False):
    """Returns {"code", "count"} as the reference mints it (it raises ValueError where it refuses)."""
    new_count, code = OpenPAYGOTokenEncoder.generate_token(
        secret_key=secret_key,
        count=count,
        value=None if value is None else Decimal(value),
        token_type=KINDS[kind],
        starting_code=starting_code,
        value_divider=time_divider,
        restricted_digit_set=restricted_digits,
        extended_token=extended,
    )
    return {"code": code, "count": new_count}


def generate_raw(secret_key, count, kind, raw, starting_code, restricted_digits=False, extended=False):
    """The reference's own minting below its argument checks, for inputs those checks mishandle (a starting
    code of 0, which generate_token replaces by the derived one)."""
    key = OpenPAYGOTokenShared.load_secret_key_from_hex(secret_key)
    mint = OpenPAYGOTokenEncoder.generate_extended_token if extended else OpenPAYGOTokenEncoder.generate_standard_token
    new_count, code = mint(starting_code, key, raw, count, KINDS[kind], restricted_digits)
    return {"code": code, "count": new_count}


def chain_codes(secret_key, raw, starting_code, extended, last):
    """The codes of one raw value at counts 0 to `last`, before formatting, by the reference's own steps
    (as generate_standard_token / generate_extended_token walk them). A starting code of None is derived
    from the key; 0 stays 0."""
    key = OpenPAYGOTokenShared.load_secret_key_from_hex(secret_key)
    if starting_code is None:
        starting_code = OpenPAYGOTokenShared.generate_starting_code(key)
    shared = OpenPAYGOTokenSharedExtended if extended else OpenPAYGOTokenShared
    encode = OpenPAYGOTokenEncoder._encode_base_extended if extended else OpenPAYGOTokenEncoder._encode_base
    base = encode(shared.get_token_base(starting_code), raw)
    current = shared.put_base_in_token(starting_code, base)
    codes = [current]
    for _ in range(last):
        current = shared.generate_next_token(current, key)
        codes.append(shared.put_base_in_token(current, base))
    return codes


def decode(secret_key, token, last_count, starting_code=None, time_divider=1, restricted_digits=False):
    """Returns {"kind", "value", "count"} as the reference decoder reads the token, or None if it refuses."""
    raw, token_type, count, _ = OpenPAYGOTokenDecoder.decode_token(
        token=token,
        secret_key=secret_key,
        count=last_count,
        used_counts=[],
        starting_code=starting_code,
        value_divider=1,
        restricted_digit_set=restricted_digits,
    )
    if token_type not in KIND_NAMES:
        return None
    kind = KIND_NAMES[token_type]
    value = unscale(raw, time_divider) if kind in ("add_time", "set_time") else "0"
    return {"kind": kind, "value": value, "count": count}
