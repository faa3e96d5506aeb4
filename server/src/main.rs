// mimalloc gives memory back after load where glibc's malloc kept its
// arenas cut up (measured A/B with bench/run; docs/BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc.h's `mi_option_purge_delay` (the 16th option, in its v2 and
/// v3 alike; the binding crate names no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // Freed pages go back to the system at once, not 10 ms later: a
    // delayed purge runs only when the thread that freed them allocates
    // again, and a server gone quiet after a burst (8,000 sessions closed)
    // kept 1.6-5.7 GB where purging at once keeps 100 MB; LMTP under load
    // measured the same either way. `MIMALLOC_PURGE_DELAY` still decides.
    // Safety: called before any other thread exists, as mimalloc asks.
    unsafe { libmimalloc_sys::mi_option_set_default(MI_OPTION_PURGE_DELAY, 0) };
    // No transparent huge pages for this process: mimalloc asks for them
    // on its arenas, and the kernel then fills in sparse 2 MB regions of a
    // server gone quiet. 5,000 IMAP sessions closed: 75 MB rising to
    // 100 MB within 20 s at rest with them, 50 MB and steady without (and
    // 22 MB fresh, against 38). Where the kernel refuses, nothing else
    // changes.
    let _ = nix::sys::prctl::set_thp_disable(true);
    mailroom::cli::main(collect_freed)
}

/// A worker thread gone idle hands the blocks other threads freed for
/// it back to its pages, and empty pages to the system: mimalloc does
/// that only when the thread allocates again, so a server gone quiet
/// after 18,000 sessions kept their pages.
fn collect_freed() {
    // Safety: mi_collect only touches the calling thread's own heap and
    // the process's abandoned segments, with mimalloc's own locking.
    unsafe { libmimalloc_sys::mi_collect(true) };
}
