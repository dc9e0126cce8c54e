//! HUP's second half: the configuration is built again from its sources
//! (the config file runs afresh; `GUNICORN_CMD_ARGS` and the command line
//! apply over it as at start), and the new values are for the workers
//! spawned next. A changed `bind` gets new listeners while the ones still
//! wanted are kept open, so no connection is refused meanwhile; the ones
//! no longer wanted are closed once no old worker accepts on them. The
//! error log, `--env`, the pid file and the process title follow the new
//! values too.
//!
//! A configuration that does not load (an invalid value, an exception in
//! the config file, an address that cannot be bound) is logged and the
//! running one kept: gunicorn 27 exits the master there instead, taking
//! the service down for a typo.

use pyo3::prelude::*;
use tracing::{error, info};

use super::{Arbiter, Pidfile};
use crate::config::Config;
use crate::sock::{self, Listener};
use crate::{log, process};

/// A listener the new configuration no longer names, kept open until no
/// worker of the previous set accepts on it.
pub(super) struct Retired {
    listener: Listener,
    unlink: bool,
}

impl Arbiter {
    /// Build the configuration again and switch to it; on failure keep the
    /// running one. Called on HUP, before the workers are replaced.
    pub(super) fn reconfigure(&mut self) {
        let cfg = match self.sources.load() {
            Ok(cfg) => cfg,
            Err(e) => {
                error!("{}", e.report());
                error!("Reload failed: the running configuration is kept");
                return;
            }
        };
        if let Err(e) = self.rebind(&cfg) {
            error!("{e}");
            error!("Reload failed: the running configuration is kept");
            return;
        }
        if (&cfg.errorlog, cfg.loglevel) != (&self.cfg.errorlog, self.cfg.loglevel)
            && let Err(e) = log::init(&cfg.errorlog, cfg.loglevel)
        {
            error!("Cannot open the error log {}: {e}", cfg.errorlog);
        }
        self.reset_env(&cfg);
        if cfg.pidfile != self.cfg.pidfile {
            if let Some(old) = self.pidfile.take() {
                old.remove();
            }
            if let Some(path) = &cfg.pidfile {
                match Pidfile::create(&self.upgrade.pidfile_path(path), self.pid) {
                    Ok(p) => self.pidfile = Some(p),
                    Err(e) => error!("{e}"),
                }
            }
        }
        self.recycle = super::recycle::Limits {
            memory_mib: cfg.max_worker_memory,
            lifetime_secs: cfg.max_worker_lifetime,
        };
        self.cfg = cfg;
        process::title::set(&process::master_title(&self.cfg));
    }

    /// Listeners for `cfg.bind`: the current ones whose address is still
    /// named are kept, the others bound anew. Nothing changes on failure.
    fn rebind(&mut self, cfg: &Config) -> Result<(), sock::Error> {
        if cfg.bind == self.cfg.bind {
            return Ok(());
        }
        let wanted = cfg
            .bind
            .iter()
            .map(|b| sock::parse_bind(b))
            .collect::<Result<Vec<_>, _>>()?;
        // The current listeners were made from the current `bind`, in its
        // order (listeners inherited in another number cannot be matched).
        let current: Vec<Option<sock::BindAddr>> = if self.cfg.bind.len() == self.listeners.len() {
            self.cfg
                .bind
                .iter()
                .map(|b| sock::parse_bind(b).ok())
                .collect()
        } else {
            vec![None; self.listeners.len()]
        };
        let mut taken = vec![false; current.len()];
        // For each wanted address: the index of the listener to keep.
        let mut plan: Vec<Option<usize>> = Vec::with_capacity(wanted.len());
        let mut fresh_binds = Vec::new();
        for (addr, raw) in wanted.iter().zip(&cfg.bind) {
            let keep = current
                .iter()
                .enumerate()
                .position(|(i, c)| !taken[i] && c.as_ref() == Some(addr));
            match keep {
                Some(i) => taken[i] = true,
                None => fresh_binds.push(raw.clone()),
            }
            plan.push(keep);
        }
        let mut fresh =
            sock::bind_all_options(&fresh_binds, &sock::Options::from_config(cfg))?.into_iter();
        let mut old: Vec<Option<Listener>> = self.listeners.drain(..).map(Some).collect();
        let mut listeners = Vec::with_capacity(plan.len());
        for keep in plan {
            let listener = match keep {
                Some(i) => old[i].take(),
                None => fresh.next(),
            };
            listeners.extend(listener);
        }
        for listener in old.into_iter().flatten() {
            let unlink = listener.unix_path().is_some();
            self.retired_listeners.push(Retired { listener, unlink });
        }
        self.listeners = listeners;
        let urls: Vec<String> = self.listeners.iter().map(Listener::url).collect();
        info!("Listening at: {} ({})", urls.join(","), self.pid);
        Ok(())
    }

    /// Close the retired listeners once no worker of an earlier set still
    /// accepts connections (called from the master's loop).
    pub(super) fn close_retired_listeners(&mut self) {
        if self.retired_listeners.is_empty() {
            return;
        }
        let old_serving = self
            .workers
            .values()
            .any(|w| w.replace.is_some() && w.retiring.is_none());
        if old_serving {
            return;
        }
        let unlink = self.upgrade.unlink_sockets();
        self.close_retired_listeners_now(unlink);
    }

    /// Close every retired listener (the master stops).
    pub(super) fn close_retired_listeners_now(&mut self, unlink: bool) {
        for retired in self.retired_listeners.drain(..) {
            retired.listener.close(retired.unlink && unlink);
        }
    }

    /// `--env` as gunicorn's reload: the variables the running
    /// configuration set get back the value they had at start (or go),
    /// then the new configuration's are set.
    fn reset_env(&self, cfg: &Config) {
        if self.cfg.process.raw_env == cfg.process.raw_env {
            return;
        }
        let result = Python::attach(|py| -> PyResult<()> {
            let environ = py.import("os")?.getattr("environ")?;
            for (key, _) in &self.cfg.process.raw_env {
                match self.sources.original_env(key) {
                    Some(value) => environ.set_item(key, value)?,
                    None => {
                        environ.call_method1("pop", (key, py.None()))?;
                    }
                }
            }
            for (key, value) in &cfg.process.raw_env {
                environ.set_item(key, value)?;
            }
            Ok(())
        });
        if let Err(e) = result {
            error!("Cannot set the environment: {e}");
        }
    }
}
