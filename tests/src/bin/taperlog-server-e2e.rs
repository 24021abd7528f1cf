//! `taperlog-server`'s command line, built inside the test crate (see Cargo.toml).

#[global_allocator]
static ALLOCATOR: taperlog_server::ServerAllocator = taperlog_server::ServerAllocator;

fn main() -> std::process::ExitCode {
    taperlog_server::cli::main()
}
