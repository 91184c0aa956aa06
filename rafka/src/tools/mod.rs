//! Command-line tools built into the `rafka` binary, selected by the first argument
//! (`rafka dump-log …`), like Kafka's `bin/kafka-*.sh` tools.

pub mod dump_log;
pub mod log_bench;
pub mod perf;

use std::ffi::OsString;
use std::process::ExitCode;

/// Tool names and one-line descriptions, for `rafka --help`.
pub const TOOLS_HELP: &str = "Tools:
  rafka dump-log [OPTIONS] FILE...
          Dump .log/.index/.timeindex/.txnindex/.snapshot files like kafka-dump-log.sh
          (see rafka dump-log --help)
  rafka bench-log [OPTIONS]
          Benchmark the partition log: append/read MB/s vs a raw write, recovery time
          (see rafka bench-log --help)
  rafka perf produce|consume [OPTIONS]
          Client throughput and latency against a broker (or librdkafka's mock cluster),
          like kafka-producer-perf-test / kafka-consumer-perf-test (see rafka perf --help)";

/// Runs the tool named by `args[1]` if there is one; `None` means "start the broker".
pub fn run_tool(args: &[OsString]) -> Option<ExitCode> {
    match args.get(1).and_then(|a| a.to_str()) {
        Some("dump-log") => Some(dump_log::main(args[2..].iter().cloned())),
        Some("bench-log") => Some(log_bench::main(args[2..].iter().cloned())),
        Some("perf") => Some(perf::main(args[2..].iter().cloned())),
        _ => None,
    }
}
