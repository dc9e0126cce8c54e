//! `docs/compat.md`, generated from [`SETTINGS`]: every setting with its
//! flags, default and status, grouped by gunicorn's sections. The test
//! fails when the file differs from what the table says, so the document
//! cannot fall out of date; run it with `GRS_WRITE_COMPAT=1` to rewrite it.

use super::settings::{DefaultValue, Kind, SETTINGS, Section, Setting, Status};

const HEADER: &str = "\
# gunicorn settings in gunicorn-rs

Generated from the settings table (`src/config/settings.rs`) by the test
`config::compat::compat_md_is_up_to_date`; do not edit by hand (run
`GRS_WRITE_COMPAT=1 cargo test --lib compat` after changing the table).

Every setting of gunicorn 27.0.1 is known by name and flag. Statuses:

- **supported**: works as in gunicorn (differences are listed in
  [usage.md](usage.md)).
- **gunicorn-rs only**: not a gunicorn setting.
- **not supported yet**: refused with a one-line message naming it, on the
  command line, in `GUNICORN_CMD_ARGS` and in a config file, so a deployment
  never runs with a setting silently ignored. A config file may still restate
  the setting's default (`spew = False`, `keyfile = None`), which changes
  nothing. The server hooks not supported yet (`ssl_context`, the dirty
  arbiters') are refused the same way.

Settings without flags can only be set in a config file.
";

/// The whole document.
pub fn markdown() -> String {
    let mut out = String::from(HEADER);
    let mut sections: Vec<Section> = Vec::new();
    for s in SETTINGS {
        if !sections.contains(&s.section) {
            sections.push(s.section);
        }
    }
    for section in sections {
        out.push_str(&format!("\n## {}\n\n", section.title()));
        out.push_str("| setting | flags | default | status |\n|---|---|---|---|\n");
        for s in SETTINGS.iter().filter(|s| s.section == section) {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                s.name,
                flags(s),
                default(s),
                status(s)
            ));
        }
    }
    out
}

fn flags(s: &Setting) -> String {
    if s.flags.is_empty() {
        return "(config file only)".to_string();
    }
    let meta = if s.meta.is_empty() {
        String::new()
    } else {
        format!(" {}", s.meta)
    };
    s.flags
        .iter()
        .map(|f| format!("`{f}{meta}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn default(s: &Setting) -> String {
    let code = |text: &str| format!("`{}`", text.replace('|', "\\|"));
    let mut text = match s.default {
        DefaultValue::None => "None".to_string(),
        DefaultValue::Int(n) if s.kind == Kind::AutoInt && n != 0 => code(&format!("{n:#o}")),
        DefaultValue::Int(n) => code(&n.to_string()),
        DefaultValue::Bool(b) => code(if b { "True" } else { "False" }),
        DefaultValue::Str(v) => code(v),
        DefaultValue::List([]) => code("[]"),
        DefaultValue::List(items) => code(&items.join(",")),
        DefaultValue::Dict([]) => code("{}"),
        DefaultValue::Dict(pairs) => pairs
            .iter()
            .map(|(k, v)| code(&format!("{k}: {v}")))
            .collect::<Vec<_>>()
            .join(", "),
        DefaultValue::Computed(how) => how.replace('|', "\\|"),
    };
    if !s.env.is_empty() {
        let vars: Vec<String> = s.env.iter().map(|v| format!("`${v}`")).collect();
        text.push_str(&format!(" (reads {})", vars.join(", ")));
    }
    text
}

fn status(s: &Setting) -> &'static str {
    match (s.status, s.extension, s.kind) {
        (Status::Implemented, true, _) => "gunicorn-rs only",
        (Status::Implemented, false, _) => "supported",
        (Status::Unsupported, _, _) => "not supported yet",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compat_md_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/compat.md");
        let wanted = markdown();
        if std::env::var_os("GRS_WRITE_COMPAT").is_some() {
            std::fs::write(&path, &wanted).expect("write docs/compat.md");
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == wanted,
            "docs/compat.md is out of date with src/config/settings.rs: \
             run GRS_WRITE_COMPAT=1 cargo test --lib compat"
        );
    }

    #[test]
    fn lists_every_setting_once() {
        let text = markdown();
        for s in SETTINGS {
            assert_eq!(
                text.matches(&format!("\n| `{}` |", s.name)).count(),
                1,
                "{}",
                s.name
            );
        }
    }
}
