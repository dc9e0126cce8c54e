//! The config file, as gunicorn loads it: `-c PATH` (`file:PATH`,
//! `python:MODULE`) from the command line, else from `GUNICORN_CMD_ARGS`,
//! else `./gunicorn.conf.py` when it exists. A Python file runs in the
//! embedded interpreter as the module `__config__`; a `.toml` file (a
//! gunicorn-rs addition) is read as a table. Either way, each top-level
//! name that is a setting is read with gunicorn's coercions (`file.py`)
//! into the text form the command line gives, so one set of validators
//! (`resolve`) serves every source; other names are ignored. Server hooks
//! are kept as the callables they are ([`HookFns`]).
//!
//! The only part of `config` that touches Python; the interpreter must be
//! running.

use std::ffi::CString;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};

use super::Error;
use super::cli::{Given, Value};
use super::pytext;
use super::settings::{self, DefaultValue, Kind, Setting, Status};
use crate::python::format_exception;

const HELPER_SOURCE: &str = include_str!("file.py");

/// The server hooks a config file defined (`on_starting`, `post_fork`...),
/// each checked to be a callable taking the hook's arguments. Cloning
/// shares the callables.
#[derive(Clone, Default)]
pub struct HookFns {
    /// Setting name, the callable's `__qualname__`, the callable.
    hooks: Vec<(&'static str, String, Arc<Py<PyAny>>)>,
}

impl HookFns {
    /// The callable for the hook setting `name`, if the file defined one.
    pub fn get(&self, name: &str) -> Option<&Py<PyAny>> {
        self.find(name).map(|(_, _, f)| f.as_ref())
    }

    /// The `__qualname__` of the callable for `name`, if defined.
    pub fn qualname(&self, name: &str) -> Option<&str> {
        self.find(name).map(|(_, q, _)| q.as_str())
    }

    /// The names of the hooks defined, in the file's order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.hooks.iter().map(|(n, _, _)| *n)
    }

    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    fn find(&self, name: &str) -> Option<&(&'static str, String, Arc<Py<PyAny>>)> {
        self.hooks.iter().find(|(n, _, _)| *n == name)
    }

    fn push(&mut self, name: &'static str, qualname: String, function: Py<PyAny>) {
        self.hooks.push((name, qualname, Arc::new(function)));
    }
}

impl fmt::Debug for HookFns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// What a config file said.
#[derive(Debug, Default)]
pub struct FileLayer {
    /// The settings it gave, in its order, as the command line would give them.
    pub given: Given,
    /// `str(value)` for each entry of `given`: gunicorn's "Invalid value
    /// for NAME: VALUE" shows the value so.
    pub shown: Vec<String>,
    pub hooks: HookFns,
    /// `logconfig_dict`, when the file set a non-empty one.
    pub logconfig_dict: Option<Arc<Py<PyAny>>>,
}

/// The config file to load, as gunicorn picks it: `-c` on the command
/// line, else in `GUNICORN_CMD_ARGS`, else `gunicorn.conf.py` in `cwd`
/// when there is one. An empty `-c` counts as absent, as in gunicorn.
pub fn location(cli: &Given, env_args: &Given, cwd: &Path) -> Option<String> {
    for given in [cli, env_args] {
        if let Some(Value::One(loc)) = given.get("config")
            && !loc.is_empty()
        {
            return Some(loc.clone());
        }
    }
    let default = cwd.join("gunicorn.conf.py");
    if !default.exists() {
        return None;
    }
    // `load` joins a relative name to `cwd`: a directory whose name is not
    // UTF-8 still finds its file.
    Some(match default.to_str() {
        Some(path) => path.to_string(),
        None => "gunicorn.conf.py".to_string(),
    })
}

/// Run or read the config file at `location` and collect its settings.
pub fn load(location: &str, cwd: &Path) -> Result<FileLayer, Error> {
    Python::attach(|py| {
        let helper = helper(py)?;
        let (names, toml) = if let Some(module) = location.strip_prefix("python:") {
            // gunicorn lets an import error out as "Error: MESSAGE".
            let names = helper
                .call_method1("import_module", (module, cwd.as_os_str()))
                .map_err(|e| Error::Refused(e.value(py).to_string()))?;
            (names, false)
        } else {
            let filename = location.strip_prefix("file:").unwrap_or(location);
            // Relative to the directory at start, also when HUP re-reads it
            // after `--chdir`.
            let path = cwd.join(filename);
            if !path.exists() {
                return Err(Error::Refused(format!(
                    "{} doesn't exist",
                    pytext::repr(filename)
                )));
            }
            if filename.ends_with(".toml") {
                (read_toml(py, filename, &path)?, true)
            } else {
                (run_python(py, &helper, filename, &path)?, false)
            }
        };
        let names = names
            .cast_into::<PyDict>()
            .map_err(|_| Error::Refused(format!("{location}: not a module")))?;
        collect(py, &helper, &names, location, toml)
    })
}

