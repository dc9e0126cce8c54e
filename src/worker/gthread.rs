//! The `gthread` executor: `--threads` threads per worker that run Python
//! work handed to them, and hand the results back.
//!
//! The I/O loop gives a thread a connection whose request is complete (or
//! whose response needs more from the application) and goes on with the
//! others; the thread answers as far as it can without waiting on the
//! socket and hands the connection back (see `io_loop`). Each thread
//! attaches to the interpreter once for its whole life (per-call attaching
//! would reset `threading.local` and cost more) and releases the GIL while
//! it waits for work. The pool itself knows nothing of connections: it
//! moves jobs in and results out, and wakes the loop through an eventfd.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::eventfd::{EfdFlags, EventFd};
use pyo3::prelude::*;
use tracing::error;

struct Queue<J> {
    jobs: VecDeque<J>,
    /// The worker is stopping: threads exit once they are idle.
    closed: bool,
    /// Threads asleep waiting for a job: only then is one woken (a wake-up
    /// is a syscall, and a thread woken for nothing contends for the GIL).
    idle: usize,
}

impl<J> Default for Queue<J> {
    fn default() -> Self {
        Queue {
            jobs: VecDeque::new(),
            closed: false,
            idle: 0,
        }
    }
}

struct Shared<J, D> {
    queue: Mutex<Queue<J>>,
    work: Condvar,
    done: Mutex<Vec<D>>,
    /// Written when `done` gets a connection: wakes the loop's epoll.
    wake: EventFd,
    /// Threads that have ended, with a condvar to wait for them.
    exited: Mutex<usize>,
    all_exited: Condvar,
}

/// The executor threads of one worker: jobs `J` in, results `D` out.
pub struct Pool<J, D> {
    shared: Arc<Shared<J, D>>,
    threads: Vec<JoinHandle<()>>,
}

