//! The panic boundary and the pointer / string helpers every export goes through.

use super::status::{
    AIRISK_ERR_BUFFER, AIRISK_ERR_INVALID_ARGUMENT, AIRISK_ERR_PANIC, AIRISK_ERR_UTF8, AIRISK_OK,
    Detail, Fail, airisk_status, set_last_error,
};
use std::any::Any;
use std::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

/// Runs the body of the export `func`: `Ok` becomes `AIRISK_OK`; an error becomes its
/// status and is recorded as this thread's last error; a panic becomes `AIRISK_ERR_PANIC`.
#[inline]
pub(crate) fn boundary(
    func: &'static str,
    body: impl FnOnce() -> Result<(), Fail>,
) -> airisk_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => AIRISK_OK,
        Ok(Err(fail)) => {
            set_last_error(func, fail.detail);
            fail.status
        }
        Err(payload) => {
            set_last_error(func, Detail::Msg(panic_message(&*payload).into()));
            // Dropping a payload can itself panic (a payload type with a panicking Drop);
            // never let that cross the boundary.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            AIRISK_ERR_PANIC
        }
    }
}

/// Runs the body of an export that returns a value, not a status: a panic gives `default`.
#[inline]
pub(crate) fn boundary_value<T>(default: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(payload) => {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            default
        }
    }
}

/// The message of a caught panic, for `airisk_last_error`.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    let msg = if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.as_str()
    } else {
        "(non-string payload)"
    };
    format!("internal panic caught at the C boundary: {msg}")
}

/// A checked, non-NULL, aligned out-pointer. Writing through it is safe because its
/// constructor ([`out`]) is `unsafe` and requires the pointer to be valid for writes.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// Writes `v` (the previous contents are not dropped: out-pointers hold plain C data).
    #[inline]
    pub(crate) fn write(self, v: T) {
        // SAFETY: `out`'s caller guaranteed the pointer is valid for writes of a `T`; it is
        // non-NULL and aligned (checked in `out`).
        unsafe { self.0.as_ptr().write(v) }
    }
}

/// Checks an out-pointer: NULL → `AIRISK_ERR_NULL`, misaligned →
/// `AIRISK_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// If non-NULL, `p` must be valid for writes of one `T` for as long as the `Out` is used.
#[inline]
pub(crate) unsafe fn out<T>(p: *mut T, name: &'static str) -> Result<Out<T>, Fail> {
    let p = NonNull::new(p).ok_or_else(|| Fail::null(name))?;
    if !p.is_aligned() {
        return Err(misaligned(name));
    }
    Ok(Out(p))
}

/// `AIRISK_ERR_INVALID_ARGUMENT` for a misaligned pointer parameter.
fn misaligned(name: &'static str) -> Fail {
    Fail::new(
        AIRISK_ERR_INVALID_ARGUMENT,
        format!("`{name}` is not suitably aligned"),
    )
}

/// Checks a pointer to a read-only input: NULL → `AIRISK_ERR_NULL`.
///
/// # Safety
/// If non-NULL, `p` must point to a live, initialised `T` for the lifetime `'a`, not
/// mutated meanwhile except through interior mutability.
#[inline]
pub(crate) unsafe fn reference<'a, T>(p: *const T, name: &'static str) -> Result<&'a T, Fail> {
    if p.is_null() {
        return Err(Fail::null(name));
    }
    if !p.is_aligned() {
        return Err(misaligned(name));
    }
    // SAFETY: non-NULL and aligned (checked above); the caller guarantees it points to a
    // live `T` for `'a`.
    Ok(unsafe { &*p })
}

