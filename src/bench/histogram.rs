//! A latency histogram with about 1% resolution and fixed memory: log-linear buckets over
//! microseconds (each power of two split into 128 sub-buckets), so millions of samples cost
//! nothing more than a few.

const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Covers values up to 2^40 µs (about 12 days).
const MAX_EXP: u32 = 40;

#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; ((MAX_EXP + 1) as u64 * SUB) as usize],
            total: 0,
            max: 0,
        }
    }
}

/// Values below `SUB` have a bucket each (group 0); above, group g >= 1 holds the values whose
/// highest bit is bit `SUB_BITS + g - 1`, in `SUB` buckets of width `2^(g-1)`.
fn index(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let shift = 63 - v.leading_zeros() - SUB_BITS;
    let sub = (v >> shift) & (SUB - 1);
    ((shift as u64 + 1) * SUB + sub) as usize
}

/// The highest value that lands in bucket `i`.
fn upper(i: usize) -> u64 {
    let (group, sub) = (i as u64 / SUB, i as u64 % SUB);
    if group == 0 {
        return sub;
    }
    let shift = group - 1;
    ((SUB | sub) << shift) + (1 << shift) - 1
}

impl Histogram {
    pub fn record(&mut self, micros: u64) {
        let i = index(micros).min(self.counts.len() - 1);
        self.counts[i] += 1;
        self.total += 1;
        self.max = self.max.max(micros);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0.0 to 1.0), within about 1%; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::default();
        for v in 0..100 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), 49);
        assert_eq!(h.quantile(1.0), 99);
        assert_eq!(h.count(), 100);
    }

    #[test]
    fn large_values_within_one_percent() {
        for v in [1_000u64, 12_345, 999_999, 50_000_000, 3_000_000_000] {
            let mut h = Histogram::default();
            h.record(v);
            let got = h.quantile(0.5);
            assert!(got >= v && got as f64 <= v as f64 * 1.01, "{v} -> {got}");
        }
    }

    #[test]
    fn buckets_are_monotonic_and_contain_their_values() {
        for v in (0..2_000_000u64).step_by(997) {
            let i = index(v);
            assert!(upper(i) >= v, "{v} above its bucket");
            if i > 0 {
                assert!(upper(i - 1) < v, "{v} belongs lower");
            }
        }
    }

    #[test]
    fn percentiles_of_a_spread() {
        let mut h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record(v * 10);
        }
        let p99 = h.quantile(0.99);
        assert!((99_000..=100_000).contains(&p99), "{p99}");
        assert_eq!(h.max(), 100_000);
        assert_eq!(Histogram::default().quantile(0.99), 0);
    }
}
