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

// __auditor_replay runs a script of allocator calls inside the module, so the speed probe
// can time the allocator without a host call per action (a wasmtime-py call costs ~20 us,
// an allocation ~0.05 us). It calls `alloc`/`dealloc`/`realloc` directly, NOT the
// infallible wrappers above: a null stops the replay instead of aborting.
// - `script`: `actions` records of 4 words [op, slot, size, align]; op 0 = alloc
//   (size, align) into `slot`, 1 = free `slot`, 2 = realloc `slot` to `size` (its
//   alignment unchanged), 3 = nothing (calibration: the fuel of a replay of op-3 records
//   is the loop's own cost, which the speed probe subtracts). Sizes are >= 1.
// - Every record is read with volatile loads, so each op pays the same decoding cost.
// - `slots`: 3 words per slot [ptr, size, align], written by alloc/realloc and read by
//   free/realloc; the caller owns both buffers and never frees a slot twice.
// - Returns `actions` when every call succeeded, else the index of the first action whose
//   call returned null or whose layout is invalid (nothing after it ran).

#[no_mangle]
pub unsafe extern "C" fn __auditor_replay(script: *const usize, actions: usize, slots: *mut usize) -> usize {
    let mut i = 0;
    while i < actions {
        let a = script.add(i * 4);
        let op = std::ptr::read_volatile(a);
        let s = slots.add(std::ptr::read_volatile(a.add(1)) * 3);
        let size = std::ptr::read_volatile(a.add(2));
        let align = std::ptr::read_volatile(a.add(3));
        if op == 1 {
            dealloc(*s as *mut u8, Layout::from_size_align_unchecked(*s.add(1), *s.add(2)));
        } else if op != 3 {
            let (p, align) = if op == 0 {
                match Layout::from_size_align(size, align) {
                    Ok(l) => (alloc(l), align),
                    Err(_) => return i,
                }
            } else {
                let align = *s.add(2);
                if Layout::from_size_align(size, align).is_err() {
                    return i;
                }
                (realloc(*s as *mut u8, Layout::from_size_align_unchecked(*s.add(1), align), size), align)
            };
            if p.is_null() {
                return i;
            }
            *s = p as usize;
            *s.add(1) = size;
            *s.add(2) = align;
        }
        i += 1;
    }
    actions
}