impl<J: Send + 'static, D: Send + 'static> Pool<J, D> {
    /// Start one thread per worker function; each runs its function on
    /// the jobs it takes, attached to the interpreter. A function is
    /// dropped in its thread, attached (it may own Python objects).
    pub fn start<W>(workers: Vec<W>) -> std::io::Result<Self>
    where
        W: FnMut(Python<'_>, J) -> D + Send + 'static,
    {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            done: Mutex::new(Vec::new()),
            wake: EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)?,
            exited: Mutex::new(0),
            all_exited: Condvar::new(),
        });
        let mut pool = Pool {
            shared,
            threads: Vec::with_capacity(workers.len()),
        };
        for (i, work) in workers.into_iter().enumerate() {
            let shared = Arc::clone(&pool.shared);
            let handle = std::thread::Builder::new()
                .name(format!("gthread-{i}"))
                .stack_size(stack_size())
                .spawn(move || serve(&shared, work, i));
            match handle {
                Ok(h) => pool.threads.push(h),
                Err(e) => {
                    pool.shutdown(Duration::from_secs(1));
                    return Err(e);
                }
            }
        }
        Ok(pool)
    }

    /// The descriptor that becomes readable when results come back. Watch
    /// it edge-triggered: every write is an edge, so the loop never needs
    /// to read it (one syscall less per request).
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.shared.wake.as_fd()
    }

    /// Queue a job for the next free thread.
    pub fn submit(&self, job: J) {
        let mut q = lock(&self.shared.queue);
        q.jobs.push_back(job);
        let wake = q.idle > 0;
        drop(q);
        if wake {
            self.shared.work.notify_one();
        }
    }

    /// The results the threads have handed back.
    pub fn finished(&self) -> Vec<D> {
        std::mem::take(&mut *lock(&self.shared.done))
    }

    /// Stop the threads: queued jobs are dropped, idle threads end
    /// at once, busy ones when their application call returns. Waits at
    /// most `wait`; returns whether every thread ended (only then may the
    /// interpreter be finalised).
    pub fn shutdown(&mut self, wait: Duration) -> bool {
        let dropped = {
            let mut q = lock(&self.shared.queue);
            q.closed = true;
            std::mem::take(&mut q.jobs)
        };
        self.shared.work.notify_all();
        // Their Python objects are released with the GIL (pyo3 defers the
        // decrefs of objects dropped without it).
        drop(dropped);
        let deadline = Instant::now() + wait;
        let mut exited = lock(&self.shared.exited);
        while *exited < self.threads.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            exited = self
                .shared
                .all_exited
                .wait_timeout(exited, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let all = *exited == self.threads.len();
        drop(exited);
        if all {
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
        }
        all
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<J, D> Shared<J, D> {
    /// A queued job, if there is one, without waiting.
    fn try_next(&self) -> Option<J> {
        let mut q = lock(&self.queue);
        if q.closed {
            return None;
        }
        q.jobs.pop_front()
    }

    /// The next job, waiting for one; None once the pool is closed.
    fn next(&self) -> Option<J> {
        let mut q = lock(&self.queue);
        loop {
            if q.closed {
                return None;
            }
            if let Some(job) = q.jobs.pop_front() {
                return Some(job);
            }
            q.idle += 1;
            q = self.work.wait(q).unwrap_or_else(PoisonError::into_inner);
            q.idle -= 1;
        }
    }

    fn give_back(&self, done: D) {
        let mut list = lock(&self.done);
        list.push(done);
        // The loop takes the whole list when woken: one wake-up per batch.
        let first = list.len() == 1;
        drop(list);
        if !first {
            return;
        }
        // The counter is never read, so it only grows: when it is full
        // (after 2^64 - 2 wake-ups, in theory), empty it and write again.
        let woken = match self.wake.write(1) {
            Err(nix::errno::Errno::EAGAIN) => self.wake.read().and_then(|_| self.wake.write(1)),
            other => other,
        };
        if let Err(e) = woken {
            // The loop still collects the result at its next turn (it
            // wakes at least once a second).
            error!("Cannot wake the worker's loop: {e}");
        }
    }
}

/// One executor thread: attached to the interpreter for its whole life,
/// detached while it waits for work.
fn serve<J: Send, D: Send>(
    shared: &Shared<J, D>,
    mut work: impl FnMut(Python<'_>, J) -> D,
    index: usize,
) {
    let _exiting = Exiting(shared);
    Python::attach(|py| {
        name_thread(py, index);
        // A thread that just finished keeps the GIL for the next queued
        // job; it gives the GIL up only to wait (and whenever the
        // application waits on I/O).
        while let Some(job) = shared.try_next().or_else(|| py.detach(|| shared.next())) {
            let done = work(py, job);
            shared.give_back(done);
        }
        drop(work);
    });
}

/// The stack an executor thread gets: what a thread made by Python's
/// `threading` (as gunicorn's pool threads are) would get, the soft
/// `RLIMIT_STACK` (8 MiB when unlimited), not Rust's 2 MiB default, so
/// deep recursion in C extensions behaves as under gunicorn. Address
/// space only: untouched pages cost no memory.
fn stack_size() -> usize {
    const FALLBACK: usize = 8 << 20;
    match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_STACK) {
        Ok((soft, _)) if soft != nix::sys::resource::RLIM_INFINITY => {
            usize::try_from(soft).unwrap_or(FALLBACK).max(2 << 20)
        }
        _ => FALLBACK,
    }
}

/// Name the thread as Python code sees it (`threading.current_thread()`,
/// `%(threadName)s` in log records) as gunicorn's pool threads are named,
/// instead of `Dummy-N`.
fn name_thread(py: Python<'_>, index: usize) {
    let named = py.import("threading").and_then(|threading| {
        threading
            .call_method0("current_thread")?
            .setattr("name", format!("ThreadPoolExecutor-0_{index}"))
    });
    if let Err(e) = named {
        error!(
            "Cannot name executor thread {index}: {}",
            crate::python::format_exception(py, &e).trim_end()
        );
    }
}

/// Counts a thread as ended however it ends (a panic included), so that
/// `shutdown` does not wait for it in vain.
struct Exiting<'a, J, D>(&'a Shared<J, D>);

impl<J, D> Drop for Exiting<'_, J, D> {
    fn drop(&mut self) {
        *lock(&self.0.exited) += 1;
        self.0.all_exited.notify_all();
    }
}