/// The helper module, built once per process from `file.py`.
fn helper(py: Python<'_>) -> Result<Bound<'_, PyModule>, Error> {
    static HELPER: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    HELPER
        .get_or_try_init(py, || {
            let code = CString::new(HELPER_SOURCE)
                .map_err(|_| Error::Refused("config/file.py holds a NUL".into()))?;
            PyModule::from_code(py, &code, c"gunicorn_rs/config.py", c"gunicorn_rs_config")
                .map(Bound::unbind)
                .map_err(|e| Error::Refused(format_exception(py, &e)))
        })
        .map(|m| m.bind(py).clone())
}

fn run_python<'py>(
    py: Python<'py>,
    helper: &Bound<'py, PyModule>,
    filename: &str,
    path: &Path,
) -> Result<Bound<'py, PyAny>, Error> {
    let ext = Path::new(filename).extension().and_then(|e| e.to_str());
    if !matches!(ext, Some("py" | "pyc")) {
        // gunicorn's warning, in its frame of exclamation marks.
        eprintln!(
            "!!!\n!!! WARNING: configuration file should have a valid Python extension.\n!!!\n"
        );
    }
    helper
        .call_method1("run_file", (path.as_os_str(),))
        .map_err(|e| {
            Error::FileFailed(format!(
                "Failed to read config file: {filename}\n{}",
                format_exception(py, &e).trim_end()
            ))
        })
}

/// A TOML file as a dict of Python values, so it is read exactly as a
/// Python file binding the same names.
fn read_toml<'py>(
    py: Python<'py>,
    filename: &str,
    path: &Path,
) -> Result<Bound<'py, PyAny>, Error> {
    let failed =
        |why: String| Error::FileFailed(format!("Failed to read config file: {filename}\n{why}"));
    let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| failed(e.to_string()))?;
    let dict = PyDict::new(py);
    for (key, value) in &table {
        let value = toml_to_py(py, value).map_err(|e| failed(e.to_string()))?;
        dict.set_item(key, value)
            .map_err(|e| failed(e.to_string()))?;
    }
    Ok(dict.into_any())
}

fn toml_to_py<'py>(py: Python<'py>, value: &toml::Value) -> PyResult<Bound<'py, PyAny>> {
    use pyo3::IntoPyObjectExt;
    match value {
        toml::Value::String(s) => s.into_bound_py_any(py),
        toml::Value::Integer(n) => n.into_bound_py_any(py),
        toml::Value::Float(x) => x.into_bound_py_any(py),
        toml::Value::Boolean(b) => b.into_bound_py_any(py),
        toml::Value::Datetime(d) => d.to_string().into_bound_py_any(py),
        toml::Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(toml_to_py(py, item)?)?;
            }
            Ok(list.into_any())
        }
        toml::Value::Table(table) => {
            let dict = PyDict::new(py);
            for (key, item) in table {
                dict.set_item(key, toml_to_py(py, item)?)?;
            }
            Ok(dict.into_any())
        }
    }
}

