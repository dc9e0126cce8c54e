use super::*;
use crate::config::settings::{self, Kind};

#[test]
fn every_hook_is_a_hook_setting() {
    for hook in Hook::ALL {
        let setting = settings::find(hook.name()).expect("a setting of that name");
        assert_eq!(setting.kind, Kind::Hook, "{}", hook.name());
        assert_eq!(Hook::from_name(hook.name()), Some(hook));
    }
    assert_eq!(Hook::from_name("ssl_context"), None);
    assert_eq!(Hook::from_name("workers"), None);
}

#[test]
fn arities_are_gunicorns() {
    // gunicorn's `validate_callable(n)` per hook.
    let expected = [
        ("on_starting", 1),
        ("on_reload", 1),
        ("when_ready", 1),
        ("pre_fork", 2),
        ("post_fork", 2),
        ("post_worker_init", 1),
        ("worker_int", 1),
        ("worker_abort", 1),
        ("pre_exec", 1),
        ("pre_request", 2),
        ("post_request", 4),
        ("child_exit", 2),
        ("worker_exit", 2),
        ("nworkers_changed", 3),
        ("on_exit", 1),
    ];
    for (name, arity) in expected {
        assert_eq!(
            Hook::from_name(name).map(Hook::arity),
            Some(arity),
            "{name}"
        );
    }
}

#[test]
fn invalid_names_the_hook_and_value() {
    let e = Invalid {
        hook: "post_fork",
        value: "<function post_fork at 0x1>".into(),
        message: "Value must have an arity of: 2".into(),
    };
    assert_eq!(
        e.to_string(),
        "Invalid value for post_fork: <function post_fork at 0x1>: Value must have an arity of: 2"
    );
}
