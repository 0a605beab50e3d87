#![no_main]
//! `t=…,v1=…` signatures (Wave's and the generic hook's) built from the input: 8 bytes of timestamp (any
//! i64, the ends included), a secret length byte, the secret, a separator choice, the body. A signature
//! made with the secret verifies at its own time and at the edges of the 5-minute window, is stale just
//! past them, and stops matching when one byte of the body, the secret, the digest or the separator
//! changes. A rotating sender's second `v1` is found.

use micropower_server::providers::signature::{sign, verify, SignatureError, WINDOW_SECONDS};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((t_bytes, rest)) = data.split_first_chunk::<8>() else { return };
    let t = i64::from_le_bytes(*t_bytes);
    let Some((len, rest)) = rest.split_first() else { return };
    let (secret, rest) = rest.split_at(usize::from(*len).min(rest.len()));
    let Some((choice, body)) = rest.split_first() else { return };
    let (separator, other): (&[u8], &[u8]) = if choice % 2 == 0 { (b"", b".") } else { (b".", b"") };

    let header = sign(secret, t, separator, body);
    assert_eq!(verify(secret, Some(&header), separator, body, t), Ok(()));
    for (offset, fresh) in
        [(WINDOW_SECONDS, true), (-WINDOW_SECONDS, true), (WINDOW_SECONDS + 1, false), (-WINDOW_SECONDS - 1, false)]
    {
        if let Some(now) = t.checked_add(offset) {
            let expected = if fresh { Ok(()) } else { Err(SignatureError::Stale) };
            assert_eq!(verify(secret, Some(&header), separator, body, now), expected, "t={t} now={now}");
        }
    }
    // Far from its time: stale, whatever the clock (the subtraction must not overflow).
    let far = if t < 0 { i64::MAX } else { i64::MIN };
    assert_eq!(verify(secret, Some(&header), separator, body, far), Err(SignatureError::Stale));

    assert_eq!(verify(secret, Some(&header), other, body, t), Err(SignatureError::Mismatch));
    if let Some((first, tail)) = body.split_first() {
        let changed = [&[first ^ 0x01], tail].concat();
        assert_eq!(verify(secret, Some(&header), separator, &changed, t), Err(SignatureError::Mismatch));
    }
    if let Some((first, tail)) = secret.split_first() {
        // A changed key byte, never a key that differs only by trailing zeros (HMAC pads keys with zeros).
        let changed = [&[first ^ 0x01], tail].concat();
        assert_eq!(verify(&changed, Some(&header), separator, body, t), Err(SignatureError::Mismatch));
    }
    let digest = header.rsplit_once("v1=").map(|(_, hex)| hex).unwrap_or_default();
    let mut flipped = digest.to_owned();
    let last = flipped.pop();
    flipped.push(if last == Some('0') { '1' } else { '0' });
    let tampered = format!("t={t},v1={flipped}");
    assert_eq!(verify(secret, Some(&tampered), separator, body, t), Err(SignatureError::Mismatch));
    let rotated = format!("t={t}, v1={flipped} ,v1={digest}");
    assert_eq!(verify(secret, Some(&rotated), separator, body, t), Ok(()));
    assert_eq!(verify(secret, Some(&format!("v1={digest}")), separator, body, t), Err(SignatureError::Malformed));
});
