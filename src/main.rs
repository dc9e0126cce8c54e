//! `gunicorn-rs [OPTIONS] [APP_MODULE]`: parse the command line, set up the
//! error log, detach if asked, run the master; nothing else.

use gunicorn_rs::config::{self, Invocation};
use gunicorn_rs::{log, master, process};

fn main() {
    // Before anything else may start a thread or read the arguments.
    process::title::init();
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
    if let Err(e) = log::setup(&cfg) {
        eprintln!("Error: {e}");
        std::process::exit(1);
    }
    // Detach (--daemon) and set --env before the interpreter starts.
    if let Err(e) = process::prepare(&cfg) {
        eprintln!("Error: {e}");
        std::process::exit(e.exit_code());
    }
    if let Err(e) = log::capture_output(&cfg) {
        eprintln!("Error: {e}");
        std::process::exit(1);
    }
    std::process::exit(master::run(cfg));
}
