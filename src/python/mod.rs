//! python (in progress)
