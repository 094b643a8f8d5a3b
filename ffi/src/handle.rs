//! Opaque handles: each C handle type is tied to the Rust type behind it in one place, and every
//! cast between the two goes through these functions.

use crate::args::{arg_mut, arg_ref};
use crate::status::Failure;

/// An opaque C handle type and the Rust type a pointer to it really points to.
///
/// # Safety
/// A pointer to `Self` handed to C must only ever come from [`into_raw`] with `Inner`.
pub(crate) unsafe trait Handle {
    /// The Rust type behind the handle.
    type Inner;
    /// The name of the handle's argument in messages, such as `client`.
    const NAME: &'static str;
}

/// Hand a new object to C as its opaque handle; C frees it with the type's `_free`.
pub(crate) fn into_raw<H: Handle>(inner: H::Inner) -> *mut H {
    Box::into_raw(Box::new(inner)).cast()
}

/// Take back an object handed out by [`into_raw`], to drop it.
///
/// # Safety
/// `p` is not NULL, came from [`into_raw`] and is taken back once.
pub(crate) unsafe fn from_raw<H: Handle>(p: *mut H) -> Box<H::Inner> {
    // SAFETY: the caller guarantees `p` came from `into_raw::<H>`, which boxed an `H::Inner`.
    unsafe { Box::from_raw(p.cast::<H::Inner>()) }
}

/// Borrow the object behind a required handle argument (NULL is `SCOUTLB_NULL_ARGUMENT`).
///
/// # Safety
/// `p` is NULL or came from [`into_raw`] and was not taken back.
pub(crate) unsafe fn borrow<'a, H: Handle>(p: *const H) -> Result<&'a H::Inner, Failure> {
    // SAFETY: forwarded from the caller; `into_raw` made `p` point to an `H::Inner`.
    unsafe { arg_ref(p.cast::<H::Inner>(), H::NAME) }
}

/// Borrow the object behind a required handle argument mutably.
///
/// # Safety
/// As [`borrow`], and nobody else uses the object meanwhile.
pub(crate) unsafe fn borrow_mut<'a, H: Handle>(p: *mut H) -> Result<&'a mut H::Inner, Failure> {
    // SAFETY: forwarded from the caller; `into_raw` made `p` point to an `H::Inner`.
    unsafe { arg_mut(p.cast::<H::Inner>(), H::NAME) }
}
