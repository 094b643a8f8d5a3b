//! C ABI for scoutlb.
