//! Choosing a count whose code the device cannot read at any other count.
//!
//! A code keeps only about 20 bits of its hash (the digits above the value's), so the codes of one value
//! at two counts a few dozen apart are equal about once in a million. The decoder accepts the first
//! matching count it is allowed to, so such a token is read at the wrong count: an add time read as a set
//! time, or the same token accepted twice. The reference mints it anyway, about once in 7 000 tokens; we
//! move the token to the next count of its kind instead, which the device accepts as well.
//!
//! A value's chain may also fall into a cycle shorter than the device's window (a chain has about a
//! billion states; rarely, but for good). Every later code of that value is then ambiguous, and the value
//! cannot be minted any more on that device: [`super::tokens_for_request`] carries the days in other
//! values, [`super::openpaygo_generate`] refuses.

use std::collections::VecDeque;

use super::codec::{Chain, Scheme, COUNTER_SYNC_VALUE};
use super::decode::{MAX_TOKEN_JUMP, MAX_TOKEN_JUMP_COUNTER_SYNC, MAX_UNUSED_OLDER_TOKENS};
use super::generate::count_too_large;
use super::MAX_COUNT;
use crate::error::CoreResult;

/// How many counts of its kind a token may move past the one it is due at. One skip is needed about once in
/// 7 000 tokens and two in a row about once in 50 million; more mean the chain cycles. Eight skips move a
/// token 16 counts, well inside the 64 a device accepts above its last count.
const MAX_SKIPS: u32 = 8;

/// Walks one value's hash chain forward, remembering the codes of the counts around the next token.
pub(super) struct CountPicker<'a> {
    chain: Chain<'a>,
    /// (count, code) for consecutive counts, oldest first.
    seen: VecDeque<(u32, u64)>,
    /// How far the decoder searches above a device's last count for this value.
    jump: u32,
}

impl<'a> CountPicker<'a> {
    pub(super) fn new(scheme: &'a Scheme, raw: u64) -> Self {
        let jump = if raw == COUNTER_SYNC_VALUE { MAX_TOKEN_JUMP_COUNTER_SYNC } else { MAX_TOKEN_JUMP };
        Self { chain: scheme.chain(raw), seen: VecDeque::new(), jump }
    }

    /// The first of `count`, `count + 2`, … (the parity tells the kind) whose code no other count shares
    /// where the device could meet it, with that code; `None` when the next [`MAX_SKIPS`] candidates are
    /// all ambiguous, which happens once this value's hash chain has entered a short cycle (its codes then
    /// repeat for good).
    ///
    /// A device whose last count is `last` accepts the token when `count - last` is at most the jump, so
    /// it may search as low as `count - jump - 15` (older unused add time tokens) and, once the token is
    /// accepted and typed again, as high as `count + jump`. Count 0 is never accepted, so it does not
    /// count. Counts never go down: each call must ask for a count above the previous answer.
    ///
    /// Errors: [`crate::CoreError::InvalidTokenCount`] when the count would pass [`MAX_COUNT`].
    pub(super) fn pick(&mut self, first: u32) -> CoreResult<Option<(u32, u64)>> {
        let behind = self.jump + MAX_UNUSED_OLDER_TOKENS - 1;
        let mut count = first;
        for _ in 0..=MAX_SKIPS {
            if count > MAX_COUNT {
                return Err(count_too_large(u64::from(count)));
            }
            let lowest = count.saturating_sub(behind).max(1);
            let highest = count.saturating_add(self.jump).min(MAX_COUNT);
            self.walk_to(lowest, highest);
            let mine = self.seen.iter().find(|(c, _)| *c == count).map(|(_, code)| *code);
            if let Some(code) = mine {
                if !self.seen.iter().any(|(c, other)| *c != count && *other == code) {
                    return Ok(Some((count, code)));
                }
            }
            count += 2;
        }
        Ok(None)
    }

    /// Keeps exactly the codes of `lowest..=highest` (as far as the chain has gone forward).
    fn walk_to(&mut self, lowest: u32, highest: u32) {
        while self.seen.front().is_some_and(|(c, _)| *c < lowest) {
            self.seen.pop_front();
        }
        while self.chain.count() < highest {
            self.chain.advance_to(self.chain.count() + 1);
            if self.chain.count() >= lowest {
                self.seen.push_back((self.chain.count(), self.chain.code()));
            }
        }
    }
}