/// Read every name of `names` that is a setting, in the file's order.
fn collect(
    py: Python<'_>,
    helper: &Bound<'_, PyModule>,
    names: &Bound<'_, PyDict>,
    source: &str,
    toml: bool,
) -> Result<FileLayer, Error> {
    let mut layer = FileLayer::default();
    for (key, value) in names.iter() {
        // gunicorn matches names exactly (lower case) and ignores the rest;
        // a dict's keys are unique, so each setting comes once.
        let Ok(key) = key.extract::<String>() else {
            continue;
        };
        let Some(setting) = settings::find(&key) else {
            continue;
        };
        let invalid = |e: PyErr| Error::FileValue {
            setting: setting.name,
            shown: helper
                .call_method1("shown", (&value,))
                .and_then(|s| s.extract::<String>())
                .unwrap_or_default(),
            message: e.value(py).to_string(),
        };
        if setting.kind == Kind::Hook {
            // `ssl_context` and the dirty arbiters' hooks: their features
            // do not exist here, so the hook would never run.
            if setting.status == Status::Unsupported {
                return Err(Error::Unsupported {
                    flag: format!("{} (in {source})", setting.name),
                });
            }
            if toml {
                return Err(Error::Refused(format!(
                    "{key} in {source}: server hooks are Python functions and cannot be \
                     set in a TOML config file; use a Python config file (gunicorn.conf.py)"
                )));
            }
            let function = helper
                .call_method1("to_hook", (setting.name, &value))
                .map_err(invalid)?;
            let qualname = helper
                .call_method1("qualname", (&function,))
                .and_then(|q| q.extract::<String>())
                .unwrap_or_else(|_| setting.name.to_string());
            layer.hooks.push(setting.name, qualname, function.unbind());
            continue;
        }
        if setting.name == "logconfig_dict" {
            // A Python dict handed to `logging.config.dictConfig` as it is.
            let dict = helper.call_method1("to_dict", (&value,)).map_err(invalid)?;
            if dict.len().map_err(invalid)? > 0 {
                layer.logconfig_dict = Some(Arc::new(dict.unbind()));
            }
            continue;
        }
        let read = read_value(helper, setting, &value).map_err(invalid)?;
        let Some(read) = read else {
            continue;
        };
        if setting.status == Status::Unsupported {
            // Restating gunicorn's default changes nothing, and example
            // files often do (`spew = False`, `keyfile = None`).
            if is_default(setting, &read) {
                continue;
            }
            return Err(Error::Unsupported {
                flag: format!("{} (in {source})", setting.name),
            });
        }
        let shown = helper
            .call_method1("shown", (&value,))
            .and_then(|s| s.extract::<String>())
            .unwrap_or_default();
        layer.given.settings.push((setting, read));
        layer.shown.push(shown);
    }
    Ok(layer)
}

/// What the value reads as for `setting`: `None` when it means the default
/// (Python's `None` for most settings).
fn read_value(
    helper: &Bound<'_, PyModule>,
    setting: &'static Setting,
    value: &Bound<'_, PyAny>,
) -> PyResult<Option<Value>> {
    let call = |f: &str| helper.call_method1(f, (value,));
    let one = |f: &str| -> PyResult<Option<Value>> {
        let read = call(f)?;
        if read.is_none() {
            Ok(None)
        } else {
            Ok(Some(Value::One(read.extract()?)))
        }
    };
    match (setting.name, setting.kind) {
        ("user" | "group", _) => one("to_id"),
        (_, Kind::OptionalValue { .. }) => one("to_proxy_protocol"),
        (_, Kind::Int | Kind::AutoInt) => one("to_int"),
        (_, Kind::Str) => one("to_str"),
        (_, Kind::List) => Ok(Some(Value::Many(call("to_list")?.extract()?))),
        (_, Kind::Flag) => {
            let read = call("to_bool")?;
            if read.is_none() {
                Ok(None)
            } else {
                Ok(Some(Value::Bool(read.extract()?)))
            }
        }
        (_, Kind::Dict) => {
            let read = call("to_dict")?;
            let DefaultValue::Dict(pairs) = setting.default else {
                return Ok(Some(Value::One(String::new())));
            };
            let default = PyDict::new(value.py());
            for (k, v) in pairs {
                default.set_item(k, v)?;
            }
            // Only "same as the default" matters: no dict setting is implemented.
            if read.eq(&default)? {
                Ok(None)
            } else {
                Ok(Some(Value::One(read.str()?.extract()?)))
            }
        }
        (_, Kind::Hook) => Ok(None),
    }
}

/// Whether `value` is what gunicorn uses when the setting is not given.
fn is_default(setting: &Setting, value: &Value) -> bool {
    match (setting.default, value) {
        (DefaultValue::Bool(b), Value::Bool(v)) => b == *v,
        (DefaultValue::Int(n), Value::One(v)) => pytext::int(v) == Ok(n),
        (DefaultValue::Str(s), Value::One(v)) => s == v,
        (DefaultValue::List(items), Value::Many(v)) => items == v.as_slice(),
        _ => false,
    }
}
