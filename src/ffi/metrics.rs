//! `airisk_metrics`: the engine's metrics in the OpenMetrics text format, written straight
//! into the caller's buffer.

use super::api::{airisk_engine, engine};
use super::boundary::{boundary, out};
use super::status::{AIRISK_ERR_BUFFER, AIRISK_ERR_INTERNAL, Fail, airisk_status};
use crate::metrics::Count;
use std::ffi::c_char;
use std::fmt;

/// A `fmt::Write` into a C buffer of `cap` bytes that keeps the last byte for the NUL and
/// never writes past it; it counts every byte it was given.
struct CBuf {
    buf: *mut u8,
    cap: usize,
    len: usize,
}

impl fmt::Write for CBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end < self.cap {
            // SAFETY: `buf` is valid for `cap` bytes (the constructor's caller guarantees
            // it) and `len + s.len() < cap`, so the copy stays inside it; `s` is
            // Rust-owned, so the ranges do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(s.as_ptr(), self.buf.add(self.len), s.len());
            }
            self.len = end;
            Ok(())
        } else {
            // Stop at once: the text no longer fits (the state grew since the first pass).
            self.len = end;
            Err(fmt::Error)
        }
    }
}

/// Writes the engine's metrics (levels of every system and rule, counters, incidents not
/// closed by severity, overdue reporting duties) in the OpenMetrics 1.0 text format, ending
/// with `# EOF`, into `buf`, NUL-terminated. Serve it as `application/openmetrics-text;
/// version=1.0.0; charset=utf-8`.
///
/// `*out_len` receives the text's length in bytes, without the NUL. If `cap` is at most that
/// length, the call returns `AIRISK_ERR_BUFFER`, writes nothing to `buf` and still sets
/// `*out_len` to the length needed (allocate some more than `*out_len + 1`, since levels
/// and counters may grow, and call again); a size query is `buf = NULL, cap = 0`. Nothing
/// is ever written past `cap`. The text is written twice over: measured first, then
/// written when it fits, without allocating. If the engine's state grew between the two
/// passes beyond `cap` (other threads observing), the call also returns `AIRISK_ERR_BUFFER`
/// with the new length, and `buf` then holds an unterminated prefix within `cap`.
/// Thread-safe. Errors: `AIRISK_ERR_NULL` (`e`, `out_len`, or `buf` with `cap > 0`),
/// `AIRISK_ERR_BUFFER`.
///
/// # Safety
/// `e` must be NULL or a live engine; `buf` NULL or valid for writing `cap` bytes; `out_len`
/// NULL or valid for writing one `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn airisk_metrics(
    e: *const airisk_engine,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> airisk_status {
    boundary("airisk_metrics", || {
        // SAFETY: the caller guarantees each pointer is NULL or valid (see # Safety).
        let (e, out_len) = unsafe { (engine(e)?, out(out_len, "out_len")?) };
        if buf.is_null() && cap > 0 {
            return Err(Fail::null("buf"));
        }
        let too_small = |need: usize| {
            Fail::new(
                AIRISK_ERR_BUFFER,
                format!("the metrics need {need} bytes plus the NUL; `cap` is {cap}"),
            )
        };
        let mut count = Count::default();
        e.engine
            .write_openmetrics(&mut count)
            .map_err(|_| Fail::new(AIRISK_ERR_INTERNAL, "cannot measure the metrics text"))?;
        if count.0 >= cap {
            out_len.write(count.0);
            return Err(too_small(count.0));
        }
        let mut w = CBuf {
            buf: buf.cast::<u8>(),
            cap,
            len: 0,
        };
        if e.engine.write_openmetrics(&mut w).is_err() {
            // It grew past `cap` since it was measured: measure again for the caller.
            let mut count = Count::default();
            let _ = e.engine.write_openmetrics(&mut count);
            let need = count.0.max(w.len);
            out_len.write(need);
            return Err(too_small(need));
        }
        // SAFETY: `w.len < cap` (every write kept that), and `buf` is valid for `cap`
        // bytes and non-NULL (cap > count.0 ≥ 0).
        unsafe { buf.add(w.len).write(0) };
        out_len.write(w.len);
        Ok(())
    })
}
