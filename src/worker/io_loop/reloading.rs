//! The loop's side of `--reload`: reading the reloader's events and ticks,
//! and stopping gracefully when a watched file changed.

use std::path::PathBuf;

use pyo3::prelude::*;
use tracing::{info, warn};

use super::{IoLoop, Mode};

impl IoLoop<'_> {
    /// The reloader's descriptor is readable.
    pub(super) fn reload_events(&mut self) {
        let changed = self.reloader.as_mut().and_then(|r| r.read_events());
        self.reload_if(changed);
    }

    /// From housekeeping, about once a second.
    pub(super) fn reload_tick(&mut self) {
        let Some(reloader) = self.reloader.as_mut() else {
            return;
        };
        let changed = Python::attach(|py| reloader.tick(py));
        self.reload_if(changed);
    }

    fn reload_if(&mut self, changed: Option<PathBuf>) {
        let Some(path) = changed else { return };
        if self.mode != Mode::Running {
            return;
        }
        info!("Worker reloading: {} modified", path.display());
        if self.cfg.preload_app {
            warn!(
                "The application was loaded by the master (--preload): the next worker runs the same code"
            );
        }
        self.stop_gracefully();
        // gunicorn's reloader calls it before the worker exits.
        self.worker_int();
    }
}
