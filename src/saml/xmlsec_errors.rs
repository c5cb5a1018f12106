//! libxmlsec's error messages, routed into tracing at debug level instead of its default callback, which prints
//! every failed check to stderr as a `func=…:error=…` line. The start-up self-test makes one on purpose (a
//! tampered document must fail), and refused signatures are expected input, reported as our own errors.
//!
//! The only unsafe code of the crate: one FFI declaration of `xmlSecErrorsSetCallback` (xmlsec/errors.h, in the
//! libxmlsec1 that samael links) and the callback it installs, which reads C strings only after null checks and
//! never unwinds into C.

#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, CStr};
use std::sync::Once;

type ErrorsCallback = extern "C" fn(
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    error_object: *const c_char,
    error_subject: *const c_char,
    reason: c_int,
    msg: *const c_char,
);

extern "C" {
    fn xmlSecErrorsSetCallback(callback: ErrorsCallback);
}

static INSTALL: Once = Once::new();

/// Installs the callback, once per process. Call it only after xmlsec was initialised (after a first call into
/// samael's xmlsec): `xmlSecOpenSSLInit` installs its own printing callback, over any set before.
pub fn route_into_tracing() {
    // SAFETY: xmlSecErrorsSetCallback stores a function pointer in a global; `log` matches xmlSecErrorsCallback's
    // C signature and is valid for the life of the process. `Once` keeps concurrent calls from racing on it.
    INSTALL.call_once(|| unsafe { xmlSecErrorsSetCallback(log) });
}

extern "C" fn log(
    _file: *const c_char,
    _line: c_int,
    func: *const c_char,
    _error_object: *const c_char,
    error_subject: *const c_char,
    reason: c_int,
    msg: *const c_char,
) {
    let _ = std::panic::catch_unwind(|| {
        tracing::debug!(
            xmlsec.func = %text(func),
            xmlsec.subject = %text(error_subject),
            xmlsec.reason = reason,
            "xmlsec: {}",
            text(msg)
        );
    });
}

fn text(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: xmlsec passes NUL-terminated strings (or null, checked above) that live for the duration of the call.
    unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned()
}
