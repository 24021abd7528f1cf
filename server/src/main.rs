//! `taperlog-server`: see [`taperlog_server::cli`].

fn main() -> std::process::ExitCode {
    taperlog_server::cli::main()
}
