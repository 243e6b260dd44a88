//! The `authlog` binary.

// mimalloc: far cheaper than glibc malloc when one thread frees what
// another allocated (replay's decoders and folds, actix workers, the writer).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    authlog::huge_pages::disable();
    authlog::cli::run()
}
