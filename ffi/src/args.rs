//! Checking of the arguments C passes in, and copying text out into caller buffers.

use std::borrow::Cow;
use std::ffi::{CStr, c_char};
use std::ptr;

use crate::status::{Failure, scoutlb_status};

/// A required pointer argument that was NULL.
fn null(name: &str) -> Failure {
    Failure::new(
        scoutlb_status::SCOUTLB_NULL_ARGUMENT,
        format!("argument `{name}` is NULL"),
    )
}

/// Borrow the object behind a required pointer.
///
/// # Safety
/// `p` is NULL or points to a live `T` for `'a`.
pub(crate) unsafe fn arg_ref<'a, T>(p: *const T, name: &str) -> Result<&'a T, Failure> {
    // SAFETY: the caller guarantees `p` is NULL or valid.
    unsafe { p.as_ref() }.ok_or_else(|| null(name))
}

/// Borrow the object behind a required pointer, mutably.
///
/// # Safety
/// `p` is NULL or points to a live `T` for `'a`, used by nobody else meanwhile.
pub(crate) unsafe fn arg_mut<'a, T>(p: *mut T, name: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller guarantees `p` is NULL or valid and exclusive.
    unsafe { p.as_mut() }.ok_or_else(|| null(name))
}

/// Check that a required out-pointer is not NULL; it is written only at the end of a successful call.
pub(crate) fn arg_out<T>(p: *mut T, name: &str) -> Result<*mut T, Failure> {
    if p.is_null() { Err(null(name)) } else { Ok(p) }
}

/// Read a required NUL-terminated UTF-8 string.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that lives for `'a`.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err(null(name));
    }
    // SAFETY: not NULL, and the caller guarantees the string is NUL-terminated.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            scoutlb_status::SCOUTLB_INVALID_UTF8,
            format!("argument `{name}` is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })
}

/// Read an optional NUL-terminated UTF-8 string: NULL gives `None`.
///
/// # Safety
/// As [`arg_str`].
pub(crate) unsafe fn arg_opt_str<'a>(p: *const c_char, name: &str) -> Result<Option<&'a str>, Failure> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded from the caller.
        unsafe { arg_str(p, name) }.map(Some)
    }
}

/// Borrow a byte buffer and its length; `(NULL, 0)` is the empty slice.
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes that live for `'a`.
pub(crate) unsafe fn arg_bytes<'a>(p: *const u8, len: usize, name: &str) -> Result<&'a [u8], Failure> {
    if p.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(null(name)) };
    }
    // SAFETY: not NULL, and the caller guarantees `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A caller-owned text buffer: `buf` of `len` bytes and `out_len`, which receives the size of the
/// text including its terminating NUL (also when the buffer is too small).
pub(crate) struct TextOut {
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
}

impl TextOut {
    /// Check the pointers: `out_len` is required, `buf` may be NULL only when `len` is 0.
    ///
    /// # Safety
    /// `buf` is NULL or points to `len` writable bytes; `out_len` is NULL or valid.
    pub unsafe fn new(buf: *mut c_char, len: usize, out_len: *mut usize) -> Result<Self, Failure> {
        let out_len = arg_out(out_len, "out_len")?;
        if buf.is_null() && len != 0 {
            return Err(null("buf"));
        }
        Ok(TextOut { buf, len, out_len })
    }

    /// Copy `text` (any NUL in it shown as `␀`) and a NUL into the buffer, or fail with `SCOUTLB_BUFFER_TOO_SMALL`; either way
    /// `*out_len` receives the size needed.
    ///
    /// # Safety
    /// The pointers given to [`TextOut::new`] are still valid.
    pub unsafe fn write(self, text: &str) -> Result<(), Failure> {
        // A NUL inside would cut the text short in C: show it as U+2400 (␀) instead.
        let text: Cow<'_, str> = if text.contains('\0') {
            Cow::Owned(text.replace('\0', "\u{2400}"))
        } else {
            Cow::Borrowed(text)
        };
        let needed = text.len() + 1;
        // SAFETY: `out_len` was checked not NULL; the caller guarantees it is valid.
        unsafe { self.out_len.write(needed) };
        if needed > self.len {
            return Err(Failure::new(
                scoutlb_status::SCOUTLB_BUFFER_TOO_SMALL,
                format!("buffer of {} bytes is too small: {needed} bytes needed", self.len),
            ));
        }
        // SAFETY: `buf` holds `len >= needed` bytes and does not overlap `text`, a Rust allocation.
        unsafe {
            ptr::copy_nonoverlapping(text.as_ptr(), self.buf.cast::<u8>(), text.len());
            self.buf.add(text.len()).write(0);
        }
        Ok(())
    }
}

/// Copy `text` and a NUL into a fixed array, which must hold it.
pub(crate) fn copy_into_array(text: &str, array: &mut [c_char]) -> Result<(), Failure> {
    if text.len() >= array.len() {
        return Err(Failure::new(
            scoutlb_status::SCOUTLB_OTHER,
            format!("`{text}` is longer than the {} bytes reserved for it", array.len() - 1),
        ));
    }
    for (dst, src) in array.iter_mut().zip(text.bytes()) {
        *dst = src as c_char;
    }
    array[text.len()] = 0;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_out_keeps_text_after_an_interior_nul() {
        let mut buf = [1 as c_char; 16];
        let mut len = 0usize;
        // SAFETY: a 16-byte buffer and a valid `out_len`.
        unsafe {
            TextOut::new(buf.as_mut_ptr(), buf.len(), &mut len)
                .unwrap()
                .write("a\0b")
                .unwrap()
        };
        // SAFETY: the buffer is NUL-terminated by `write`.
        let written = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
        assert_eq!(written, "a\u{2400}b");
        assert_eq!(len, written.len() + 1);
    }
}
