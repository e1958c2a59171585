"""Run parameters of bench/run: the full run and the --quick smoke check (< 2 minutes)."""

# CPU placement on the 2-core machines this project targets: the server under test on CPU 1, the
# client (load generator, sockperf client, l2pingpong sender) on CPU 0. Never more busy-pollers
# than cores: at most one per side.
SERVER_CPU = 1
CLIENT_CPU = 0

# ix-load polls instead of sleeping (--spin at its maximum: at every offered rate of 100/s and
# more it never sleeps), so the client's own cross-CPU wake-ups (~50 us here) stay out of every
# system's latency alike. That is the client's one busy core; the server has the other.
CLIENT_SPIN = "10ms"

FULL = {
    "name": "full",
    "repeats": 3,
    "syscall_calls": 20000,
    "dune_ops_native": 20000,
    "dune_ops_ixrun": 2000,
    "l2_count": 20000,
    "l2_sizes": [64, 512, 1500],
    "sockperf_seconds": 5,
    "sockperf_sizes": [64, 1024],
    "echo_rates": [1000, 5000, 10000, 20000, 40000, 80000],
    # Up to where ix-kv's p99 may pass 500 us; sweeps stop early at saturation.
    "kv_rates": [1000, 5000, 10000, 20000, 40000, 80000, 120000],
    "sweep_duration": "3s",
    "sweep_warmup": "1s",
    "sweep_repeats": 3,
    "connections": 4,
}

QUICK = {
    "name": "quick",
    "repeats": 3,
    "syscall_calls": 2000,
    "dune_ops_native": 2000,
    "dune_ops_ixrun": 200,
    "l2_count": 2000,
    "l2_sizes": [64],
    "sockperf_seconds": 2,
    "sockperf_sizes": [64],
    "echo_rates": [1000, 5000],
    "kv_rates": [1000, 5000],
    "sweep_duration": "1s",
    "sweep_warmup": "300ms",
    "sweep_repeats": 1,
    "connections": 4,
}
