//! The allocator: mimalloc, told to give freed memory back to the system
//! after [`PURGE_DELAY_MS`] instead of its default second.
//!
//! mimalloc instead of the system allocator: the pipeline allocates and frees
//! small objects across threads for every event, and glibc's malloc spent
//! about a fifth of the sidecar's CPU on that (arena locks, consolidation).
//! With mimalloc the 100k blast moves 20–30 % more events per second for
//! about 1 MB more RSS (docs/performance.md, "Allocator"). Transparent huge
//! pages are off (the `no_thp` feature): with them an idle sidecar held
//! 26 MB instead of 15.

use std::ffi::CString;
use std::os::unix::ffi::OsStringExt;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The variable mimalloc reads its purge delay from, once, as the process
/// loads.
const PURGE_DELAY_ENV: &str = "MIMALLOC_PURGE_DELAY";
/// Milliseconds a freed page stays mapped. mimalloc's default (1,000 ms) let
/// a blast's peak RSS wander between 37 and 46 MB from run to run, memory
/// freed and not yet returned; at 10 ms it stays at 32–36 MB with the same
/// throughput, for about 0.3 MB more at idle (docs/performance.md, "Freed
/// memory goes back within 10 ms").
const PURGE_DELAY_MS: &str = "10";

/// Re-executes this process (same pid, arguments and environment) with
/// [`PURGE_DELAY_ENV`] set, unless it is set already, by us or by the user,
/// whose value wins. The option can only be given to mimalloc before the
/// process loads, and setting it from code needs `unsafe`, which this
/// workspace forbids. Returns when it does not re-execute, also when the
/// exec fails: the sidecar then runs with mimalloc's default.
pub(crate) fn reexec_with_purge_delay() {
    if std::env::var_os(PURGE_DELAY_ENV).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let c_string = |s: std::ffi::OsString| CString::new(s.into_vec()).ok();
    let setting = format!("{PURGE_DELAY_ENV}={PURGE_DELAY_MS}");
    let (Some(exe), Some(args), Some(env)) = (
        c_string(exe.into_os_string()),
        std::env::args_os()
            .map(c_string)
            .collect::<Option<Vec<_>>>(),
        std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k;
                kv.push("=");
                kv.push(v);
                c_string(kv)
            })
            .chain([CString::new(setting).ok()])
            .collect::<Option<Vec<_>>>(),
    ) else {
        return;
    };
    // Only returns on failure.
    let _ = nix::unistd::execve(&exe, &args, &env);
}
