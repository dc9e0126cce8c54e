//! wsgi (in progress)
