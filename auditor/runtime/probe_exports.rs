// Probe exports that `auditor scan` adds to every shadow build, so `auditor run` can
// drive the linked global allocator exactly as the crate's own code does.
// Copy this file verbatim into the shadow crate and `mod` it from the crate root
// (it needs nothing but `std`; `#![no_std]` crates with `alloc` can swap `std::` for
// `alloc::`). Documented in the README ("auditor run"); the harness relies on exactly
// these semantics.
//
// - __auditor_alloc / __auditor_realloc are INFALLIBLE like Box, Vec and String: a null
//   from the allocator goes to `handle_alloc_error`, i.e. the crate's real OOM path
//   (abort -> `unreachable` trap on wasm32).
// - __auditor_try_reserve is the FALLIBLE path (`Vec::try_reserve_exact`): 0 on Err,
//   otherwise a non-null pointer to n bytes (align 1) that the caller owns and frees
//   with __auditor_dealloc(ptr, n, 1).
// - A bad layout (align not a power of two, size overflow) returns 0 and never traps.
// - Size 0 allocates nothing and returns `align` (a dangling, aligned pointer), like Vec.

#[allow(unused_imports)]
use std::alloc::{alloc, dealloc, handle_alloc_error, realloc, Layout};

#[no_mangle]
pub unsafe extern "C" fn __auditor_alloc(size: usize, align: usize) -> *mut u8 {
    let layout = match Layout::from_size_align(size, align) {
        Ok(l) => l,
        Err(_) => return std::ptr::null_mut(),
    };
    if size == 0 {
        return align as *mut u8;
    }
    let p = alloc(layout);
    if p.is_null() {
        handle_alloc_error(layout);
    }
    p
}

#[no_mangle]
pub unsafe extern "C" fn __auditor_dealloc(ptr: *mut u8, size: usize, align: usize) {
    if ptr.is_null() || size == 0 {
        return;
    }
    if let Ok(layout) = Layout::from_size_align(size, align) {
        dealloc(ptr, layout);
    }
}

#[no_mangle]
pub unsafe extern "C" fn __auditor_realloc(ptr: *mut u8, old: usize, align: usize, new: usize) -> *mut u8 {
    if ptr.is_null() || old == 0 {
        return __auditor_alloc(new, align);
    }
    let layout = match Layout::from_size_align(old, align) {
        Ok(l) => l,
        Err(_) => return std::ptr::null_mut(),
    };
    if new == 0 {
        dealloc(ptr, layout);
        return align as *mut u8;
    }
    let new_layout = match Layout::from_size_align(new, align) {
        Ok(l) => l,
        Err(_) => return std::ptr::null_mut(),
    };
    let p = realloc(ptr, layout, new);
    if p.is_null() {
        handle_alloc_error(new_layout);
    }
    p
}

#[no_mangle]
pub extern "C" fn __auditor_try_reserve(n: usize) -> *mut u8 {
    let mut v: Vec<u8> = Vec::new();
    match v.try_reserve_exact(n) {
        Ok(()) => {
            let mut v = std::mem::ManuallyDrop::new(v);
            v.as_mut_ptr()
        }
        Err(_) => std::ptr::null_mut(),
    }
}