/// Checks `(ptr, len)` as a slice of `T`: NULL → `AIRISK_ERR_NULL` unless `len` is 0 and
/// `allow_null_if_empty`; a byte length above `isize::MAX` → `AIRISK_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// If non-NULL, `ptr` must point to `len` initialised `T`s that stay alive and unmodified
/// for `'a`.
#[inline]
pub(crate) unsafe fn slice<'a, T>(
    ptr: *const T,
    len: usize,
    name: &'static str,
    allow_null_if_empty: bool,
) -> Result<&'a [T], Fail> {
    if ptr.is_null() {
        return if len == 0 && allow_null_if_empty {
            Ok(&[])
        } else {
            Err(Fail::null(name))
        };
    }
    if !ptr.is_aligned() {
        return Err(misaligned(name));
    }
    if len
        .checked_mul(std::mem::size_of::<T>())
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(Fail::new(
            AIRISK_ERR_INVALID_ARGUMENT,
            format!("length of `{name}` ({len}) is too large"),
        ));
    }
    // SAFETY: non-NULL, aligned, total size ≤ isize::MAX (checked above); the caller
    // guarantees `len` initialised elements live for `'a`.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Checks `(ptr, len)` as a UTF-8 string (no NUL terminator needed; NUL bytes inside are
/// ordinary characters). NULL → `AIRISK_ERR_NULL` (also when `len` is 0); invalid UTF-8 →
/// `AIRISK_ERR_UTF8` naming the offset of the first bad byte.
///
/// # Safety
/// As [`slice`] with `T = c_char`.
#[inline]
pub(crate) unsafe fn str_arg<'a>(
    ptr: *const c_char,
    len: usize,
    name: &'static str,
) -> Result<&'a str, Fail> {
    // SAFETY: forwarded from this function's contract.
    let bytes: &[c_char] = unsafe { slice(ptr, len, name, false) }?;
    // SAFETY: `c_char` is `i8` or `u8`; both have the size and alignment of `u8`, and every
    // bit pattern is a valid `u8`.
    let bytes: &[u8] = unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast(), bytes.len()) };
    std::str::from_utf8(bytes).map_err(|e| {
        Fail::new(
            AIRISK_ERR_UTF8,
            format!(
                "`{name}` is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// Hands a whole text to C: with room for it and its NUL, copies it into `(buf, cap)` and
/// writes its length to `out_len`; without, writes only the length it needs and fails with
/// `AIRISK_ERR_BUFFER` ("`what` needs N bytes plus the NUL"), leaving `buf` untouched.
///
/// # Safety
/// If `cap > 0`, `buf` must be non-NULL (the caller checks it first) and valid for writes of
/// `cap` bytes.
pub(crate) unsafe fn write_text(
    text: &str,
    what: &str,
    buf: *mut c_char,
    cap: usize,
    out_len: Out<usize>,
) -> Result<(), Fail> {
    if cap <= text.len() {
        out_len.write(text.len());
        return Err(Fail::new(
            AIRISK_ERR_BUFFER,
            format!(
                "{what} needs {} bytes plus the NUL; `cap` is {cap}",
                text.len()
            ),
        ));
    }
    // SAFETY: `cap > text.len() ≥ 0`, so `buf` is non-NULL and valid for `cap` bytes (this
    // function's contract), and the whole text and its NUL fit.
    unsafe { copy_truncated(text, buf, cap) };
    out_len.write(text.len());
    Ok(())
}

/// Copies `text` into `(buf, cap)` NUL-terminated, truncated to `cap - 1` bytes at a UTF-8
/// character boundary; writes nothing when `buf` is NULL or `cap` is 0.
///
/// # Safety
/// If non-NULL, `buf` must be valid for writes of `cap` bytes.
pub(crate) unsafe fn copy_truncated(text: &str, buf: *mut c_char, cap: usize) {
    if buf.is_null() || cap == 0 {
        return;
    }
    let mut n = text.len().min(cap - 1);
    while !text.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: `buf` is valid for `cap` bytes and `n + 1 ≤ cap`; `text` does not overlap a
    // caller buffer (it is owned by Rust).
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
        buf.add(n).write(0);
    }
}
