//! `gunicorn-rs [OPTIONS] [APP_MODULE]`: parse the arguments, build the
//! configuration, run the master (see `startup` for the order); nothing else.

fn main() {
    // Before anything else may start a thread or read the arguments.
    gunicorn_rs::process::title::init();
    std::process::exit(gunicorn_rs::startup::run());
}
