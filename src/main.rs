//! The `authlog` binary.

fn main() -> std::process::ExitCode {
    authlog::cli::run()
}
