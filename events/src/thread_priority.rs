//! Background work that must yield the CPU to requests: the indexer
//! thread and the password-hashing threads run nicer than the threads that
//! answer requests and append.

/// Makes the calling thread `steps` nicer than it is (at most 19). On
/// Linux a nice value belongs to a thread, so the other threads keep
/// theirs; elsewhere this does nothing. `what` names the thread in the
/// debug line logged if it fails (failure only costs fairness).
pub fn lower_calling_thread(steps: i32, what: &str) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: both calls take plain integers and touch no memory of
        // ours; `who` 0 is the calling thread. The raw getpriority system
        // call returns 20 - nice (1..=40), so no result is ambiguous.
        let result = unsafe {
            let current = libc::syscall(libc::SYS_getpriority, libc::PRIO_PROCESS, 0);
            if current < 0 {
                -1
            } else {
                let nice = (20 - current as i32 + steps).min(19);
                libc::setpriority(libc::PRIO_PROCESS, 0, nice)
            }
        };
        if result != 0 {
            let error = std::io::Error::last_os_error();
            tracing::debug!(%error, thread = what, "could not lower a thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (steps, what);
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn nice() -> i64 {
        // SAFETY: plain integers, the calling thread.
        20 - unsafe { libc::syscall(libc::SYS_getpriority, libc::PRIO_PROCESS, 0) }
    }

    #[test]
    fn only_the_calling_thread_gets_nicer() {
        let before = nice();
        let inside = std::thread::spawn(|| {
            let start = nice();
            lower_calling_thread(3, "test");
            nice() - start
        })
        .join()
        .unwrap();
        assert_eq!(inside, 3.min(19 - before));
        assert_eq!(nice(), before);
    }
}
