//! `gunicorn-rs [OPTIONS] [APP_MODULE]`: parse the arguments, build the
//! configuration, run the master (see `startup` for the order); nothing else.

fn main() {
    // SAFETY: first thing in `main`: the process has one thread and nothing
    // has read the arguments or the environment yet.
    unsafe { gunicorn_rs::process::title::init() };
    std::process::exit(gunicorn_rs::startup::run());
}
