//! `SentenceChunker`: splits a document into overlapping chunks for embedding.
//!
//! Chunks end at sentence boundaries: sentences are packed greedily up to `size`
//! characters, and the next chunk starts with the previous chunk's last sentences
//! (up to `overlap` characters) so a fact spanning a boundary is whole in one
//! chunk. A single sentence longer than `size` is split at word boundaries.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentenceChunker {
    /// Target chunk length in characters.
    pub size: usize,
    /// Characters of trailing context repeated at the start of the next chunk.
    pub overlap: usize,
}

impl Default for SentenceChunker {
    /// ~800 characters is ~150-200 tokens: well inside the embedder's 256-token limit.
    fn default() -> Self {
        SentenceChunker {
            size: 800,
            overlap: 100,
        }
    }
}

/// Sentences of `text`: split after `.`, `!` or `?` followed by whitespace, and at
/// blank lines / line breaks. Whitespace is normalised to single spaces.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for paragraph in text.split(['\n', '\r']) {
        let mut current = String::new();
        let mut chars = paragraph.split_whitespace().peekable();
        while let Some(word) = chars.next() {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
            let ends =
                word.ends_with(['.', '!', '?']) || word.ends_with(".\"") || word.ends_with(".)");
            // "e.g." / "Dr." style abbreviations: a following lower-case word
            // means the sentence goes on.
            let next_lower = chars
                .peek()
                .and_then(|w| w.chars().next())
                .is_some_and(|c| c.is_lowercase());
            if ends && !next_lower {
                out.push(std::mem::take(&mut current));
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
    }
    out
}

impl SentenceChunker {
    pub fn new(size: usize, overlap: usize) -> Self {
        SentenceChunker {
            size: size.max(1),
            overlap: overlap.min(size.saturating_sub(1)),
        }
    }

    /// Breaks an over-long sentence into pieces of at most `size` characters,
    /// at spaces where possible.
    fn pieces(&self, sentence: String) -> Vec<String> {
        if sentence.chars().count() <= self.size {
            return vec![sentence];
        }
        let mut out = Vec::new();
        let mut current = String::new();
        for word in sentence.split(' ') {
            let word_len = word.chars().count();
            if !current.is_empty() && current.chars().count() + 1 + word_len > self.size {
                out.push(std::mem::take(&mut current));
            }
            if word_len > self.size {
                let chars: Vec<char> = word.chars().collect();
                for part in chars.chunks(self.size) {
                    out.push(part.iter().collect());
                }
                continue;
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
        if !current.is_empty() {
            out.push(current);
        }
        out
    }

    /// The chunks of `text`, in order; empty text has none.
    pub fn chunk(&self, text: &str) -> Vec<String> {
        let units: Vec<String> = sentences(text)
            .into_iter()
            .flat_map(|s| self.pieces(s))
            .collect();
        let mut chunks = Vec::new();
        let mut current: Vec<&str> = Vec::new();
        let mut len = 0usize;
        let mut fresh = 0usize; // sentences in `current` not carried over as overlap
        for unit in &units {
            let unit_len = unit.chars().count();
            if fresh > 0 && len + 1 + unit_len > self.size {
                chunks.push(current.join(" "));
                // Carry the tail sentences that fit in the overlap.
                let mut carried: Vec<&str> = Vec::new();
                let mut carried_len = 0usize;
                for s in current.iter().rev() {
                    let l = s.chars().count();
                    let joined = if carried.is_empty() {
                        l
                    } else {
                        carried_len + 1 + l
                    };
                    if joined > self.overlap || joined + 1 + unit_len > self.size {
                        break;
                    }
                    carried.insert(0, s);
                    carried_len = joined;
                }
                current = carried;
                len = carried_len;
                fresh = 0;
            }
            len += unit_len + usize::from(!current.is_empty());
            current.push(unit);
            fresh += 1;
        }
        if fresh > 0 {
            chunks.push(current.join(" "));
        }
        chunks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sentences_and_keeps_abbreviations() {
        let s = sentences("Dr. smith works here. He drives trucks!\nNew line? Yes");
        assert_eq!(
            s,
            vec![
                "Dr. smith works here.",
                "He drives trucks!",
                "New line?",
                "Yes"
            ]
        );
    }

    #[test]
    fn packs_sentences_with_overlap() {
        let text = "One two three. Four five six. Seven eight nine. Ten eleven twelve.";
        let chunks = SentenceChunker::new(32, 16).chunk(text);
        assert_eq!(
            chunks,
            vec![
                "One two three. Four five six.",
                "Four five six. Seven eight nine.",
                "Ten eleven twelve.",
            ]
        );
        for c in &chunks {
            assert!(c.chars().count() <= 32, "{c}");
            assert!(c.ends_with('.'), "chunks end at sentence boundaries: {c}");
        }
    }

    #[test]
    fn long_sentence_is_split_at_words() {
        let text = "word ".repeat(100);
        let chunks = SentenceChunker::new(50, 0).chunk(&text);
        assert!(chunks.len() >= 10);
        assert!(chunks.iter().all(|c| c.chars().count() <= 50));
        assert_eq!(
            SentenceChunker::default().chunk("  \n "),
            Vec::<String>::new()
        );
    }
}
