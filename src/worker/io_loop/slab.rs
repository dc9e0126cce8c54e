//! Live connections by slot index (their epoll token); freed slots are reused.
//!
//! Connections are boxed: one is moved out and back for every step, and
//! to an executor thread and back under gthread, so a move should be a
//! pointer, not the whole connection.

use crate::worker::conn::Conn;

#[derive(Default)]
pub(super) struct Slab {
    pub(super) slots: Vec<Option<Box<Conn>>>,
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
                self.slots.len() - 1
            }
        }
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
        self.free.push(i);
    }

    /// Indices of the live connections matching `pred`.
    pub(super) fn matching(&self, pred: impl Fn(&Conn) -> bool) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].as_deref().is_some_and(&pred))
            .collect()
    }
}
