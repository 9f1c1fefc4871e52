//! The `ringattn` command-line tool; see `ringattn --help` and [`ringattn::cli`].

fn main() -> std::process::ExitCode {
    ringattn::cli::main()
}
