//! The lines a layer above the socket (the web's, IRC's) made for the framer, `\n`-ended, handed
//! over as the framer asks for them: written once by the layer, read once by the framer.

#[derive(Debug, Default)]
pub struct Lines {
    buf: Vec<u8>,
    /// What the framer took of `buf` so far.
    taken: usize,
}

impl Lines {
    /// Where the layer writes its lines; what the framer took is let go of first.
    pub fn to_fill(&mut self) -> &mut Vec<u8> {
        if self.taken == self.buf.len() {
            self.buf.clear();
            self.taken = 0;
        }
        &mut self.buf
    }

    /// Appends `line` and its `\n`.
    pub fn push(&mut self, line: &[u8]) {
        let buf = self.to_fill();
        buf.extend_from_slice(line);
        buf.push(b'\n');
    }

    /// The framer has taken every line.
    pub fn all_taken(&self) -> bool {
        self.taken == self.buf.len()
    }

    /// Hands the framer lines, as many bytes as fit in `buf`.
    pub fn give(&mut self, buf: &mut [u8]) -> usize {
        let left = &self.buf[self.taken..];
        let n = left.len().min(buf.len());
        buf[..n].copy_from_slice(&left[..n]);
        self.taken += n;
        self.let_go_if_taken();
        n
    }

    /// All taken: the buffer is let go of (an idle connection holds none).
    fn let_go_if_taken(&mut self) {
        if self.taken == self.buf.len() {
            self.buf = Vec::new();
            self.taken = 0;
        }
    }

    /// Hands the framer every line.
    pub fn give_all(&mut self, plain: &mut Vec<u8>) {
        plain.extend_from_slice(&self.buf[self.taken..]);
        self.taken = self.buf.len();
        self.let_go_if_taken();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_given_once_whatever_the_framers_buffer() {
        let mut lines = Lines::default();
        lines.push(b"one");
        lines.to_fill().extend_from_slice(b"two\n");
        let mut small = [0u8; 5];
        assert_eq!(lines.give(&mut small), 5);
        assert_eq!(&small, b"one\nt");
        let mut rest = Vec::new();
        lines.give_all(&mut rest);
        assert_eq!(rest, b"wo\n");
        assert!(lines.all_taken());
        lines.push(b"three");
        assert_eq!(lines.to_fill(), b"three\n", "what was taken is let go of");
    }
}
