//! `taperlog-server`: see [`taperlog_server::cli`].

#[global_allocator]
static ALLOCATOR: taperlog_server::ServerAllocator = taperlog_server::ServerAllocator;

fn main() -> std::process::ExitCode {
    taperlog_server::cli::main()
}
