fn main() -> std::process::ExitCode {
    wijkbrug::cli::main()
}
