//! `taperlog-server`'s command line, built inside the test crate (see Cargo.toml).

fn main() -> std::process::ExitCode {
    taperlog_server::cli::main()
}
