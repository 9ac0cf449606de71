//! Order statistics the benchmark programs print.

use std::time::Duration;

/// The `p` quantile (0..=1) of `sorted` latencies, nearest rank; zero if
/// there are none.
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The median of `v` (the mean of the two middle values when `v` has an
/// even length); NaN sorts last.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_pct() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        let ms = |n| Duration::from_millis(n);
        let sorted: Vec<Duration> = (1..=101).map(ms).collect();
        assert_eq!((pct(&sorted, 0.5), pct(&sorted, 0.99), pct(&sorted, 1.0)), (ms(51), ms(100), ms(101)));
        assert_eq!(pct(&[], 0.5), Duration::ZERO);
    }
}
