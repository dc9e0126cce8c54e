//! `gunicorn-rs [OPTIONS] [APP_MODULE]`: parse the command line, run the master.

fn main() {
    let env = |k: &str| std::env::var(k).ok();
    match gunicorn_rs::config::parse_args(std::env::args_os(), &env) {
        Ok(gunicorn_rs::config::Invocation::Print(text)) => print!("{text}"),
        Ok(gunicorn_rs::config::Invocation::Run(_cfg)) => {}
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(e.exit_code());
        }
    }
}
