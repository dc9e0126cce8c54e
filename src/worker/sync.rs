//! The `sync` executor: the application runs for one request at a time, in
//! arrival order, as under gunicorn's sync worker. Connections wait here in
//! the loop, not in Python, so idle and slow clients cost the app nothing.

use std::collections::VecDeque;

/// Which connection may run the application, and who waits.
#[derive(Debug, Default)]
pub struct SyncExecutor {
    /// The connection whose response is still pulling from the application.
    active: Option<usize>,
    /// Connections with a complete request, oldest first.
    queue: VecDeque<usize>,
}

impl SyncExecutor {
    /// May connection `id` call the application now? If not, it is queued.
    pub fn try_start(&mut self, id: usize) -> bool {
        if self.active.is_none() {
            match self.queue.front() {
                None => {
                    self.active = Some(id);
                    return true;
                }
                Some(&front) if front == id => {
                    self.queue.pop_front();
                    self.active = Some(id);
                    return true;
                }
                Some(_) => {}
            }
        }
        if self.active != Some(id) && !self.queue.contains(&id) {
            self.queue.push_back(id);
        }
        false
    }

    /// The application finished with `id`'s response.
    pub fn release(&mut self, id: usize) {
        if self.active == Some(id) {
            self.active = None;
        }
    }

    /// Connection `id` is gone.
    pub fn forget(&mut self, id: usize) {
        self.release(id);
        self.queue.retain(|&q| q != id);
    }

    /// The next connection to run, when the application is free.
    pub fn next(&self) -> Option<usize> {
        if self.active.is_some() {
            None
        } else {
            self.queue.front().copied()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_at_a_time_in_arrival_order() {
        let mut ex = SyncExecutor::default();
        assert!(ex.try_start(1));
        assert!(!ex.try_start(2));
        assert!(!ex.try_start(3));
        assert!(!ex.try_start(2), "queued once");
        assert_eq!(ex.next(), None);
        ex.release(1);
        assert_eq!(ex.next(), Some(2));
        assert!(!ex.try_start(3), "3 must wait behind 2");
        assert!(ex.try_start(2));
        ex.forget(2);
        assert_eq!(ex.next(), Some(3));
        assert!(ex.try_start(3));
    }
}
