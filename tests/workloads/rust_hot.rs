// A Rust workload for the symbolizer: main → spin → hot_loop, for SECONDS.
use std::time::{Duration, Instant};

#[inline(never)]
fn hot_loop(n: u64, seed: u64) -> u64 {
    let mut x = seed;
    for _ in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    }
    x
}

#[inline(never)]
fn spin(end: Instant) -> u64 {
    let mut x = 1;
    while Instant::now() < end {
        x = hot_loop(std::hint::black_box(1 << 20), x);
    }
    x
}

fn main() {
    let seconds: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let x = spin(Instant::now() + Duration::from_secs_f64(seconds));
    std::process::exit((x & 1) as i32 * 0);
}
