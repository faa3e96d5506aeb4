// mimalloc gives memory back after load where glibc's malloc kept its
// arenas cut up (measured A/B with bench/run; docs/BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    mailroom::cli::main()
}
