//! Logging to the operator (host capability `volley:scenario/log`). Messages are shown
//! with the scenario's name; the host may rate-limit them.

use crate::bindings::volley::scenario::log::{Level, log};

pub fn debug(message: &str) {
    log(Level::Debug, message);
}
pub fn info(message: &str) {
    log(Level::Info, message);
}
pub fn warn(message: &str) {
    log(Level::Warn, message);
}
pub fn error(message: &str) {
    log(Level::Error, message);
}
