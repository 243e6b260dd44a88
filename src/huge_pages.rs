//! Transparent huge pages, turned off for the whole process at start.
//!
//! mimalloc asks the kernel for transparent huge pages on its arenas
//! (`MADV_HUGEPAGE`), so each first touch of 2 MiB of heap clears all of
//! it at once. Where a hypervisor backs guest memory lazily and takes back
//! what the guest frees (free page reporting, as on the Firecracker VM
//! the benchmarks ran on), that first touch is several times dearer in
//! huge pages than in 4 KiB ones: 400 MB of fresh memory took 0.90 s to
//! touch in huge pages and 0.18–0.20 s in small ones there. A replay
//! touches hundreds of megabytes of fresh heap; see ARCHITECTURE.md for
//! what turning them off bought. Databases that care about latency (Redis,
//! for one) recommend the same.

/// Turns transparent huge pages off for this process: every thread, and
/// memory already mapped. A kernel that refuses costs only speed.
pub fn disable() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no
    // memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
