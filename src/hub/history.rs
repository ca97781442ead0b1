//! A room's last lines, in the order they were said, whichever node said them and whenever its
//! news arrived: each line keeps its server time, its node and its number there, so that lines
//! that come late (said on the other side of a broker outage, or read from the cluster's
//! stream) take their place by time, and a line that comes twice is kept once.

use std::collections::VecDeque;
use std::sync::Arc;

use super::Line;

/// One line of a history.
#[derive(Debug, Clone)]
pub struct Said {
    /// When it was said, in microseconds of Unix time, by its node's clock.
    pub at: u64,
    /// The node that said it ("" on a single node) and its number there: together, its id.
    pub node: Arc<str>,
    pub seq: u64,
    pub line: Line,
}

impl Said {
    fn key(&self) -> (u64, &str, u64) {
        (self.at, &self.node, self.seq)
    }
}

/// A room's last lines, oldest first.
#[derive(Debug, Default)]
pub struct History(VecDeque<Said>);

impl History {
    /// Adds `said` in its place by time, keeping at most `cap` lines (the newest); a line
    /// already kept (same node and number) is not added again. A line said last, the common
    /// case, costs one comparison. Returns whether the line is new here (`false`: it was kept
    /// already); a new line older than all `cap` kept is new, and not kept.
    pub fn add(&mut self, said: Said, cap: usize) -> bool {
        if cap == 0 {
            self.0.clear();
            return true;
        }
        if self.0.back().is_none_or(|last| last.key() < said.key()) {
            // Said after everything kept (every line said here): at the end.
            self.0.push_back(said);
            self.keep(cap);
            return true;
        }
        let mut pos = self.0.len();
        for (i, kept) in self.0.iter().enumerate().rev() {
            if kept.at < said.at {
                break;
            }
            if kept.seq == said.seq && kept.node == said.node {
                return false;
            }
            if kept.key() > said.key() {
                pos = i;
            }
        }
        if pos == 0 && self.0.len() >= cap {
            self.keep(cap);
            return true; // older than every line kept
        }
        self.0.insert(pos, said);
        self.keep(cap);
        true
    }

    /// Keeps only the newest `cap` lines (a reload may have lowered the cap).
    pub fn keep(&mut self, cap: usize) {
        if self.0.len() > cap {
            self.0.drain(..self.0.len() - cap);
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The lines, oldest first.
    pub fn lines(&self) -> impl Iterator<Item = &Line> {
        self.0.iter().map(|s| &s.line)
    }

    /// The lines with their times and ids, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &Said> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(at: u64, node: &str, seq: u64) -> Said {
        Said {
            at,
            node: node.into(),
            seq,
            line: Line::from(format!("{node}{seq}\n").as_bytes()),
        }
    }

    fn texts(h: &History) -> Vec<String> {
        h.lines()
            .map(|l| String::from_utf8_lossy(l).trim_end().to_string())
            .collect()
    }

    #[test]
    fn lines_take_their_place_by_time_once_each() {
        let mut h = History::default();
        h.add(said(10, "a", 1), 5);
        h.add(said(30, "a", 2), 5);
        // Said between the two on another node, heard of late.
        assert!(h.add(said(20, "b", 1), 5));
        assert!(!h.add(said(20, "b", 1), 5), "kept already");
        h.add(said(40, "b", 2), 5);
        assert!(!h.add(said(40, "b", 2), 5), "the last, kept already");
        assert_eq!(texts(&h), ["a1", "b1", "a2", "b2"]);
    }

    #[test]
    fn the_newest_are_kept() {
        let mut h = History::default();
        for seq in 0..5 {
            h.add(said(seq * 10, "a", seq), 3);
        }
        assert_eq!(texts(&h), ["a2", "a3", "a4"]);
        // Older than all kept: new (a live line from a node whose clock is behind), not kept.
        assert!(h.add(said(5, "b", 1), 3));
        assert_eq!(texts(&h), ["a2", "a3", "a4"]);
        // Between: taken, the oldest goes.
        h.add(said(25, "b", 2), 3);
        assert_eq!(texts(&h), ["b2", "a3", "a4"]);
        let mut none = History::default();
        none.add(said(1, "a", 1), 0);
        assert_eq!(none.len(), 0);
    }

    #[test]
    fn a_lowered_cap_drops_the_oldest_at_once() {
        let mut h = History::default();
        for seq in 0..5 {
            h.add(said(seq * 10, "a", seq), 5);
        }
        // The next line under a cap of 2 leaves 2, not 5 (one dropped per line).
        h.add(said(50, "a", 5), 2);
        assert_eq!(texts(&h), ["a4", "a5"]);
        // A late line under the lower cap, too.
        h.add(said(45, "b", 1), 1);
        assert_eq!(texts(&h), ["a5"]);
        h.add(said(60, "a", 6), 0);
        assert_eq!(h.len(), 0, "a cap of 0 keeps nothing");
        for seq in 0..4 {
            h.add(said(100 + seq, "a", 10 + seq), 4);
        }
        h.keep(1);
        assert_eq!(texts(&h), ["a13"]);
    }

    #[test]
    fn equal_times_are_ordered_by_node_and_number() {
        let mut h = History::default();
        h.add(said(10, "b", 1), 5);
        h.add(said(10, "a", 7), 5);
        h.add(said(10, "a", 3), 5);
        assert_eq!(texts(&h), ["a3", "a7", "b1"]);
    }
}
