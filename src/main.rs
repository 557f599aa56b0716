// mimalloc serves the gateway's many small, short-lived allocations (request bodies, decoded
// messages, statement arguments) with less time in the allocator than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    wijkbrug::cli::main()
}
