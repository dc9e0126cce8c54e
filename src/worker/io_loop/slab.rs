//! Live connections by slot index; freed slots are reused.
//!
//! A connection's epoll token is its slot and the slot's generation, which
//! changes each time the slot is freed: an event fetched for a connection
//! that was closed while the batch was being handled (and whose slot, even
//! its descriptor number, went to a new connection) is then recognised as
//! stale, instead of being applied to the newcomer (a stale hang-up would
//! make it close before reading its request).
//!
//! Connections are boxed: one is moved out and back for every step, and
//! to an executor thread and back under gthread, so a move should be a
//! pointer, not the whole connection.

use crate::worker::conn::Conn;

#[derive(Default)]
pub(super) struct Slab {
    pub(super) slots: Vec<Option<Box<Conn>>>,
    /// Per slot: how many times it was freed.
    generations: Vec<u32>,
    free: Vec<usize>,
    /// Connections open (slots taken out for a step still count).
    pub(super) live: usize,
}

impl Slab {
    pub(super) fn insert(&mut self, conn: Box<Conn>) -> usize {
        self.live += 1;
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(conn);
                i
            }
            None => {
                self.slots.push(Some(conn));
                self.generations.push(0);
                self.slots.len() - 1
            }
        }
    }

    /// The epoll token of the connection in slot `i`.
    pub(super) fn token(&self, i: usize) -> u64 {
        (u64::from(self.generations[i]) << 32) | i as u64
    }

    /// The slot a connection token names, if that connection is still the
    /// slot's.
    pub(super) fn slot_of(&self, token: u64) -> Option<usize> {
        let i = (token & u64::from(u32::MAX)) as usize;
        let generation = (token >> 32) as u32;
        (self.generations.get(i) == Some(&generation)).then_some(i)
    }

    /// Take connection `i` out for a step; `put_back` or `release` follows.
    pub(super) fn take(&mut self, i: usize) -> Option<Box<Conn>> {
        self.slots.get_mut(i).and_then(Option::take)
    }

    pub(super) fn put_back(&mut self, i: usize, conn: Box<Conn>) {
        self.slots[i] = Some(conn);
    }

    /// Slot `i` (already taken) is free again.
    pub(super) fn release(&mut self, i: usize) {
        self.live -= 1;
        self.generations[i] = self.generations[i].wrapping_add(1);
        self.free.push(i);
    }

    /// Indices of the live connections matching `pred`.
    pub(super) fn matching(&self, pred: impl Fn(&Conn) -> bool) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].as_deref().is_some_and(&pred))
            .collect()
    }
}
