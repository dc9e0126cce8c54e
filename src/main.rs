//! `gunicorn-rs [OPTIONS] [APP_MODULE]`: parse the command line, set up the
//! error log, run the master; nothing else.

use gunicorn_rs::config::{self, Invocation};
use gunicorn_rs::{log, master};

fn main() {
    let env = |key: &str| std::env::var(key).ok();
    let cfg = match config::parse_args(std::env::args_os(), &env) {
        Ok(Invocation::Print(text)) => {
            print!("{text}");
            return;
        }
        Ok(Invocation::Run(cfg)) => *cfg,
        // argparse-style usage errors print as they are; the rest as gunicorn's "Error: ...".
        Err(e @ config::Error::Usage(_)) => {
            eprintln!("{e}");
            std::process::exit(e.exit_code());
        }
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::exit(e.exit_code());
        }
    };
    if let Err(e) = log::init(&cfg.errorlog, cfg.loglevel) {
        eprintln!("Error: {e}");
        std::process::exit(1);
    }
    std::process::exit(master::run(cfg));
}
